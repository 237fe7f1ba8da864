"""kind's validation rules for a defaulted Cluster, plus the checks kind leaves
to `create` time (where they fail late, with engine errors).

From kind's pkg/internal/apis/config/validate.go:
  - cluster name matches ^[a-z0-9.-]+$
  - apiServerPort, when not 0, and every hostPort/containerPort lie in -1..65535
  - ipFamily is ipv4, ipv6 or dual; kubeProxyMode is iptables, ipvs, nftables or none
  - podSubnet/serviceSubnet: comma-separated CIDRs that parse; one for single
    stack, of the right family; one, or two of different families, for dual
  - every node's role is control-plane or worker; at least one control-plane
  - no two port mappings of a node bind the same address/port/protocol
    (0.0.0.0 and :: conflict with every address; hostPort 0 and -1 never conflict)

From kind's providers (they reject these while creating the nodes):
  - protocol is TCP, UDP or SCTP, in any case (kind upper-cases it)

Checked here although kind does not, because the engine, kubelet or kubeadm
would refuse them during `create`: containerPort 1..65535; listenAddress and
apiServerAddress are IP addresses; hostPath/containerPath set, containerPath
absolute, neither holding ":" (the engines' bind syntax splits on it); propagation one of None, HostToContainer, Bidirectional (kind
silently falls back to None); Kubernetes label syntax; no host port bound twice
anywhere in the cluster, the API server's included; the cluster name starts
with a letter or digit (it prefixes container names); patches parse.
"""
from __future__ import annotations

import ipaddress
import re
import tomllib
from typing import Any

from kindlike import noderesources
from kindlike.config import patches as _patches
from kindlike.config.naming import node_name_problems, valid_registry_name, validate_cluster_name
from kindlike.config.types import (
    IP_FAMILIES,
    IP_FAMILY_DUAL,
    IP_FAMILY_IPV4,
    KUBE_PROXY_MODES,
    NODE_ROLES,
    PROPAGATIONS,
    PROTOCOLS,
    ROLE_CONTROL_PLANE,
    ClusterConfig,
    NodeConfig,
    PatchJSON6902,
)

_LABEL_NAME_RE = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_DNS_SUBDOMAIN_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
# Label namespaces kubelet refuses in --node-labels unless allow-listed (NodeRestriction).
_RESTRICTED_LABEL_SUFFIXES = ("kubernetes.io", "k8s.io")
_ALLOWED_RESTRICTED_PREFIXES = ("kubelet.kubernetes.io", "node.kubernetes.io")
_ALLOWED_RESTRICTED_LABELS = {
    "kubernetes.io/hostname",
    "kubernetes.io/instance-type",
    "kubernetes.io/os",
    "kubernetes.io/arch",
    "beta.kubernetes.io/instance-type",
    "beta.kubernetes.io/os",
    "beta.kubernetes.io/arch",
    "failure-domain.beta.kubernetes.io/zone",
    "failure-domain.beta.kubernetes.io/region",
    "topology.kubernetes.io/zone",
    "topology.kubernetes.io/region",
}


def validate_cluster(cluster: ClusterConfig) -> tuple[list[str], list[str]]:
    """(problems, warnings) for a defaulted cluster config."""
    v = _Validator()
    v.cluster(cluster)
    return v.problems, v.warnings


