"""Step "Installing CNI": the pod network over VXLAN.

With Flannel in the node image, its manifest is applied with net-conf.json's
Network set to the podSubnet. Without it (the offline image: Flannel cannot
be had there) kindlike builds the same data plane Flannel's VXLAN backend
builds, by hand: on every node a `flannel.1` VXLAN device (VNI 1, UDP 8472)
addressed with the node's pod network address, a `cni0` bridge handed out by
the bridge + host-local CNI plugins over the node's pod CIDR, and for every
other node a route, a permanent neighbour entry and an FDB entry pointing at
that node's VTEP. Pod CIDRs come from kube-controller-manager
(--allocate-node-cidrs), so the wiring is done after nodes register and
again whenever nodes join.
"""
from __future__ import annotations

import ipaddress
import json
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from kindlike.create.bootstrap import kubectl
from kindlike.errors import ClusterError
from kindlike.runtime import Node

VXLAN_DEV = "flannel.1"
VNI = 1
VXLAN_PORT = 8472
# Node network MTU 1500 minus the VXLAN overhead (50 bytes), as Flannel does.
POD_MTU = 1450
CNI_CONF_PATH = "/etc/cni/net.d/10-kindlike.conflist"
FLANNEL_MANIFEST = "/kind/manifests/default-cni.yaml"

# Idempotent: every command replaces rather than adds, so re-running after a
# join (or a node restart) converges to the same state.
LOCAL_SETUP = r"""
set -eu
dev={dev}
if ! ip link show "$dev" >/dev/null 2>&1; then
  ip link add "$dev" type vxlan id {vni} local {node_ip} dstport {port} nolearning
fi
ip link set "$dev" mtu {mtu} up
ip addr replace {vtep_addr}/32 dev "$dev"
# VXLAN behind NAT (rootless port forwarders) drops packets whose checksum
# offload was left to hardware that is not there: compute it in software.
if command -v ethtool >/dev/null 2>&1; then ethtool -K "$dev" tx-checksum-ip-generic off >/dev/null 2>&1 || true; fi
sysctl -qw net.ipv4.ip_forward=1 || true
iptables -C FORWARD -s {pod_subnet} -j ACCEPT 2>/dev/null || iptables -A FORWARD -s {pod_subnet} -j ACCEPT
iptables -C FORWARD -d {pod_subnet} -j ACCEPT 2>/dev/null || iptables -A FORWARD -d {pod_subnet} -j ACCEPT
iptables -t nat -C POSTROUTING -s {pod_subnet} ! -d {pod_subnet} -j MASQUERADE 2>/dev/null \
  || iptables -t nat -A POSTROUTING -s {pod_subnet} ! -d {pod_subnet} -j MASQUERADE
mkdir -p /etc/cni/net.d
cat /sys/class/net/"$dev"/address
"""

PEER_SETUP = r"""
ip route replace {peer_cidr} via {peer_vtep} dev {dev} onlink
ip neigh replace {peer_vtep} lladdr {peer_mac} dev {dev} nud permanent
bridge fdb replace {peer_mac} dev {dev} dst {peer_ip} self permanent
"""


@dataclass(frozen=True)
class VtepNode:
    node: Node
    node_ip: str
    pod_cidr: str
    mac: str = ""

    @property
    def vtep_addr(self) -> str:
        # Flannel gives flannel.1 the network address of the node's subnet.
        return str(ipaddress.ip_network(self.pod_cidr).network_address)


def cni_conflist(pod_cidr: str) -> str:
    return json.dumps({
        "cniVersion": "0.3.1",
        "name": "kindlike",
        "plugins": [
            {
                "type": "bridge",
                "bridge": "cni0",
                "isGateway": True,
                "isDefaultGateway": True,
                "hairpinMode": True,
                "ipMasq": False,
                "mtu": POD_MTU,
                "ipam": {"type": "host-local", "ranges": [[{"subnet": pod_cidr}]]},
            },
            {"type": "portmap", "capabilities": {"portMappings": True}},
        ],
    }, indent=2)


def pod_cidrs(control_plane: Node, check: bool = True) -> dict[str, str]:
    """{node name: podCIDR} as allocated by kube-controller-manager; nodes
    without one yet are left out."""
    out = kubectl(
        control_plane, "get", "nodes", "-o",
        "jsonpath={range .items[*]}{.metadata.name}{\" \"}{.spec.podCIDR}{\"\\n\"}{end}", check=check,
    ).stdout
    return {p[0]: p[1] for p in (line.split() for line in out.splitlines()) if len(p) == 2}


def wait_pod_cidrs(control_plane: Node, names: list[str], timeout: float = 120) -> dict[str, str]:
    """Until every named node is registered with a pod CIDR; returns them all."""
    deadline = time.monotonic() + timeout
    while True:
        # check=False: the API server may refuse briefly while it settles.
        cidrs = pod_cidrs(control_plane, check=False)
        missing = [n for n in names if n not in cidrs]
        if not missing:
            return cidrs
        if time.monotonic() > deadline:
            raise ClusterError(f"nodes not registered with a pod CIDR after {timeout:.0f}s: {', '.join(missing)} "
                               "(is kube-controller-manager running with --allocate-node-cidrs?)")
        time.sleep(0.5)


def setup_local(v: VtepNode, pod_subnet: str) -> VtepNode:
    script = LOCAL_SETUP.format(dev=VXLAN_DEV, vni=VNI, node_ip=v.node_ip, port=VXLAN_PORT, mtu=POD_MTU,
                                vtep_addr=v.vtep_addr, pod_subnet=pod_subnet)
    mac = v.node.output("sh", "-c", script).strip().splitlines()[-1]
    v.node.write_file(CNI_CONF_PATH, cni_conflist(v.pod_cidr))
    return VtepNode(v.node, v.node_ip, v.pod_cidr, mac)


def setup_peers(v: VtepNode, peers: list[VtepNode]) -> None:
    script = "set -eu\n" + "".join(
        PEER_SETUP.format(dev=VXLAN_DEV, peer_cidr=p.pod_cidr, peer_vtep=p.vtep_addr, peer_mac=p.mac, peer_ip=p.node_ip)
        for p in peers if p.node.name != v.node.name
    )
    v.node.exec("sh", "-c", script)


def wire_vxlan(nodes: list[Node], cidrs: dict[str, str], pod_subnet: str) -> list[VtepNode]:
    """Bring every node's VXLAN data plane up and mesh it with all others,
    given each node's pod CIDR (see wait_pod_cidrs)."""
    missing = [n.name for n in nodes if not cidrs.get(n.name)]
    if missing:
        raise ClusterError(f"no pod CIDR allocated to {', '.join(missing)} "
                           "(is kube-controller-manager running with --allocate-node-cidrs?)")
    vteps = [VtepNode(n, n.ip, cidrs[n.name]) for n in nodes]
    with ThreadPoolExecutor(max_workers=len(vteps)) as pool:
        vteps = list(pool.map(lambda v: setup_local(v, pod_subnet), vteps))
        list(pool.map(lambda v: setup_peers(v, vteps), vteps))
    return vteps


def install_flannel(control_plane: Node, pod_subnet: str) -> None:
    """Apply the image's Flannel manifest with Network set to the podSubnet."""
    manifest = control_plane.read_file(FLANNEL_MANIFEST)
    manifest = manifest.replace('"Network": "10.244.0.0/16"', f'"Network": "{pod_subnet}"')
    kubectl(control_plane, "apply", "-f", "-", stdin=manifest)
