"""The one small interface every container engine implements.

Cluster code only ever talks to an `Engine` and to node names; it never knows
whether Docker or Podman runs the nodes (kind's `Provider` is the model).
"""
from __future__ import annotations

import abc
import dataclasses
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class EngineInfo:
    """Facts about the engine that decide how nodes are configured."""

    name: str  # "docker" or "podman"
    version: str
    rootless: bool
    cgroup_version: int  # 1 or 2
    cgroup_driver: str  # "cgroupfs", "systemd" or "none"
    memory_limit: bool
    pids_limit: bool
    cpu_limit: bool
    endpoint: str = ""

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class PortSpec:
    """A port to publish. host_port 0 = kindlike picks a free port before
    starting the node; -1 = the engine picks (read back after start)."""

    container_port: int
    host_port: int = -1
    listen_address: str = "127.0.0.1"
    protocol: str = "TCP"  # TCP | UDP | SCTP


@dataclass(frozen=True)
class MountSpec:
    host_path: str
    container_path: str
    read_only: bool = False
    propagation: str = "None"  # None | HostToContainer | Bidirectional
    selinux_relabel: bool = False


@dataclass
class NodeSpec:
    """Everything an engine needs to start one node container."""

    name: str
    image: str
    network: str
    labels: dict[str, str] = field(default_factory=dict)
    ports: list[PortSpec] = field(default_factory=list)
    mounts: list[MountSpec] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    # Extra devices (e.g. /dev/fuse under rootless) and tmpfs targets.
    devices: list[str] = field(default_factory=list)
    tmpfs: list[str] = field(default_factory=lambda: ["/tmp", "/run"])
    # Anonymous volume for /var: containerd's state must not sit on the
    # container's overlay root (overlay-on-overlay breaks its snapshotter).
    var_volume: bool = True
    command: list[str] | None = None
    # Its fixed address on the cluster network (kept across restarts: the
    # certificates, etcd's peer URLs and the kubelet's node IP name it);
    # "" = the engine picks one.
    ip: str = ""
    # The load balancer is not a node: no privileges, its own entrypoint,
    # and an ordinary stop signal.
    privileged: bool = True
    entrypoint: list[str] | None = None
    # The name inside the container, and more names it has on the network;
    # "" = its name. A node started from a snapshot keeps the snapshot's
    # node names (kindlike.snapshot).
    hostname: str = ""
    aliases: list[str] = field(default_factory=list)
    # Named volumes {volume: path in the container}, created with the
    # container's labels; they outlive the container (a registry's data).
    volumes: dict[str, str] = field(default_factory=dict)
    # CPU and memory limits; 0 = none (kindlike.noderesources).
    cpus: float = 0.0
    memory: int = 0  # bytes


@dataclass(frozen=True)
class Container:
    """A container as listed by the engine, with kindlike's labels."""

    name: str
    id: str
    image: str
    state: str  # running, exited, created, ...
    labels: dict[str, str]


@dataclass(frozen=True)
class BindMount:
    """A host path mounted into a container."""

    source: str
    destination: str
    read_only: bool = False


@dataclass(frozen=True)
class ContainerRecord:
    """One container as the engine describes it, engine-neutral: the facts
    cluster code needs (the engine's own document stays in engines/)."""

    name: str
    id: str
    image_id: str
    state: str  # running, exited, created, ...
    running: bool
    exit_code: int
    pid: int  # 0 when not running
    labels: dict[str, str]
    entrypoint: list[str]
    command: list[str]
    mounts: list[BindMount]  # bind mounts only; volumes are the engine's


@dataclass(frozen=True)
class ImageRecord:
    """An image as listed by the engine."""

    id: str
    tags: list[str]
    labels: dict[str, str]
    size: int  # bytes


@dataclass(frozen=True)
class ExecResult:
    code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return (self.stdout + ("\n" if self.stdout and self.stderr else "") + self.stderr).strip()


class ContainerNotCreated(Exception):
    """The engine refused to create a container; the SDK's error is the cause."""


