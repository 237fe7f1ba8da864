"""Docker (rootful or rootless) through docker-py."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import docker
import docker.errors
import docker.types

from kindlike.constants import VAR_VOLUME_SUFFIX
from kindlike.engines.base import Container, EngineInfo, NodeSpec
from kindlike.engines.common import SdkEngine, bind_string, limits, push_errors, resolve_host_port, retry_engine
from kindlike.engines.common import label_filter as _label_filter
from kindlike.errors import EngineError, NoEngineError


def candidate_hosts() -> list[str]:
    """Where a Docker daemon may listen, in the order the docker CLI would try:
    DOCKER_HOST, then the rootful socket, then the user's rootless socket."""
    if os.environ.get("DOCKER_HOST"):
        return [os.environ["DOCKER_HOST"]]
    hosts = ["unix:///var/run/docker.sock"]
    runtime = os.environ.get("XDG_RUNTIME_DIR") or f"/run/user/{os.getuid()}"
    hosts.append(f"unix://{runtime}/docker.sock")
    return hosts


class DockerEngine(SdkEngine):
    name = "docker"

    def __init__(self, client: docker.DockerClient, host: str):
        self.client = client
        self.host = host
        self._info: EngineInfo | None = None

    def connect_at(self, url: str) -> "DockerEngine":
        return DockerEngine.connect(url)

    @classmethod
    def connect(cls, host: str | None = None) -> "DockerEngine":
        tried = []
        for host in [host] if host else candidate_hosts():
            path = host[len("unix://"):] if host.startswith("unix://") else None
            if path and not os.path.exists(path):
                tried.append(f"{host} (no socket)")
                continue
            try:
                client = docker.DockerClient(base_url=host, timeout=300)
                client.ping()
                return cls(client, host)
            except Exception as e:  # permission denied, refused, ...
                tried.append(f"{host} ({type(e).__name__}: {str(e)[:80]})")
        raise NoEngineError(
            "cannot reach a Docker daemon: " + "; ".join(tried),
            fix="start Docker (rootful: dockerd; rootless: dockerd-rootless.sh) or set DOCKER_HOST",
        )

    def info(self) -> EngineInfo:
        if self._info is None:
            i = self.client.info()
            secopts = " ".join(i.get("SecurityOptions") or [])
            self._info = EngineInfo(
                name="docker",
                version=i.get("ServerVersion", ""),
                rootless="name=rootless" in secopts,
                cgroup_version=int(i.get("CgroupVersion") or 1),
                cgroup_driver=i.get("CgroupDriver") or "cgroupfs",
                memory_limit=bool(i.get("MemoryLimit")),
                pids_limit=bool(i.get("PidsLimit")),
                cpu_limit=bool(i.get("CpuCfsQuota")),
                endpoint=self.host,
            )
        return self._info

    # -- networks ----------------------------------------------------------
    def network_exists(self, name: str) -> bool:
        return any(n.name == name for n in self.client.networks.list(names=[name]))

    @retry_engine
    def ensure_network(self, name: str, labels: dict[str, str]) -> None:
        # Docker gives a container a fixed address only on a network whose
        # subnet was given at create: so let Docker choose a free subnet (it
        # avoids the host's routes), then create the network again with that
        # subnet written out. A concurrent create may take the same subnet in
        # between; that shows as an overlap and is retried.
        options = {
            # Masquerade so nodes reach the outside; ICC for node-to-node VXLAN.
            "com.docker.network.bridge.enable_ip_masquerade": "true",
            "com.docker.network.bridge.enable_icc": "true",
        }
        for _ in range(8):
            if self.network_exists(name):
                return
            try:
                probe = self.client.networks.create(name, driver="bridge", labels=labels, options=options)
                subnet = self._subnet_of(probe.id)
                probe.remove()
                self.client.networks.create(
                    name, driver="bridge", labels=labels, options=options,
                    ipam=docker.types.IPAMConfig(pool_configs=[docker.types.IPAMPool(subnet=subnet)]))
                return
            except docker.errors.APIError as e:
                if "already exists" in str(e):
                    return
                if "overlap" not in str(e).lower():
                    raise EngineError(f"cannot create network {name}: {e.explanation or e}") from e
        raise EngineError(f"cannot create network {name}: every free subnet was taken while trying",
                          fix="retry; fewer clusters created at the same moment")

    def _subnet_of(self, network_id: str) -> str:
        configs = (self.client.api.inspect_network(network_id).get("IPAM") or {}).get("Config") or []
        for c in configs:
            if c.get("Subnet") and ":" not in c["Subnet"]:
                return c["Subnet"]
        raise EngineError(f"network {network_id[:12]} has no IPv4 subnet")

    def network_subnet(self, name: str) -> str:
        return self._subnet_of(name)

    def delete_network(self, name: str) -> bool:
        found = [n for n in self.client.networks.list(names=[name]) if n.name == name]
        for n in found:
            n.remove()
        return bool(found)

    def list_networks(self, labels):
        return [n.name for n in self.client.networks.list(filters={"label": _label_filter(labels)})]

    # -- containers --------------------------------------------------------
    def run_node(self, spec: NodeSpec) -> None:
        # Checked first: the SDKs would otherwise try to pull a missing image,
        # which with no registry reachable hangs until the network times out.
        if not self.image_exists(spec.image):
            raise EngineError(f"image {spec.image} not found", fix="build it with `kindlike build node-image`")
        ports: dict[str, list] = {}
        for p in map(resolve_host_port, spec.ports):
            key = f"{p.container_port}/{p.protocol.lower()}"
            ports.setdefault(key, []).append((p.listen_address, None if p.host_port == -1 else p.host_port))
        volumes = [bind_string(m) for m in spec.mounts]
        if spec.var_volume:
            vol = spec.name + VAR_VOLUME_SUFFIX
            self.client.volumes.create(name=vol, labels=spec.labels)
            volumes.append(f"{vol}:/var")
        for vol, path in spec.volumes.items():
            self.client.volumes.create(name=vol, labels=spec.labels)
            volumes.append(f"{vol}:{path}")
        node = {"privileged": True, "cgroupns": "private",
                "security_opt": ["seccomp=unconfined", "apparmor=unconfined"]} if spec.privileged else {}
        endpoint = self.client.api.create_endpoint_config(ipv4_address=spec.ip or None,
                                                          aliases=[spec.name, *spec.aliases])
        try:
            self.client.containers.run(
                spec.image,
                command=spec.command,
                entrypoint=spec.entrypoint,
                name=spec.name,
                hostname=spec.hostname or spec.name,
                detach=True,
                tty=True,  # systemd writes its boot progress to the console = logs
                tmpfs={t: "" for t in spec.tmpfs},
                labels=spec.labels,
                network=spec.network,
                networking_config={spec.network: endpoint},
                # Back after the daemon restarts (a reboot), not after `kindlike stop`.
                restart_policy={"Name": "unless-stopped"},
                **node,
                init=False,
                environment={"container": "docker", **spec.env},
                devices=[f"{d}:{d}:rwm" for d in spec.devices],
                volumes=volumes,
                ports=ports,
                **limits(spec),
            )
        except docker.errors.ImageNotFound as e:
            raise EngineError(f"image {spec.image} not found", fix="build it with `kindlike build node-image`") from e
        except docker.errors.APIError as e:
            raise EngineError(f"cannot start node {spec.name}: {e.explanation or e}") from e

    def list_containers(self, labels=None, all=True) -> list[Container]:
        filters = {"label": _label_filter(labels or {})} if labels else {}
        out = []
        for c in self.client.containers.list(all=all, filters=filters):
            out.append(Container(c.name, c.id, (c.attrs.get("Config") or {}).get("Image", ""), c.status, c.labels))
        return out

    def _images_with(self, labels):
        # docker-py inspects every image it lists: filtered by the daemon,
        # a store of hundreds of images costs no second.
        return self.client.images.list(filters={"label": _label_filter(labels)})

    def _task_storage(self, volumes, tmpfs):
        return {"volumes": [f"{v}:{path}:ro" for v, path in volumes.items()], "tmpfs": {t: "" for t in tmpfs}}

    def list_volumes(self, labels):
        return [v.name for v in self.client.volumes.list(filters={"label": _label_filter(labels)})]

    # -- images ------------------------------------------------------------
    def image_exists(self, ref: str) -> bool:
        try:
            self.client.images.get(ref)
            return True
        except docker.errors.ImageNotFound:
            return False

    def push_image(self, ref: str) -> None:
        # The daemon reports a failed push in the progress stream, not as an
        # HTTP error (Docker speaks plain HTTP to localhost by itself).
        try:
            err = push_errors(self.client.images.push(ref, stream=True))
        except docker.errors.APIError as e:
            err = str(e.explanation or e)
        if err:
            raise EngineError(f"cannot push {ref}: {err}")

    def load_image_archive(self, path: Path) -> None:
        with open(path, "rb") as f:
            self.client.images.load(f)

    def save_images(self, refs: list[str], dest: Path) -> None:
        # One archive holding every image (shared layers once): docker-py
        # only wraps the single-image form of the API, the CLI has both.
        res = subprocess.run([*self.build_command(), "save", "-o", str(dest), *refs], capture_output=True,
                             text=True, timeout=1800)
        if res.returncode != 0:
            raise EngineError(f"docker save {' '.join(refs)} failed: {res.stderr.strip()[-300:]}")

    def build_command(self) -> list[str]:
        return ["docker", "-H", self.host]

    def close(self) -> None:
        self.client.close()

