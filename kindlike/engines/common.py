"""Engine-neutral helpers shared by the Docker and Podman implementations.

docker-py and podman-py expose near-identical container objects (exec_run,
put_archive, get_archive, logs, attrs), so everything that only touches a
container object lives here once.
"""
from __future__ import annotations

import io
import json
import secrets
import shlex
import socket
import tarfile
import time
from pathlib import Path, PurePosixPath

import tenacity

from kindlike.engines.base import (
    BindMount,
    ContainerNotCreated,
    ContainerRecord,
    Engine,
    ExecResult,
    ImageRecord,
    MountSpec,
    PortSpec,
)
from kindlike.errors import EngineError

# Engine daemons occasionally answer 5xx or drop a connection while busy
# (many parallel container starts on 2 cores); these calls are idempotent.
retry_engine = tenacity.retry(
    reraise=True,
    stop=tenacity.stop_after_attempt(4),
    wait=tenacity.wait_exponential(multiplier=0.3, max=3),
    retry=tenacity.retry_if_exception_type((ConnectionError, OSError)),
)

PROPAGATION = {"None": "rprivate", "HostToContainer": "rslave", "Bidirectional": "rshared"}


def pick_free_port(address: str, protocol: str = "TCP") -> int:
    """Ask the kernel for a free port on `address` (kind does the same for
    hostPort 0 and apiServerPort 0; the port could be taken again before the
    engine binds it, which is why -1, engine-picked, exists too)."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    kind = socket.SOCK_DGRAM if protocol.upper() == "UDP" else socket.SOCK_STREAM
    bind_to = "" if address in ("0.0.0.0", "::") else address
    with socket.socket(family, kind) as s:
        s.bind((bind_to, 0))
        return s.getsockname()[1]


def resolve_host_port(p: PortSpec) -> PortSpec:
    """Turn host_port 0 into a concrete free port; -1 stays engine-picked."""
    if p.host_port == 0:
        return PortSpec(p.container_port, pick_free_port(p.listen_address, p.protocol), p.listen_address, p.protocol)
    return p


def bind_string(m: MountSpec) -> str:
    opts = ["ro" if m.read_only else "rw", PROPAGATION.get(m.propagation, "rprivate")]
    if m.selinux_relabel:
        opts.append("z")
    return f"{m.host_path}:{m.container_path}:{','.join(opts)}"


def tar_single_file(name: str, data: bytes, mode: int) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        info.mode = mode
        tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def limits(spec) -> dict:
    """create() arguments for a NodeSpec's CPU and memory limits, the same
    for both SDKs (podman-py ignores nano_cpus: a quota per period instead).
    Swap is not added on top of the memory limit."""
    out: dict = {}
    if spec.cpus:
        out.update(cpu_period=100_000, cpu_quota=int(spec.cpus * 100_000))
    if spec.memory:
        out.update(mem_limit=spec.memory, memswap_limit=spec.memory)
    return out


def push_errors(lines) -> str:
    """The error lines of an engine's push progress (JSON lines), joined."""
    errors = []
    for line in lines:
        for part in (line.decode(errors="replace") if isinstance(line, bytes) else line).splitlines():
            try:
                doc = json.loads(part)
            except ValueError:
                continue
            if isinstance(doc, dict) and doc.get("error"):
                errors.append(str(doc.get("error")).strip())
    return "; ".join(errors)


def published_from_inspect(attrs: dict, container_port: int, protocol: str) -> tuple[str, int]:
    ports = (attrs.get("NetworkSettings") or {}).get("Ports") or {}
    bindings = ports.get(f"{container_port}/{protocol.lower()}") or []
    for b in bindings:
        if b.get("HostPort"):
            return (b.get("HostIp") or "0.0.0.0", int(b["HostPort"]))
    raise EngineError(f"port {container_port}/{protocol} of {attrs.get('Name', '?').lstrip('/')} is not published")


