"""Podman (rootless or rootful) through podman-py and Podman's API service.

Podman has no always-on daemon: when its API socket is not answering,
kindlike starts `podman system service` for this user and stops it in
close(), so a user never has to enable podman.socket first.
"""
from __future__ import annotations

import atexit
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

import podman
import podman.errors

from kindlike.constants import VAR_VOLUME_SUFFIX
from kindlike.engines.base import Container, EngineInfo, NodeSpec
from kindlike.engines.common import (
    PROPAGATION,
    SdkEngine,
    has_labels,
    limits,
    push_errors,
    resolve_host_port,
    retry_engine,
)
from kindlike.engines.common import label_filter as _label_filter
from kindlike.errors import EngineError, NoEngineError
from kindlike.imageref import podman_local_name


def default_socket() -> str:
    if os.environ.get("CONTAINER_HOST"):
        return os.environ["CONTAINER_HOST"]
    if os.getuid() == 0:
        return "unix:///run/podman/podman.sock"
    runtime = os.environ.get("XDG_RUNTIME_DIR") or f"/run/user/{os.getuid()}"
    return f"unix://{runtime}/podman/podman.sock"


def _answers(url: str) -> bool:
    try:
        with podman.PodmanClient(base_url=url, timeout=5) as c:
            return bool(c.ping())
    except Exception:
        return False


