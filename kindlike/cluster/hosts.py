"""Nodes on several hosts (the seed's multi-node networking, Usernetes'
way): each node runs in its host's engine and is known to Kubernetes by its
host's address, where it publishes what the other hosts need (the API
server, the kubelet, Flannel's VXLAN; create/provision.py). The node holds
that address on its loopback: the kubelet only takes a node IP one of its
interfaces has, and etcd and the API server bind to it. Traffic to the
other hosts leaves through the node's engine network and its host's NAT,
which only rewrites the engine network's addresses: what the node sends
from its host's address (Flannel's VXLAN, whose endpoint is that address)
is rewritten to the node's own address first."""
from __future__ import annotations

from kindlike.cluster.nodes import Node


def own_host_address(node: Node) -> None:
    """Give the node its host's address, and send what leaves from it as
    from the node (again after a restart: a container starts with an empty
    loopback and no rules)."""
    rule = f"POSTROUTING -s {node.host_address}/32 -o eth0 -j MASQUERADE"
    node.exec("sh", "-c", f"ip addr replace {node.host_address}/32 dev lo && "
                          f"{{ iptables -t nat -C {rule} 2>/dev/null || iptables -t nat -A {rule}; }}", timeout=30)