def _argv(value) -> list[str]:
    """An inspect's Entrypoint or Cmd: a list (Docker), or under Podman 4 a
    string of the words joined by spaces."""
    if not value:
        return []
    return shlex.split(value) if isinstance(value, str) else [str(v) for v in value]


# Mounts both engines add to every container, not the user's.
_ENGINE_MOUNTS = ("/etc/hosts", "/etc/hostname", "/etc/resolv.conf")


def record_from_inspect(attrs: dict) -> ContainerRecord:
    state = attrs.get("State") or {}
    cfg = attrs.get("Config") or {}
    mounts = [BindMount(m.get("Source", ""), m.get("Destination", ""), not m.get("RW", True))
              for m in attrs.get("Mounts") or []
              if m.get("Type") == "bind" and m.get("Destination") not in _ENGINE_MOUNTS]
    return ContainerRecord(
        name=(attrs.get("Name") or "").lstrip("/"), id=attrs.get("Id", ""), image_id=str(attrs.get("Image") or ""),
        state=str(state.get("Status", "")), running=bool(state.get("Running")),
        exit_code=int(state.get("ExitCode") or 0), pid=int(state.get("Pid") or 0),
        labels=dict(cfg.get("Labels") or {}), entrypoint=_argv(cfg.get("Entrypoint")), command=_argv(cfg.get("Cmd")),
        mounts=mounts)


def ips_from_inspect(attrs: dict, network: str) -> tuple[str, str]:
    nets = (attrs.get("NetworkSettings") or {}).get("Networks") or {}
    net = nets.get(network) or {}
    return (net.get("IPAddress") or "", net.get("GlobalIPv6Address") or "")


