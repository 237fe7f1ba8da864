"""Local image registries (`kindlike registry`), and connecting one to a
cluster so that `localhost:PORT/app:tag`, pushed from the host, is pulled
by every node.

A registry is a container of its own, not part of any cluster: Debian's
docker-registry (images/registry), published on the host at
127.0.0.1:PORT, with its data in a named volume. It lives on a network of
its own, `NAME_net` (an underscore: no cluster's network, `kindlike-C`,
can have that name). Everything kindlike knows of it is in its labels
(name, port) and in the networks it is attached to (the clusters it is
connected to).

Connecting it to a cluster (kindlike.registryconnect) attaches it to the
cluster's network as NAME, so nodes reach it as NAME:5000 under every
engine, rootless included (a node's `localhost` is the node itself).
"""
from __future__ import annotations

import socket
import time
import urllib.error
import urllib.request
from dataclasses import dataclass

from kindlike import helperimage
from kindlike.cluster.nodes import detach_registries
from kindlike.config.naming import valid_registry_name as valid_name
from kindlike.constants import LABEL_PREFIX, LABEL_ROLE, NAME_PREFIX, ROLE_REGISTRY
from kindlike.engines.base import NodeSpec, PortSpec
from kindlike.engines.common import pick_free_port
from kindlike.errors import KindlikeError

LABEL_REGISTRY = LABEL_PREFIX + "registry"
LABEL_REGISTRY_PORT = LABEL_PREFIX + "registry.port"
DEFAULT_NAME = "kindlike-registry"
DEFAULT_PORT = 5000
CONTAINER_PORT = 5000
DATA_PATH = "/var/lib/docker-registry"
IMAGE_REPO = "kindlike/registry"
# A DNS label: containerd and the nodes' resolvers use the name as a host name.


class RegistryError(KindlikeError):
    """A registry that cannot be created, found or connected as asked."""


@dataclass(frozen=True)
class Registry:
    name: str
    port: int
    state: str  # the container's: running, exited, ...
    networks: tuple[str, ...] = ()

    @property
    def address(self) -> str:
        """Where the host pushes to: `docker push ADDRESS/app:tag`."""
        return f"localhost:{self.port}"

    @property
    def in_cluster(self) -> str:
        """Where a container on a connected cluster's network reaches it."""
        return f"{self.name}:{CONTAINER_PORT}"

    @property
    def clusters(self) -> list[str]:
        return sorted(n[len(NAME_PREFIX):] for n in self.networks
                      if n.startswith(NAME_PREFIX) and n != network_of(self.name))


def network_of(name: str) -> str:
    return f"{name}_net"


def volume_of(name: str) -> str:
    return f"{name}-data"


def labels_of(name: str) -> dict[str, str]:
    return {LABEL_ROLE: ROLE_REGISTRY, LABEL_REGISTRY: name}


def check_name(name: str) -> None:
    if not valid_name(name):
        raise RegistryError(f"{name!r} is not a valid registry name",
                            fix="use a-z, 0-9 and '-', at most 63 characters, starting and ending with a letter or "
                                f"digit, e.g. {DEFAULT_NAME}")


def list_registries(engine) -> list[Registry]:
    out = []
    for c in engine.list_containers({LABEL_ROLE: ROLE_REGISTRY, LABEL_REGISTRY: None}):
        port = c.labels.get(LABEL_REGISTRY_PORT, "0")
        out.append(Registry(c.labels[LABEL_REGISTRY], int(port) if port.isdigit() else 0, c.state,
                            tuple(engine.container_networks(c.name))))
    return sorted(out, key=lambda r: r.name)


def get(engine, name: str) -> Registry:
    for r in list_registries(engine):
        if r.name == name:
            return r
    raise RegistryError(f"no registry named {name!r}",
                        fix=f"create it: kindlike registry create {name} (see `kindlike registry list`)")


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def _pick_port(engine, port: int | None) -> int:
    taken = {r.port for r in list_registries(engine)}
    if port is None:
        # 5000, as in every registry tutorial, else whatever is free.
        return DEFAULT_PORT if DEFAULT_PORT not in taken and _port_free(DEFAULT_PORT) \
            else pick_free_port("127.0.0.1")
    if not 1 <= port <= 65535:
        raise RegistryError(f"--port {port}: ports are 1-65535", fix="pick another port, or leave --port out")
    if port in taken or not _port_free(port):
        raise RegistryError(f"port {port} on 127.0.0.1 is not free", fix="pick another --port, or leave it out")
    return port


def create(engine, name: str = DEFAULT_NAME, port: int | None = None, note=None, wait: float = 30) -> Registry:
    """Start a registry published on 127.0.0.1:port (None: 5000 when free,
    else a free port); back once it answers. Nothing is left behind when
    it fails."""
    check_name(name)
    if any(r.name == name for r in list_registries(engine)):
        raise RegistryError(f"registry {name!r} already exists",
                            fix=f"use it, or delete it first: kindlike registry delete {name}")
    if any(c.name == name for c in engine.list_containers()):
        raise RegistryError(f"a container named {name!r} exists and is not a kindlike registry",
                            fix="pick another name")
    port = _pick_port(engine, port)
    image = helperimage.ensure_image(engine, note, name="registry", repo=IMAGE_REPO, packages="docker-registry")
    labels = {**labels_of(name), LABEL_REGISTRY_PORT: str(port)}
    try:
        engine.ensure_network(network_of(name), labels_of(name))
        engine.run_node(NodeSpec(name=name, image=image, network=network_of(name), labels=labels,
                                 ports=[PortSpec(CONTAINER_PORT, port, "127.0.0.1", "TCP")],
                                 volumes={volume_of(name): DATA_PATH}, var_volume=False, privileged=False,
                                 tmpfs=[]))
        reg = get(engine, name)
        wait_answering(reg, wait)
        return reg
    except BaseException:
        delete(engine, name)
        raise


def wait_answering(reg: Registry, timeout: float) -> None:
    """Until the registry's API answers on the host (the engine's port
    forwarding may take a moment under rootless engines)."""
    deadline = time.monotonic() + timeout
    url = f"http://127.0.0.1:{reg.port}/v2/"
    last = "no answer yet"
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as res:
                if res.status == 200:
                    return
        except (urllib.error.URLError, OSError) as e:
            last = str(getattr(e, "reason", e))
        if time.monotonic() > deadline:
            raise RegistryError(f"registry {reg.name} does not answer on {url} ({last})",
                                fix=f"see its log: docker/podman logs {reg.name}")
        time.sleep(0.5)


def running(engine, name: str) -> Registry:
    """The registry, started again if it was stopped (by hand, or by an
    engine that does not restart containers at boot); back once it answers."""
    reg = get(engine, name)
    if reg.state != "running":
        engine.start_containers([reg.name])
        reg = get(engine, name)
        wait_answering(reg, 30)
    return reg


def delete(engine, name: str) -> bool:
    """Remove the registry, its data volume and its network; False when
    there was none. Clusters it was connected to keep running; their nodes
    then find nothing at its address."""
    found = any(r.name == name for r in list_registries(engine))
    engine.remove_containers([name] if found else [])
    engine.remove_volumes(labels_of(name))
    if engine.network_exists(network_of(name)):
        engine.delete_network(network_of(name))
    return found


def leave_network(engine, network: str) -> None:
    """Detach every registry from a network (kindlike.cluster.nodes does it
    before deleting a cluster's)."""
    detach_registries(engine, network)