class _Validator:
    def __init__(self) -> None:
        self.problems: list[str] = []
        self.warnings: list[str] = []

    def cluster(self, c: ClusterConfig) -> None:
        if c.name:
            self.problems += validate_cluster_name(c.name) or node_name_problems(c.name, c)
        self.networking(c)
        for i, node in enumerate(c.nodes):
            self.node(node, f"nodes[{i}]", c.networking.ip_family)
        if not any(n.role == ROLE_CONTROL_PLANE for n in c.nodes):
            self.problems.append("nodes: must have at least one control-plane node")
        self.hosts(c)
        self.host_bindings(c)
        self.kubeadm_patches(c.kubeadm_config_patches, c.kubeadm_config_patches_json6902, "")
        for i, text in enumerate(c.containerd_config_patches):
            try:
                tomllib.loads(text)
            except tomllib.TOMLDecodeError as e:
                self.problems.append(f"containerdConfigPatches[{i}]: not valid TOML ({e})")
        for i, text in enumerate(c.containerd_config_patches_json6902):
            self.json6902_text(text, f"containerdConfigPatchesJSON6902[{i}]")
        self.kindlike_only(c)

    def kindlike_only(self, c: ClusterConfig) -> None:
        if c.registry and not valid_registry_name(c.registry):
            self.problems.append(f'kindlike.registry: "{c.registry}" is not a registry name '
                                 "(a-z, 0-9 and '-', at most 63 characters)")
        for i, node in enumerate(c.nodes):
            self.problems += noderesources.problems(node.cpus, node.memory, f"nodes[{i}].kindlike")

    # -- networking ---------------------------------------------------------

    def networking(self, c: ClusterConfig) -> None:
        net = c.networking
        if net.api_server_port != 0:
            self.port(net.api_server_port, "networking.apiServerPort")
        family_ok = net.ip_family in IP_FAMILIES
        if not family_ok:
            self.problems.append(
                f'networking.ipFamily: "{net.ip_family}" is not valid (one of {", ".join(IP_FAMILIES)})'
            )
        address = _ip(net.api_server_address)
        if address is None:
            self.problems.append(
                f'networking.apiServerAddress: "{net.api_server_address}" is not an IP address'
            )
        elif not address.is_loopback:
            self.warnings.append(
                f"networking.apiServerAddress: {net.api_server_address} exposes the API server "
                "beyond this machine; kind strongly recommends keeping it on loopback"
            )
        pods = self.subnets(net.pod_subnet, "networking.podSubnet", net.ip_family if family_ok else None)
        services = self.subnets(
            net.service_subnet, "networking.serviceSubnet", net.ip_family if family_ok else None
        )
        for p in pods:
            for s in services:
                if p.version == s.version and p.overlaps(s):
                    self.warnings.append(
                        f'networking.serviceSubnet: "{s}" overlaps networking.podSubnet "{p}"; '
                        "pod and service addresses may collide"
                    )
        if net.kube_proxy_mode not in KUBE_PROXY_MODES:
            self.problems.append(
                f'networking.kubeProxyMode: "{net.kube_proxy_mode}" is not valid '
                f'(one of {", ".join(KUBE_PROXY_MODES)})'
            )

    def subnets(self, value: str, path: str, family: str | None) -> list[Any]:
        """Parse and check a (comma-separated) CIDR list; returns what parsed."""
        parsed = []
        for text in value.split(","):
            try:
                if "/" not in text:
                    # ip_network would read a bare address as /32; Go's ParseCIDR refuses it.
                    raise ValueError(text)
                # strict=False: Go's net.ParseCIDR accepts host bits (10.244.1.0/16).
                parsed.append(ipaddress.ip_network(text, strict=False))
            except ValueError:
                self.problems.append(f'{path}: "{text}" is not a valid CIDR')
                return []
        if family is None:
            return parsed
        if family == IP_FAMILY_DUAL:
            if len(parsed) > 2 or (len(parsed) == 2 and parsed[0].version == parsed[1].version):
                self.problems.append(
                    f'{path}: "{value}": expected one CIDR, or two CIDRs (one IPv4 and one IPv6) '
                    "for dual-stack networking"
                )
            elif len(parsed) == 1:
                self.warnings.append(
                    f'{path}: "{value}" is a single CIDR, so with ipFamily dual this network is single-stack'
                )
            return parsed
        if len(parsed) > 1:
            self.problems.append(
                f'{path}: "{value}": only one CIDR allowed for single-stack networking (ipFamily {family})'
            )
            return parsed
        want = 4 if family == IP_FAMILY_IPV4 else 6
        if parsed[0].version != want:
            self.problems.append(
                f'{path}: "{value}" is not an IPv{want} CIDR (ipFamily is {family})'
            )
        return parsed

    # -- nodes --------------------------------------------------------------

    def node(self, node: NodeConfig, path: str, ip_family: str) -> None:
        if node.role not in NODE_ROLES:
            self.problems.append(
                f'{path}.role: "{node.role}" is not a valid node role (control-plane or worker)'
            )
        for key, value in node.labels.items():
            self.label(key, value, f'{path}.labels["{key}"]')
        for j, m in enumerate(node.extra_mounts):
            mpath = f"{path}.extraMounts[{j}]"
            if not m.host_path:
                self.problems.append(f"{mpath}.hostPath: required (the file or directory on this machine)")
            if not m.container_path:
                self.problems.append(f"{mpath}.containerPath: required (where it appears in the node)")
            elif not m.container_path.startswith("/"):
                self.problems.append(f'{mpath}.containerPath: "{m.container_path}" must be an absolute path')
            self.bind_path(m.host_path, f"{mpath}.hostPath")
            self.bind_path(m.container_path, f"{mpath}.containerPath")
            if m.propagation not in PROPAGATIONS:
                self.problems.append(
                    f'{mpath}.propagation: "{m.propagation}" is not valid (one of {", ".join(PROPAGATIONS)})'
                )
        for j, pm in enumerate(node.extra_port_mappings):
            ppath = f"{path}.extraPortMappings[{j}]"
            self.port(pm.host_port, f"{ppath}.hostPort")
            if pm.container_port == 0:
                self.problems.append(f"{ppath}.containerPort: required (the port inside the node, 1-65535)")
            elif not 1 <= pm.container_port <= 65535:
                self.problems.append(
                    f"{ppath}.containerPort: {pm.container_port} is not a valid container port (1-65535)"
                )
            if _ip(pm.listen_address) is None:
                self.problems.append(f'{ppath}.listenAddress: "{pm.listen_address}" is not an IP address')
            if pm.protocol not in PROTOCOLS:
                self.problems.append(
                    f'{ppath}.protocol: "{pm.protocol}" is not valid (one of {", ".join(PROTOCOLS)})'
                )
        self.kubeadm_patches(node.kubeadm_config_patches, node.kubeadm_config_patches_json6902, path)

    def hosts(self, c: ClusterConfig) -> None:
        """Nodes on several hosts (kindlike.host / kindlike.hostAddress): each
        node is reached at its host's address, so every node needs one, one
        node per host, and the control plane's etcd stays on its host."""
        if not c.multi_host:
            return
        seen: dict[str, int] = {}
        for i, node in enumerate(c.nodes):
            path = f"nodes[{i}].kindlike"
            if node.host and not node.host.startswith(("unix://", "tcp://", "ssh://")):
                self.problems.append(f'{path}.host: "{node.host}" is not an engine address '
                                     "(unix:///path/to/engine.sock, tcp://HOST:PORT or ssh://USER@HOST)")
            ip = _ip(node.host_address)
            if not node.host_address:
                self.problems.append(f"{path}.hostAddress: required when nodes are on several hosts (the "
                                     "address the other hosts reach this node's host at)")
            elif ip is None or ip.version != 4 or ip.is_loopback or ip.is_unspecified:
                self.problems.append(f'{path}.hostAddress: "{node.host_address}" is not an IPv4 address the '
                                     "other hosts can reach")
            elif node.host_address in seen:
                self.problems.append(f"{path}.hostAddress: {node.host_address} is also nodes[{seen[node.host_address]}]"
                                     "'s; put one node on each host (they would publish the same ports)")
            else:
                seen[node.host_address] = i
        if len(c.control_planes()) > 1:
            self.problems.append("nodes: several control planes across hosts are not supported (etcd's peers "
                                 "would need their ports published too); use one control plane")
        if c.networking.ip_family != IP_FAMILY_IPV4:
            self.problems.append(f'networking.ipFamily: "{c.networking.ip_family}" with nodes on several hosts; '
                                 "only ipv4 is supported there")

    def bind_path(self, value: str, path: str) -> None:
        # Engines take a bind as "host:container:options", so a ":" would split
        # the path (Docker and Podman alike), and no path holds a NUL.
        if ":" in value:
            self.problems.append(f'{path}: "{value}" contains ":", which container engines cannot bind '
                                 "(rename the file or directory, or bind a parent without it)")
        elif any(ord(c) < 32 for c in value):
            self.problems.append(f'{path}: "{value}" contains a control character')

    def port(self, port: int, path: str) -> None:
        # -1 asks the engine to pick the port (kind's validatePort).
        if not -1 <= port <= 65535:
            self.problems.append(f"{path}: {port} is not a valid port (0-65535, or -1)")

    def label(self, key: str, value: str, path: str) -> None:
        prefix, slash, name = key.rpartition("/")
        if not slash:
            prefix, name = "", key
        if slash and (not prefix or len(prefix) > 253 or not _DNS_SUBDOMAIN_RE.fullmatch(prefix)):
            self.problems.append(f'{path}: label key prefix "{prefix}" must be a DNS subdomain (e.g. example.com)')
        elif len(name) > 63 or not _LABEL_NAME_RE.fullmatch(name):
            self.problems.append(
                f"{path}: invalid label key (at most 63 characters: letters, digits, "
                '"-", "_" and ".", starting and ending with a letter or digit)'
            )
        if value and (len(value) > 63 or not _LABEL_NAME_RE.fullmatch(value)):
            self.problems.append(
                f'{path}: "{value}" is not a valid label value (at most 63 characters: letters, digits, '
                '"-", "_" and ".", starting and ending with a letter or digit)'
            )
        if prefix and prefix.endswith(_RESTRICTED_LABEL_SUFFIXES):
            allowed = key in _ALLOWED_RESTRICTED_LABELS or prefix.endswith(_ALLOWED_RESTRICTED_PREFIXES)
            if not allowed:
                self.warnings.append(
                    f"{path}: kubelet refuses most labels under kubernetes.io and k8s.io "
                    "(node-role.kubernetes.io among them); this node may fail to start"
                )

    # -- host port bindings ---------------------------------------------------

    def host_bindings(self, c: ClusterConfig) -> None:
        """No two mappings may bind the same address/port/protocol on the host.

        kind checks this within one node; an engine refuses it across nodes
        too, so kindlike checks the whole cluster, API server included.
        """
        seen: dict[tuple[int, str], list[tuple[Any, str]]] = {}
        bindings: list[tuple[str, str, int, str]] = []
        net = c.networking
        if net.api_server_port > 0:
            bindings.append(("networking.apiServerPort", net.api_server_address, net.api_server_port, "TCP"))
        for i, node in enumerate(c.nodes):
            for j, pm in enumerate(node.extra_port_mappings):
                bindings.append((f"nodes[{i}].extraPortMappings[{j}]", pm.listen_address, pm.host_port, pm.protocol))
        for path, address_text, port, protocol in bindings:
            # 0 and -1 pick a free port each time, so they never collide.
            if port in (0, -1):
                continue
            address = _ip(address_text)
            if address is None:
                continue
            wildcard = address.is_unspecified
            entries = seen.setdefault((port, protocol), [])
            clash = next(
                (other for addr, other in entries if wildcard or addr is None or addr == address),
                None,
            )
            if clash is not None:
                shown = f"[{address}]" if address.version == 6 else str(address)
                self.problems.append(
                    f"{path}: {shown}:{port}/{protocol} is already bound by {clash} "
                    "(port mapping with same listen address, port and protocol)"
                )
            # A wildcard is stored as None: it clashes with every later address.
            entries.append((None if wildcard else address, path))

    # -- patches ------------------------------------------------------------

    def kubeadm_patches(self, merge: tuple[str, ...], json6902: tuple[PatchJSON6902, ...], prefix: str) -> None:
        base = f"{prefix}." if prefix else ""
        for i, text in enumerate(merge):
            path = f"{base}kubeadmConfigPatches[{i}]"
            try:
                docs = _patches.parse_merge_patches([text])
            except _patches.PatchError as e:
                self.problems.append(f"{path}: {e.message.split(': ', 1)[1]}")
                continue
            if any(not isinstance(d.get("kind"), str) or not d.get("kind") for d in docs):
                self.warnings.append(f"{path}: has no kind, so it matches no kubeadm config object")
        for i, p in enumerate(json6902):
            path = f"{base}kubeadmConfigPatchesJSON6902[{i}]"
            if not p.kind:
                self.warnings.append(f"{path}.kind: empty, so this patch matches no kubeadm config object")
            self.json6902_text(p.patch, f"{path}.patch")

    def json6902_text(self, text: str, path: str) -> None:
        try:
            _patches.parse_json6902(text)
        except _patches.PatchError as e:
            self.problems.append(f"{path}: {e.message}")


def _ip(text: str) -> Any:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None