class PodmanEngine(SdkEngine):
    name = "podman"

    def __init__(self, client: podman.PodmanClient, url: str, service: subprocess.Popen | None):
        self.client = client
        self.url = url
        self._service = service
        self._service_dir: str | None = None
        self._info: EngineInfo | None = None

    def connect_at(self, url: str) -> "PodmanEngine":
        return PodmanEngine.connect(url, start_service=False)

    @classmethod
    def connect(cls, url: str | None = None, start_service: bool = True) -> "PodmanEngine":
        url = url or default_socket()
        if _answers(url):
            return cls(podman.PodmanClient(base_url=url, timeout=300), url, None)
        if not start_service or not shutil.which("podman"):
            raise NoEngineError(
                f"cannot reach Podman's API at {url}" + ("" if shutil.which("podman") else " and podman is not installed"),
                fix="install podman, or start its service: podman system service --time=0 &",
            )
        # Our own private socket, so we never fight a user's podman.socket.
        tmp = tempfile.mkdtemp(prefix="kindlike-podman-", dir=os.environ.get("XDG_RUNTIME_DIR") or None)
        sock = f"unix://{tmp}/podman.sock"
        # CONTAINER_HOST would turn the podman CLI into a remote client.
        env = {k: v for k, v in os.environ.items() if k not in ("CONTAINER_HOST", "CONTAINER_CONNECTION")}
        proc = subprocess.Popen(
            ["podman", "system", "service", "--time=0", sock],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=open(os.path.join(tmp, "service.log"), "wb"),
            start_new_session=True,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                log = Path(tmp, "service.log").read_text(errors="replace").strip().splitlines()[-3:]
                shutil.rmtree(tmp, ignore_errors=True)
                raise NoEngineError("`podman system service` exited at once: " + " | ".join(log),
                                    fix="run `podman info` to see what Podman needs on this host")
            if _answers(sock):
                eng = cls(podman.PodmanClient(base_url=sock, timeout=300), sock, proc)
                eng._service_dir = tmp
                atexit.register(eng.close)
                return eng
            time.sleep(0.1)
        proc.kill()
        shutil.rmtree(tmp, ignore_errors=True)
        raise NoEngineError("`podman system service` did not answer within 20s")

    def info(self) -> EngineInfo:
        if self._info is None:
            i = self.client.info()
            host = i.get("host", {})
            ctrls = set(host.get("cgroupControllers") or [])
            self._info = EngineInfo(
                name="podman",
                version=(i.get("version") or {}).get("Version", ""),
                rootless=bool((host.get("security") or {}).get("rootless")),
                cgroup_version=2 if host.get("cgroupVersion") == "v2" else 1,
                cgroup_driver=host.get("cgroupManager") or "cgroupfs",
                memory_limit="memory" in ctrls,
                pids_limit="pids" in ctrls,
                cpu_limit="cpu" in ctrls,
                endpoint=self.url,
            )
        return self._info

    # -- networks ----------------------------------------------------------
    def network_exists(self, name: str) -> bool:
        return self.client.networks.exists(name)

    @retry_engine
    def ensure_network(self, name: str, labels: dict[str, str]) -> None:
        if self.network_exists(name):
            return
        try:
            self.client.networks.create(name, driver="bridge", dns_enabled=True, labels=labels)
        except podman.errors.APIError as e:
            if "already exists" not in str(e):
                raise EngineError(f"cannot create network {name}: {e}") from e

    def network_subnet(self, name: str) -> str:
        # Podman writes every network's subnet into its config, chosen or not,
        # so fixed addresses need nothing more.
        for sn in self.client.networks.get(name).attrs.get("subnets") or []:
            if sn.get("subnet") and ":" not in sn["subnet"]:
                return sn["subnet"]
        raise EngineError(f"network {name} has no IPv4 subnet")

    def delete_network(self, name: str) -> bool:
        if not self.network_exists(name):
            return False
        self.client.networks.get(name).remove(force=True)
        return True

    def list_networks(self, labels):
        # networks.list only takes one value per filter key: match here.
        return [n.name for n in self.client.networks.list()
                if has_labels(n.attrs.get("labels") or n.attrs.get("Labels") or {}, labels)]

    # -- containers --------------------------------------------------------
    def run_node(self, spec: NodeSpec) -> None:
        # Checked first: the SDKs would otherwise try to pull a missing image,
        # which with no registry reachable hangs until the network times out.
        if not self.image_exists(spec.image):
            raise EngineError(f"image {spec.image} not found", fix="build it with `kindlike build node-image`")
        ports: dict[str, list] = {}
        for p in map(resolve_host_port, spec.ports):
            binding = {"ip": p.listen_address}
            if p.host_port != -1:
                binding["port"] = p.host_port
            ports.setdefault(f"{p.container_port}/{p.protocol.lower()}", []).append(binding)
        mounts = [{"type": "tmpfs", "source": "tmpfs", "target": t} for t in spec.tmpfs]
        for m in spec.mounts:
            mount = {"type": "bind", "source": m.host_path, "target": m.container_path,
                     "read_only": m.read_only, "propagation": PROPAGATION.get(m.propagation, "rprivate")}
            if m.selinux_relabel:
                mount["relabel"] = "z"
            mounts.append(mount)
        volumes = {}
        if spec.var_volume:
            vol = spec.name + VAR_VOLUME_SUFFIX
            self.client.volumes.create(name=vol, labels=spec.labels)
            volumes[vol] = {"bind": "/var", "mode": "rw"}
        for vol, path in spec.volumes.items():
            if not self.client.volumes.exists(vol):
                self.client.volumes.create(name=vol, labels=spec.labels)
            volumes[vol] = {"bind": path, "mode": "rw"}
        try:
            c = self.client.containers.create(
                spec.image,
                command=spec.command,
                name=spec.name,
                hostname=spec.hostname or spec.name,
                entrypoint=spec.entrypoint,
                tty=True,
                # Podman's systemd mode mounts the host's root-owned name=systemd
                # hierarchy into the node; the kubelet then cannot create kubepods.
                systemd="false",
                labels=spec.labels,
                network_mode="bridge",
                networks={spec.network: {"aliases": [spec.name, *spec.aliases],
                                         **({"static_ips": [spec.ip]} if spec.ip else {})}},
                # "always" is what podman-restart.service starts again at boot;
                # `kindlike stop` (a stop by the user) is not undone by it.
                restart_policy={"Name": "always"},
                environment={"container": "podman", **spec.env},
                devices=list(spec.devices),
                mounts=mounts,
                volumes=volumes,
                ports=ports,
                **limits(spec),
                **({"privileged": True, "cgroupns": "private",
                    "stop_signal": int(signal.SIGRTMIN) + 3}  # systemd halts on SIGRTMIN+3
                   if spec.privileged else {}),
            )
            c.start()
        except podman.errors.ImageNotFound as e:
            raise EngineError(f"image {spec.image} not found", fix="build it with `kindlike build node-image`") from e
        except podman.errors.APIError as e:
            raise EngineError(f"cannot start node {spec.name}: {e}") from e

    def list_containers(self, labels=None, all=True) -> list[Container]:
        filters = _podman_filters(labels) if labels else None
        out = []
        for c in self.client.containers.list(all=all, filters=filters):
            # The list endpoint gives State as a plain string and Image as a
            # name; inspect gives objects. Accept both.
            a = c.attrs
            state = a.get("State")
            state = state.get("Status", "") if isinstance(state, dict) else (state or "")
            image = a.get("Image") if isinstance(a.get("Image"), str) else a.get("ImageName", "")
            out.append(Container(c.name, c.id, image or "", state, a.get("Labels") or {}))
        return out

    def connect_network(self, name: str, network: str, aliases: list[str], ip: str | None = None) -> None:
        # podman-py sends Docker's EndpointConfig.Aliases to the libpod
        # endpoint, which reads a flat `aliases`: the aliases were dropped and
        # the container answered only to its name on that network.
        if network in self.container_networks(name):
            return
        res = self.client.api.post(f"/networks/{quote(network, safe='')}/connect",
                                   data=json.dumps({"container": name, "aliases": aliases,
                                                    **({"static_ips": [ip]} if ip else {})}))
        if res.status_code >= 400:
            raise EngineError(f"cannot attach {name} to network {network}: {res.text.strip()}")

    def disconnect_network(self, name: str, network: str) -> None:
        # Detached while running, a container's DNS entry stays in the
        # network's aardvark-dns file (Podman 4, rootless): aardvark-dns
        # then fails on the next network's start and every node name stops
        # resolving. Detached while stopped, the entry goes with it.
        if network not in self.container_networks(name):
            return
        c = self.client.containers.get(name)
        running = c.status == "running"
        if running:
            c.stop(timeout=5)
        try:
            self.client.networks.get(network).disconnect(name)
        finally:
            if running:
                c.start()

    def remove_containers(self, names: list[str]) -> None:
        # Podman's forced removal stops the container first with its stop
        # timeout: 10 s for a port forwarder, whose socat as PID 1 ignores
        # SIGTERM (Docker kills at once). A removal needs no clean stop.
        for name in names:
            try:
                c = self.client.containers.get(name)
            except podman.errors.NotFound:
                continue
            if c.status == "running":
                try:
                    c.kill()
                except podman.errors.APIError:
                    pass  # it stopped by itself meanwhile; the removal still runs
            c.remove(force=True, v=True)

    def _task_storage(self, volumes, tmpfs):
        return {"volumes": {v: {"bind": path, "mode": "ro"} for v, path in volumes.items()},
                "mounts": [{"type": "tmpfs", "source": "tmpfs", "target": t} for t in tmpfs]}

    def list_volumes(self, labels):
        # Podman 4 ORs a volume list's label filters (containers AND them):
        # {cluster, address} matched every volume of the cluster, and
        # `delete node` removed them all, forced, with their containers.
        return [v.name for v in self.client.volumes.list(filters=_podman_filters(labels))
                if has_labels(v.attrs.get("Labels") or {}, labels)]

    # -- images ------------------------------------------------------------
    def image_candidates(self, ref: str) -> list[str]:
        # Podman keeps locally built images as localhost/NAME; docker.io/NAME
        # (what a pod spec's NAME means) finds them too.
        local = podman_local_name(ref)
        return [ref, local] if local else [ref]

    def image_exists(self, ref: str) -> bool:
        return self.client.images.exists(ref)

    def push_image(self, ref: str) -> None:
        # podman-py's push returns before the service has pushed; the raw
        # call's body is the push's progress, with its errors. A registry
        # on localhost has no TLS (Podman would otherwise insist on it).
        tls = not ref.startswith(("localhost:", "127.0.0.1:", "localhost/"))
        res = self.client.api.post(f"/images/{quote(ref, safe='')}/push", params={"tlsVerify": tls})
        err = push_errors([res.content]) if res.ok else (res.text or f"HTTP {res.status_code}")
        if err:
            raise EngineError(f"cannot push {ref}: {err.strip()[:300]}")

    def load_image_archive(self, path: Path) -> None:
        list(self.client.images.load(file_path=str(path)))

    def save_images(self, refs: list[str], dest: Path) -> None:
        res = self.client.api.get("/images/export", params={"references": refs, "format": "docker-archive", "compress": False}, stream=True)
        res.raise_for_status()
        with open(dest, "wb") as f:
            for chunk in res.iter_content(1 << 20):
                f.write(chunk)

    def build_command(self) -> list[str]:
        # The CLI talks to local storage directly; no socket needed.
        return ["podman"]

    def close(self) -> None:
        try:
            self.client.close()
        finally:
            if self._service is not None and self._service.poll() is None:
                self._service.terminate()
                try:
                    self._service.wait(5)
                except subprocess.TimeoutExpired:
                    self._service.kill()
            self._service = None
            if self._service_dir:
                shutil.rmtree(self._service_dir, ignore_errors=True)
                self._service_dir = None



def _podman_filters(labels: dict[str, str | None]) -> list[str]:
    # podman-py wants a list of "filter=value" strings; a dict or a list
    # value under "label" is sent as its Python repr and matches nothing.
    return [f"label={f}" for f in _label_filter(labels)]
