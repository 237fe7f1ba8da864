"""The external load balancer of a cluster with several control planes
(kind's `<cluster>-external-load-balancer`): its image, its container plan
and its haproxy configuration.

The image is the helper image (kindlike.helperimage: haproxy from Debian).
The container publishes the API server on apiServerAddress:apiServerPort;
kubeadm's controlPlaneEndpoint and every kubeconfig name it. Its backend is
the control planes' fixed addresses, written by `configure` at create and
again at every `start`, so it follows the set of control planes.
"""
from __future__ import annotations

from kindlike.constants import API_SERVER_CONTAINER_PORT, ROLE_LOAD_BALANCER
from kindlike.errors import KindlikeError
from kindlike.helperimage import ensure_image, image_tag  # noqa: F401  (create ensures it here)
from kindlike.runtime import Node

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


def plan(cluster: str, cfg):
    """The load balancer's container plan, or None with one control plane."""
    from kindlike.config.naming import load_balancer_name
    from kindlike.create.provision import NodePlan
    from kindlike.engines.base import PortSpec

    if len(cfg.control_planes()) < 2:
        return None
    net = cfg.networking
    return NodePlan(load_balancer_name(cluster), ROLE_LOAD_BALANCER, image_tag(),
                    api_server=PortSpec(API_SERVER_CONTAINER_PORT, net.api_server_port, net.api_server_address, "TCP"))
