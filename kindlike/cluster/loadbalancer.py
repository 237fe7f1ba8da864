"""The external load balancer of a cluster with several control planes
(kind's `<cluster>-external-load-balancer`): its haproxy configuration.

The image is the helper image (kindlike.helperimage: haproxy from Debian).
The container publishes the API server on apiServerAddress:apiServerPort;
kubeadm's controlPlaneEndpoint and every kubeconfig name it. Its backend is
the control planes' fixed addresses, written by `configure` at create and
again at every `start`, so it follows the set of control planes.
"""
from __future__ import annotations

from kindlike.cluster.nodes import Node
from kindlike.constants import API_SERVER_CONTAINER_PORT
from kindlike.errors import KindlikeError

CONFIG_PATH = "/usr/local/etc/haproxy/haproxy.cfg"


def render_config(servers: list[tuple[str, str]]) -> str:
    """haproxy.cfg for these (name, address) control planes. A server is
    taken out within about 2 s of its API server failing /healthz, and a
    connection that cannot reach one is sent to another."""
    lines = [
        "# written by kindlike: the cluster's control planes",
        "global",
        "  log stderr format raw local0 notice",
        "defaults",
        "  log global",
        "  mode tcp",
        "  timeout connect 2s",
        "  timeout client 1h",
        "  timeout server 1h",
        "  retries 3",
        "  option redispatch",
        "frontend control-plane",
        f"  bind *:{API_SERVER_CONTAINER_PORT}",
        "  default_backend kube-apiservers",
        "backend kube-apiservers",
        "  option httpchk GET /healthz",
        "  default-server check check-ssl verify none inter 1s fall 2 rise 1",
    ]
    lines += [f"  server {name} {addr}:{API_SERVER_CONTAINER_PORT}" for name, addr in servers]
    return "\n".join(lines) + "\n"


def configure(lb: Node, control_planes: list[Node]) -> None:
    """Point the load balancer at these control planes and reload it (the
    listener stays open across the reload)."""
    servers = [(n.name, n.ip) for n in control_planes]
    missing = [name for name, addr in servers if not addr]
    if missing:
        raise KindlikeError(f"control plane {', '.join(missing)} has no address on the cluster network")
    lb.write_file(CONFIG_PATH, render_config(servers))
    lb.exec("sh", "-c", "kill -USR2 1")
