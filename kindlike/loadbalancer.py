"""The external load balancer of a cluster with several control planes
(kind's `<cluster>-external-load-balancer`): its image, its container plan
and its haproxy configuration.

The image is haproxy from Debian on kindlike's base image (images/lb),
built in the engine on first use and tagged by the hash of its build files.
The container publishes the API server on apiServerAddress:apiServerPort;
kubeadm's controlPlaneEndpoint and every kubeconfig name it. Its backend is
the control planes' fixed addresses, written by `configure` at create and
again at every `start`, so it follows the set of control planes.
"""
from __future__ import annotations

import hashlib

from kindlike.constants import API_SERVER_CONTAINER_PORT, ROLE_LOAD_BALANCER
from kindlike.errors import KindlikeError
from kindlike.runtime import Node

IMAGE_REPO = "kindlike/haproxy"
BASE_IMAGE = "kindlike/base:bookworm"
CONFIG_PATH = "/usr/local/etc/haproxy/haproxy.cfg"


def _image_dir():
    from kindlike.nodeimage.build import data_root

    return data_root() / "images" / "lb"


def image_tag() -> str:
    h = hashlib.sha256()
    for p in sorted(_image_dir().iterdir()):
        h.update(p.name.encode() + b"\0" + p.read_bytes())
    return f"{IMAGE_REPO}:{h.hexdigest()[:12]}"


def ensure_image(engine, note=None) -> str:
    """The load balancer's image in this engine, built when missing."""
    tag = image_tag()
    if engine.image_exists(tag):
        return tag
    if not engine.image_exists(BASE_IMAGE):
        raise KindlikeError(f"the load balancer image {tag} is built from {BASE_IMAGE}, which this engine lacks",
                            fix=f"make it with: images/base/build.sh {engine.name} (hack/setup-host.sh does)")
    if note:
        note(f"building {tag} (haproxy from Debian)")
    try:
        engine.build_image(_image_dir(), tag, buildargs={"BASE_IMAGE": BASE_IMAGE})
    except Exception as e:  # the SDKs' BuildError / APIError carry the log
        raise KindlikeError(f"cannot build the load balancer image {tag}: {str(e).splitlines()[0][:300]}",
                            fix="check that the engine reaches Debian's mirror (it installs haproxy)") from e
    return tag


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
