"""The node plan and step "Preparing nodes".

`node_plans` turns the config into one `NodePlan` per node: its name, role,
image and the ports and mounts it publishes (kind's providers' provision.go);
`--dry-run` prints these same plans. `provision` then creates the cluster
network and every node container, started concurrently, each waited on until
its systemd is up.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

from kindlike.config.naming import node_names
from kindlike.config.types import IP_FAMILY_IPV6, ClusterConfig, NodeConfig
from kindlike.constants import API_SERVER_CONTAINER_PORT, LABEL_ADDRESS, ROLE_CONTROL_PLANE, ROLE_LOAD_BALANCER
from kindlike.engines.base import Engine, MountSpec, NodeSpec, PortSpec
from kindlike.errors import EngineError
from kindlike.runtime import Node, cluster_labels, network_name, node_labels, refuse_existing


@dataclass
class NodePlan:
    """One node as the cluster config describes it, engine-ready."""

    name: str
    role: str
    image: str
    labels: dict[str, str] = field(default_factory=dict)
    # The API server's port on control planes; published before `ports`.
    api_server: PortSpec | None = None
    ports: list[PortSpec] = field(default_factory=list)
    mounts: list[MountSpec] = field(default_factory=list)
    config: NodeConfig | None = None  # the config entry it came from
    env: dict[str, str] = field(default_factory=dict)  # read by the node's entrypoint
    # The name inside the node when not its container name: a copy of a
    # snapshot keeps the snapshot's node names (kindlike.snapshot).
    hostname: str = ""
    # The image's entrypoint and command when they must be given (a copy of
    # a snapshot); None = the image's own.
    entrypoint: list[str] | None = None
    command: list[str] | None = None

    @property
    def published(self) -> list[PortSpec]:
        return ([self.api_server] if self.api_server else []) + self.ports


def api_server_port(cfg: ClusterConfig) -> PortSpec:
    """Where a control plane publishes the API server. With several control
    planes each gets a random loopback port and kind's external load
    balancer takes apiServerAddress:apiServerPort (kindlike.loadbalancer)."""
    net = cfg.networking
    if len(cfg.control_planes()) > 1:
        loopback = "::1" if net.ip_family == IP_FAMILY_IPV6 else "127.0.0.1"
        return PortSpec(API_SERVER_CONTAINER_PORT, 0, loopback, "TCP")
    return PortSpec(API_SERVER_CONTAINER_PORT, net.api_server_port, net.api_server_address, "TCP")


def node_plans(cluster: str, cfg: ClusterConfig) -> list[NodePlan]:
    plans = []
    for name, role, node in node_names(cfg, cluster):
        ports = [PortSpec(p.container_port, p.host_port, p.listen_address, p.protocol)
                 for p in node.extra_port_mappings]
        mounts = [MountSpec(m.absolute_host_path(), m.container_path, m.read_only, m.propagation, m.selinux_relabel)
                  for m in node.extra_mounts]
        api = api_server_port(cfg) if role == ROLE_CONTROL_PLANE else None
        search = cfg.networking.dns_search
        env = {} if search is None else {"KINDLIKE_DNS_SEARCH": " ".join(search)}
        plans.append(NodePlan(name, role, node.image, api_server=api, ports=ports, mounts=mounts, config=node,
                              env=env))
    return plans


def node_spec(engine: Engine, cluster: str, plan: NodePlan) -> NodeSpec:
    info = engine.info()
    if plan.role == ROLE_LOAD_BALANCER:
        return NodeSpec(name=plan.name, image=plan.image, network=network_name(cluster),
                        labels={**node_labels(cluster, plan.role), **plan.labels}, ports=plan.published,
                        var_volume=False, privileged=False)
    from kindlike.create.extras import spec_fields

    sized = spec_fields(plan.config)
    return NodeSpec(
        name=plan.name,
        image=plan.image,
        network=network_name(cluster),
        labels={**node_labels(cluster, plan.role), **plan.labels, **sized.pop("labels")},
        **sized,
        ports=plan.published,
        mounts=list(plan.mounts),
        # fuse-overlayfs is the containerd snapshotter of last resort in a
        # user namespace; it needs the device.
        devices=["/dev/fuse"] if info.rootless else [],
        env=dict(plan.env),
        hostname=plan.hostname,
        entrypoint=plan.entrypoint,
        command=plan.command,
        aliases=[plan.hostname] if plan.hostname and plan.hostname != plan.name else [],
    )


def provision(engine: Engine, cluster: str, plans: list[NodePlan], *, boot_timeout: float = 120) -> list[Node]:
    """Create the network and start all nodes (and the load balancer, whose
    plan comes last) at once; return them, the nodes booted."""
    from concurrent.futures import ThreadPoolExecutor  # not needed by the dry-run's node plans

    refuse_existing(engine, cluster)
    net = network_name(cluster)
    if net in engine.list_networks(cluster_labels(cluster)):
        engine.delete_network(net)  # left by an earlier cluster of this name (no nodes, as just checked)
    engine.ensure_network(net, cluster_labels(cluster))
    specs = [node_spec(engine, cluster, p) for p in plans]
    for spec, ip in zip(specs, node_addresses(engine.network_subnet(net), len(specs))):
        spec.ip = ip
        spec.labels[LABEL_ADDRESS] = ip
    with ThreadPoolExecutor(max_workers=max(1, len(specs))) as pool:
        list(pool.map(engine.run_node, specs))
        nodes = [Node(p.name, p.role, engine, net) for p in plans]
        list(pool.map(lambda n: wait_for_systemd(n, boot_timeout),
                      [n for n in nodes if n.role != ROLE_LOAD_BALANCER]))
    return nodes


def node_addresses(subnet: str, count: int) -> list[str]:
    """Fixed addresses for the nodes, in plan order: the subnet's hosts after
    the first, which both engines give the bridge (the gateway).

    Fixed because a restart must not move a node: its address is in the API
    server's certificate, in etcd's peer URLs and in the kubelet's --node-ip,
    and engines hand addresses out again in whatever order nodes restart
    (kind re-points its manifests at boot instead, which cannot mend etcd's
    member list: kind #1689)."""
    import ipaddress
    import itertools

    hosts = itertools.islice(ipaddress.ip_network(subnet, strict=False).hosts(), 1, 1 + count)
    out = [str(h) for h in hosts]
    if len(out) < count:
        raise EngineError(f"network subnet {subnet} has room for {len(out)} nodes, not {count}")
    return out


def free_address(engine: Engine, cluster: str) -> str:
    """An address on the cluster network that no container of the cluster
    holds, running or stopped (their LABEL_ADDRESS): a container started with
    an engine-picked address could take a stopped node's, which then cannot
    start again."""
    import ipaddress

    used = {c.labels.get(LABEL_ADDRESS) for c in engine.list_containers(cluster_labels(cluster))}
    hosts = ipaddress.ip_network(engine.network_subnet(network_name(cluster)), strict=False).hosts()
    next(hosts, None)  # the gateway
    for h in hosts:
        if str(h) not in used:
            return str(h)
    raise EngineError(f"the network of cluster {cluster} has no free address left")


def wait_for_systemd(node: Node, timeout: float) -> None:
    """Poll `systemctl is-system-running` rather than scraping the log: Podman's
    log streaming is where kind's log-wait times out (kind #3363)."""
    deadline = time.monotonic() + timeout
    delay = 0.1
    last = ""
    while True:
        state = node.engine.inspect(node.name).get("State") or {}
        if not state.get("Running", False):
            tail = node.engine.logs(node.name, tail=15).strip()
            raise EngineError(f"node {node.name} exited during boot (exit code {state.get('ExitCode')})"
                              + (f":\n{tail}" if tail else ""))
        res = node.exec("systemctl", "is-system-running", check=False)
        last = res.stdout.strip() or res.stderr.strip()
        if last in ("running", "degraded"):
            return
        if time.monotonic() > deadline:
            tail = node.engine.logs(node.name, tail=15).strip()
            raise EngineError(f"systemd in node {node.name} did not come up within {timeout:.0f}s "
                              f"(state: {last or 'unknown'})" + (f":\n{tail}" if tail else ""))
        time.sleep(delay)
        delay = min(delay * 1.5, 0.3)  # systemd is up about a second after the start