class SdkEngine(Engine):
    """Container-object operations common to docker-py and podman-py."""

    client = None  # set by subclasses

    def _container(self, name: str):
        try:
            return self.client.containers.get(name)
        except Exception as e:
            if _not_found(e):
                raise EngineError(f"node container {name!r} does not exist") from e
            raise

    def build_image(self, context, tag, dockerfile="Dockerfile", buildargs=None) -> None:
        self.client.images.build(path=str(context), tag=tag, dockerfile=dockerfile, buildargs=buildargs or {},
                                 rm=True)

    def run_limited(self, image, command, *, memory, pids, labels, timeout) -> str:
        # docker-py and podman-py take the same arguments here.
        try:
            c = self.client.containers.create(
                image, entrypoint=command, command=[], name=f"kindlike-probe-{secrets.token_hex(4)}", labels=labels,
                mem_limit=memory, pids_limit=pids, cgroupns="private", network_mode="none",
            )
        except Exception as e:
            raise ContainerNotCreated(str(e)) from e
        try:
            c.start()
            c.wait(timeout=timeout)
            out = c.logs(stdout=True, stderr=True)
            if not isinstance(out, (bytes, bytearray)):
                out = b"".join(out)  # podman-py streams
            return bytes(out).decode(errors="replace")
        finally:
            try:
                c.remove(force=True)
            except Exception:
                pass

    def _images_with(self, labels):
        """The SDK's image list, narrowed by the engine where it can."""
        return self.client.images.list()

    def list_images(self, labels):
        # Filtered here (too): the SDKs encode label filters differently.
        out = []
        for img in self._images_with(labels):
            have = img.labels or {}
            if has_labels(have, labels):
                out.append(ImageRecord(img.id, list(img.tags or []), dict(have), int(img.attrs.get("Size") or 0)))
        return out

    def commit(self, name, repository, tag, changes):
        try:
            return self._container(name).commit(repository=repository, tag=tag, changes=changes).id
        except EngineError:
            raise
        except Exception as e:
            raise EngineError(f"cannot write container {name} as an image: {e}") from e

    def _task_storage(self, volumes: dict[str, str], tmpfs: list[str]) -> dict:
        """create() arguments mounting named volumes read-only and tmpfs."""
        raise NotImplementedError

    def run_task(self, name, image, command, *, volumes, tmpfs, labels, timeout):
        c = self.client.containers.create(image, entrypoint=command, command=[], name=name, labels=labels,
                                          privileged=True, network_mode="none",
                                          **self._task_storage(volumes, tmpfs))
        c.start()
        res = c.wait(timeout=timeout)
        code = res.get("StatusCode", -1) if isinstance(res, dict) else int(res)
        out = c.logs(stdout=True, stderr=True)
        if not isinstance(out, (bytes, bytearray)):
            out = b"".join(out)  # podman-py streams
        return ExecResult(code, bytes(out).decode(errors="replace"), "")

    def tag_image(self, ref: str, new: str) -> None:
        # The tag is what follows the last ":" after the last "/" (a
        # registry's port is not one).
        repo, tag = (new.rsplit(":", 1) if ":" in new.rsplit("/", 1)[-1] else (new, "latest"))
        try:
            ok = self.client.images.get(ref).tag(repo, tag)
        except Exception as e:
            raise EngineError(f"cannot tag {ref} as {new}: {e}") from e
        if ok is False:
            raise EngineError(f"cannot tag {ref} as {new}")

    def image_labels(self, ref: str) -> dict[str, str]:
        return self.client.images.get(ref).labels or {}

    def image_id(self, ref: str) -> str:
        return self.client.images.get(ref).id

    def remove_image(self, ref: str) -> None:
        try:
            self.client.images.remove(ref, force=True)
        except Exception as e:
            if not _not_found(e):
                raise

    def remove_volumes(self, labels):
        names = self.list_volumes(labels)
        for n in names:
            try:
                self.client.volumes.get(n).remove(force=True)
            except Exception as e:
                if not _not_found(e):
                    raise
        return names

    def _attrs(self, name: str) -> dict:
        return self._container(name).attrs

    def container(self, name: str) -> ContainerRecord:
        return record_from_inspect(self._attrs(name))

    def inspect_text(self, name: str) -> str:
        return json.dumps(self._attrs(name), indent=2, default=str) + "\n"
    def container_networks(self, name: str) -> list[str]:
        attrs = self._attrs(name)
        return sorted((attrs.get("NetworkSettings") or {}).get("Networks") or {})

    def connect_network(self, name: str, network: str, aliases: list[str], ip: str | None = None) -> None:
        if network in self.container_networks(name):
            return
        try:
            self.client.networks.get(network).connect(name, aliases=aliases, ipv4_address=ip)
        except Exception as e:
            raise EngineError(f"cannot attach {name} to network {network}: {e}") from e

    def disconnect_network(self, name: str, network: str) -> None:
        if network in self.container_networks(name):
            self.client.networks.get(network).disconnect(name)

    def container_ips(self, name: str, network: str) -> tuple[str, str]:
        return ips_from_inspect(self._attrs(name), network)

    def published_port(self, name: str, container_port: int, protocol: str = "TCP") -> tuple[str, int]:
        return published_from_inspect(self._attrs(name), container_port, protocol)

    def exec(self, name, cmd, *, stdin=None, env=None, timeout=None) -> ExecResult:
        c = self._container(name)
        cleanup = None
        if stdin is not None:
            # Neither SDK can feed stdin to a non-socket exec; a file works the
            # same on every engine. Not in /tmp: Docker's archive upload lands
            # under a tmpfs mount, invisible to the node; /var is a volume.
            cleanup = f"/var/tmp/.kindlike-stdin-{secrets.token_hex(6)}"
            self._put(c, cleanup, stdin, 0o600)
            cmd = ["sh", "-c", 'f="$1"; shift; "$@" < "$f"; rc=$?; rm -f "$f"; exit $rc', "sh", cleanup, *cmd]
        if timeout:
            cmd = ["timeout", "--kill-after=5", str(int(timeout)), *cmd]
        code, out = c.exec_run(cmd, demux=True, environment=env or None)
        stdout, stderr = out if isinstance(out, tuple) else (out, b"")
        return ExecResult(
            code if code is not None else -1,
            (stdout or b"").decode(errors="replace"),
            (stderr or b"").decode(errors="replace"),
        )

    def _put(self, c, dest: str, data: bytes, mode: int) -> None:
        p = PurePosixPath(dest)
        if not p.is_absolute():
            raise EngineError(f"copy destination must be an absolute path, got {dest!r}")
        ok = c.put_archive(str(p.parent), tar_single_file(p.name, data, mode))
        if ok is False:
            raise EngineError(f"could not copy into {c.name}:{dest} (does {p.parent} exist?)")

    def copy_to(self, name, src, dest, mode=0o644) -> None:
        data = src if isinstance(src, bytes) else Path(src).read_bytes()
        self._put(self._container(name), dest, data, mode)

    def copy_from(self, name, src, dest) -> None:
        c = self._container(name)
        stream, _stat = c.get_archive(src)
        buf = io.BytesIO(b"".join(stream))
        dest = Path(dest)
        with tarfile.open(fileobj=buf) as tar:
            members = tar.getmembers()
            if len(members) == 1 and members[0].isfile():
                f = tar.extractfile(members[0])
                dest.parent.mkdir(parents=True, exist_ok=True)
                dest.write_bytes(f.read() if f else b"")
                return
            # A directory: the archive's top entry is the directory's own name.
            dest.mkdir(parents=True, exist_ok=True)
            top = members[0].name.split("/")[0] if members else ""
            for m in members:
                rel = m.name[len(top):].lstrip("/") if top else m.name
                if not rel or m.issym() or m.islnk() or m.isdev():
                    continue
                m.name = rel
                if ".." in PurePosixPath(rel).parts:
                    continue
                # filter= exists from Python 3.11.4 (Debian 12 ships 3.11.2).
                kw = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
                tar.extract(m, dest, **kw)

    def logs(self, name, tail=None) -> str:
        kw = {"stdout": True, "stderr": True}
        if tail:
            kw["tail"] = tail
        out = self._container(name).logs(**kw)
        if not isinstance(out, (bytes, bytearray)):
            out = b"".join(out)
        return bytes(out).decode(errors="replace")

    def remove_containers(self, names: list[str]) -> None:
        for name in names:
            try:
                c = self.client.containers.get(name)
            except Exception as e:
                if _not_found(e):
                    continue
                raise
            c.remove(force=True, v=True)

    def build_command(self) -> list[str]:
        return [self.name]

    def stop_containers(self, names: list[str], timeout: int = 30) -> None:
        for name in names:
            c = self._container(name)
            if c.status == "running":
                c.stop(timeout=timeout)

    def start_containers(self, names: list[str]) -> None:
        for name in names:
            c = self._container(name)
            if c.status == "running":
                continue
            # Rootless Docker's port driver lets go of a stopped container's
            # host ports a moment after the stop returns: a start right after
            # it finds them still bound, so it is tried again for a while.
            deadline = time.monotonic() + 20
            while True:
                try:
                    c.start()
                    break
                except Exception as e:
                    if "address already in use" not in str(e).lower():
                        raise EngineError(f"cannot start {name}: {e}") from e
                    if time.monotonic() > deadline:
                        raise EngineError(f"cannot start {name}: a host port it publishes is in use",
                                          fix="stop what took the port, then start the cluster again") from e
                    time.sleep(0.5)


def _not_found(e: Exception) -> bool:
    # docker-py and podman-py each raise their own NotFound / ImageNotFound.
    return type(e).__name__ in ("NotFound", "ImageNotFound")


def has_labels(got: dict[str, str], wanted: dict[str, str | None]) -> bool:
    """Every wanted label is there (value None = any value)."""
    return all(k in got and (v is None or got[k] == v) for k, v in wanted.items())


def label_filter(labels: dict[str, str | None]) -> list[str]:
    """Engine list filters: `key=value`, or bare `key` for any value."""
    return [k if v is None else f"{k}={v}" for k, v in labels.items()]