class Engine(abc.ABC):
    """A container engine that can run kindlike nodes."""

    name: str = "engine"

    # -- facts -------------------------------------------------------------
    @abc.abstractmethod
    def info(self) -> EngineInfo: ...

    def at(self, url: str) -> "Engine":
        """The same kind of engine at another endpoint (another host's),
        connected once and kept while this one is."""
        peers = self.__dict__.setdefault("_peers", {})
        if url not in peers:
            peers[url] = self.connect_at(url)
        return peers[url]

    @abc.abstractmethod
    def connect_at(self, url: str) -> "Engine":
        """A new connection to the same kind of engine at `url`."""

    # -- networks ----------------------------------------------------------
    @abc.abstractmethod
    def ensure_network(self, name: str, labels: dict[str, str]) -> None:
        """Create a user-defined bridge network (with DNS) unless it exists."""

    @abc.abstractmethod
    def delete_network(self, name: str) -> bool:
        """Remove the network; False when it did not exist."""

    @abc.abstractmethod
    def network_exists(self, name: str) -> bool: ...

    @abc.abstractmethod
    def network_subnet(self, name: str) -> str:
        """The network's IPv4 subnet (CIDR), which node addresses are taken from."""

    # -- containers --------------------------------------------------------
    @abc.abstractmethod
    def run_node(self, spec: NodeSpec) -> None:
        """Create and start a node container (privileged, private cgroupns)."""

    @abc.abstractmethod
    def stop_containers(self, names: list[str], timeout: int = 30) -> None:
        """Stop them (the engine will not restart them until started again)."""

    @abc.abstractmethod
    def start_containers(self, names: list[str]) -> None:
        """Start stopped containers; running ones are left as they are."""

    @abc.abstractmethod
    def list_containers(self, labels: dict[str, str] | None = None, all: bool = True) -> list[Container]:
        """Containers carrying every given label (value None = any value)."""

    @abc.abstractmethod
    def container(self, name: str) -> ContainerRecord:
        """What the engine knows of a container; EngineError when there is none."""

    @abc.abstractmethod
    def inspect_text(self, name: str) -> str:
        """The engine's own description of a container, as JSON text, for a
        person to read (export logs); code reads `container()`."""

    @abc.abstractmethod
    def connect_network(self, name: str, network: str, aliases: list[str], ip: str | None = None) -> None:
        """Attach a running container to one more network, known there by
        `aliases`, at address `ip` when given (kept across restarts); already
        attached is fine."""

    @abc.abstractmethod
    def disconnect_network(self, name: str, network: str) -> None:
        """Detach a container from a network; not attached is fine."""

    @abc.abstractmethod
    def container_networks(self, name: str) -> list[str]:
        """The networks a container is attached to."""

    @abc.abstractmethod
    def container_ips(self, name: str, network: str) -> tuple[str, str]:
        """(IPv4, IPv6) of the container on the network; "" when absent."""

    @abc.abstractmethod
    def published_port(self, name: str, container_port: int, protocol: str = "TCP") -> tuple[str, int]:
        """(host address, host port) a container port is published on."""

    @abc.abstractmethod
    def exec(
        self,
        name: str,
        cmd: list[str],
        *,
        stdin: bytes | None = None,
        env: dict[str, str] | None = None,
        timeout: float | None = None,
    ) -> ExecResult:
        """Run a command in a running container and wait for it."""

    @abc.abstractmethod
    def copy_to(self, name: str, src: Path | bytes, dest: str, mode: int = 0o644) -> None:
        """Copy a host file (or bytes) to the absolute path `dest` in the node."""

    @abc.abstractmethod
    def copy_from(self, name: str, src: str, dest: Path) -> None:
        """Copy a file or directory from the node to the host path `dest`."""

    @abc.abstractmethod
    def logs(self, name: str, tail: int | None = None) -> str: ...

    @abc.abstractmethod
    def remove_containers(self, names: list[str]) -> None:
        """Force-remove containers and their anonymous volumes; missing ones are fine."""

    @abc.abstractmethod
    def remove_volumes(self, labels: dict[str, str]) -> list[str]:
        """Remove named volumes carrying the labels; returns their names."""

    @abc.abstractmethod
    def list_volumes(self, labels: dict[str, str]) -> list[str]: ...

    @abc.abstractmethod
    def list_networks(self, labels: dict[str, str]) -> list[str]: ...

    # -- images ------------------------------------------------------------
    @abc.abstractmethod
    def image_exists(self, ref: str) -> bool: ...

    @abc.abstractmethod
    def list_images(self, labels: dict[str, str | None]) -> list[ImageRecord]:
        """Images carrying every given label (value None = any value)."""

    @abc.abstractmethod
    def commit(self, name: str, repository: str, tag: str, changes: list[str]) -> str:
        """Write a container's filesystem (not its volumes) as an image, with
        Dockerfile instructions (ENTRYPOINT, LABEL, ...) applied; its id."""

    @abc.abstractmethod
    def run_task(self, name: str, image: str, command: list[str], *, volumes: dict[str, str],
                 tmpfs: list[str], labels: dict[str, str], timeout: float) -> ExecResult:
        """Run `command` (as the entrypoint) in a new privileged container
        with no network and named volumes mounted read-only ({volume: path}),
        to its end. The container is kept (to commit it); remove it after."""

    @abc.abstractmethod
    def image_labels(self, ref: str) -> dict[str, str]: ...

    @abc.abstractmethod
    def image_id(self, ref: str) -> str: ...

    @abc.abstractmethod
    def remove_image(self, ref: str) -> None: ...

    @abc.abstractmethod
    def tag_image(self, ref: str, new: str) -> None:
        """Give an image of the engine's store one more name."""

    @abc.abstractmethod
    def push_image(self, ref: str) -> None:
        """Push an image of the engine's store to the registry its name
        starts with; a registry on localhost is spoken to over plain HTTP."""

    @abc.abstractmethod
    def build_image(self, context: Path, tag: str, dockerfile: str = "Dockerfile",
                    buildargs: dict[str, str] | None = None) -> None:
        """Build an image through the engine's API (no progress shown; the
        node image build uses the CLI for that)."""

    def image_candidates(self, ref: str) -> list[str]:
        """Names under which this engine may store the image a user calls `ref`."""
        return [ref]

    @abc.abstractmethod
    def run_limited(self, image: str, command: list[str], *, memory: int, pids: int, labels: dict[str, str],
                    timeout: int) -> str:
        """Run a throwaway container (memory and pids limits, private cgroup
        namespace, no network) to its end and return its output; it is
        always removed. ContainerNotCreated when the engine refuses it."""

    @abc.abstractmethod
    def load_image_archive(self, path: Path) -> None:
        """Load a docker-save format archive into the engine's image store."""

    @abc.abstractmethod
    def save_images(self, refs: list[str], dest: Path) -> None:
        """Write a docker-save format archive of the images to `dest`."""

    @abc.abstractmethod
    def build_command(self) -> list[str]:
        """argv prefix of the engine CLI, e.g. ["docker", "-H", "unix://..."].

        Image builds stream progress and honour .dockerignore best through
        the CLI, so builds shell out to it rather than to the API."""

    def close(self) -> None:
        """Release connections and anything the engine object started."""

    def __enter__(self) -> "Engine":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
