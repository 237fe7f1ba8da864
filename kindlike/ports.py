"""Host ports published on a running cluster (`kindlike expose`).

An engine cannot add a port to a running container, so each mapping is a
small container of its own: the helper image's socat, on the cluster
network, listening on the mapped port and forwarding to the node's fixed
address. The engine publishes that container's port on the host, so under
a rootless engine it goes through RootlessKit's or Podman's port forwarder
like any published port. Nothing else is touched when a mapping comes or
goes; each carries the cluster's labels (deleted with it, stopped and
started with it) and its mapping in a label, which is all `list` reads.
"""
from __future__ import annotations

import re
import socket
from dataclasses import dataclass

from kindlike import helperimage
from kindlike.cluster.nodes import cluster_labels, free_address, list_nodes, network_name
from kindlike.constants import LABEL_ADDRESS, LABEL_PORT, LABEL_ROLE, LABEL_SERVICE, ROLE_PORT_FORWARDER
from kindlike.doctor import PreflightError
from kindlike.doctor.checks import FAIL, check_unprivileged_ports
from kindlike.doctor.host import HostFiles
from kindlike.engines.base import NodeSpec, PortSpec
from kindlike.engines.common import pick_free_port
from kindlike.errors import ClusterError, KindlikeError

PROTOCOLS = ("tcp", "udp")
_SPEC = re.compile(r"^(\d+):(\d+)(?:/(tcp|udp))?$", re.IGNORECASE)
_LABEL = re.compile(r"^(tcp|udp)/(.+):(\d+)>(.+):(\d+)$")


class PortError(KindlikeError):
    """A mapping that cannot be added or removed as asked."""


@dataclass(frozen=True)
class Mapping:
    host_port: int
    container_port: int
    protocol: str = "tcp"
    node: str = ""
    address: str = "127.0.0.1"
    service: str = ""  # NAMESPACE/NAME/PORT when kindlike.lbservices made it

    def label(self) -> str:
        return f"{self.protocol}/{self.address}:{self.host_port}>{self.node}:{self.container_port}"

    @classmethod
    def from_label(cls, text: str, service: str = "") -> "Mapping | None":
        m = _LABEL.match(text or "")
        if not m:
            return None
        proto, addr, hp, node, cp = m.groups()
        return cls(int(hp), int(cp), proto, node, addr, service)

    def __str__(self) -> str:
        host = f"[{self.address}]" if ":" in self.address else self.address
        return f"{host}:{self.host_port} -> {self.node}:{self.container_port}/{self.protocol}"


def parse(spec: str) -> tuple[int, int, str]:
    """HOSTPORT:CONTAINERPORT[/tcp|udp] -> (host port, container port, protocol)."""
    m = _SPEC.match(spec.strip())
    if not m:
        raise PortError(f"{spec!r} is not a port mapping", fix="write HOSTPORT:CONTAINERPORT[/tcp|udp], e.g. 8080:30080")
    hp, cp, proto = int(m.group(1)), int(m.group(2)), (m.group(3) or "tcp").lower()
    if hp > 65535 or not 1 <= cp <= 65535:
        raise PortError(f"{spec!r}: ports are 1-65535 (host port 0 picks a free one)")
    return hp, cp, proto


def forwarder_name(cluster: str, protocol: str, host_port: int) -> str:
    return f"{cluster}-port-{host_port}-{protocol}"


def list_mappings(engine, cluster: str) -> list[Mapping]:
    found = engine.list_containers({**cluster_labels(cluster), LABEL_ROLE: ROLE_PORT_FORWARDER})
    out = [Mapping.from_label(c.labels.get(LABEL_PORT, ""), c.labels.get(LABEL_SERVICE, "")) for c in found]
    return sorted((m for m in out if m), key=lambda m: (m.host_port, m.protocol))


def _refuse_taken(engine, cluster: str, m: Mapping) -> None:
    for other in list_mappings(engine, cluster):
        if other.host_port == m.host_port and other.protocol == m.protocol:
            raise PortError(f"host port {m.host_port}/{m.protocol} is already mapped ({other})",
                            fix=f"remove it first (kindlike expose remove --name {cluster} "
                                f"{m.host_port}/{m.protocol}) or pick another host port")
    kind = socket.SOCK_DGRAM if m.protocol == "udp" else socket.SOCK_STREAM
    family = socket.AF_INET6 if ":" in m.address else socket.AF_INET
    with socket.socket(family, kind) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("" if m.address in ("0.0.0.0", "::") else m.address, m.host_port))
        except OSError as e:
            raise PortError(f"host port {m.host_port}/{m.protocol} on {m.address} is not free ({e.strerror})",
                            fix="pick another host port, or 0 for a free one") from None


def _refuse_privileged(engine, m: Mapping) -> None:
    """The same check (and fix) as create's preflight for a config's ports."""
    chk = check_unprivileged_ports(rootless=engine.info().rootless,
                                   port_start=HostFiles().sysctl("net.ipv4.ip_unprivileged_port_start"),
                                   host_ports=[(m.host_port, "HOSTPORT")])
    if chk.status == FAIL:
        raise PreflightError([chk])


def add(engine, cluster: str, host_port: int, container_port: int, protocol: str = "tcp", *,
        node: str | None = None, address: str = "127.0.0.1", service: str = "") -> Mapping:
    """Publish host_port (0: a free one) on `address`, forwarded to
    container_port of `node` (default: the first control plane). Returns
    the mapping with its host port."""
    if protocol not in PROTOCOLS:
        raise PortError(f"protocol {protocol!r} is not tcp or udp")
    nodes = list_nodes(engine, cluster)
    if not nodes:
        raise ClusterError(f"no cluster named {cluster!r}", fix="see `kindlike get clusters`")
    target = next((n for n in nodes if n.name == (node or nodes[0].name)), None)
    if target is None:
        raise PortError(f"cluster {cluster!r} has no node {node!r}",
                        fix="pick one of: " + ", ".join(n.name for n in nodes))
    if not target.ip:
        raise PortError(f"node {target.name} has no address (is the cluster stopped?)",
                        fix=f"start it: kindlike start cluster --name {cluster}")
    host_port = host_port or pick_free_port(address, protocol)
    m = Mapping(host_port, container_port, protocol, target.name, address, service)
    _refuse_privileged(engine, m)
    _refuse_taken(engine, cluster, m)
    image = helperimage.ensure_image(engine)
    if protocol == "udp":
        listen, connect = f"UDP4-RECVFROM:{container_port},fork,reuseaddr", f"UDP4-SENDTO:{target.ip}:{container_port}"
    else:
        listen, connect = f"TCP4-LISTEN:{container_port},fork,reuseaddr", f"TCP4:{target.ip}:{container_port}"
    labels = {**cluster_labels(cluster), LABEL_ROLE: ROLE_PORT_FORWARDER, LABEL_PORT: m.label()}
    if service:
        labels[LABEL_SERVICE] = service
    # A fixed address too (see nodes.free_address); a concurrent add may
    # take the same one first, so the next free one is tried then.
    for attempt in range(5):
        ip = free_address(engine, cluster)
        try:
            engine.run_node(NodeSpec(
                name=forwarder_name(cluster, protocol, host_port), image=image, network=network_name(cluster),
                labels={**labels, LABEL_ADDRESS: ip}, ports=[PortSpec(container_port, host_port, address,
                                                                      protocol.upper())],
                var_volume=False, privileged=False, tmpfs=[], entrypoint=["socat", listen, connect], ip=ip))
            return m
        except KindlikeError as e:
            if "already in use" not in str(e).lower() or attempt == 4:
                raise
            engine.remove_containers([forwarder_name(cluster, protocol, host_port)])
    return m


def remove(engine, cluster: str, host_port: int, protocol: str = "tcp") -> Mapping:
    """Remove one mapping; the others and the nodes are not touched."""
    for m in list_mappings(engine, cluster):
        if m.host_port == host_port and m.protocol == protocol:
            engine.remove_containers([forwarder_name(cluster, protocol, host_port)])
            return m
    raise PortError(f"cluster {cluster!r} has no mapping of host port {host_port}/{protocol}",
                    fix=f"see: kindlike expose list --name {cluster}")
