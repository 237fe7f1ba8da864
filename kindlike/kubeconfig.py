"""Reading a cluster's kubeconfig and merging it into the user's file.

The merge is written atomically (temp file + rename) while holding
`<file>.lock`, the same lock file client-go (kubectl) takes, so concurrent
kindlike runs and kubectl never see a torn or lost update. A symlinked file is
written through the link and keeps its mode; a read-only one is refused.
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import stat
import tempfile
import time
from pathlib import Path

import yaml

from kindlike import constants, pids
from kindlike.cluster.nodes import api_endpoint, control_planes, first_running, published_address
from kindlike.constants import ADMIN_CONF
from kindlike.errors import ClusterError, KindlikeError

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def context_name(cluster: str) -> str:
    return f"{constants.NAME_PREFIX}{cluster}"


def default_path(explicit: str | None = None) -> Path:
    """--kubeconfig, else the first file of $KUBECONFIG, else ~/.kube/config."""
    if explicit:
        return Path(explicit).expanduser()
    env = os.environ.get("KUBECONFIG", "")
    first = next((p for p in env.split(os.pathsep) if p), None)
    return Path(first).expanduser() if first else Path.home() / ".kube" / "config"


def server_url(host: str, port: int) -> str:
    return f"https://[{host}]:{port}" if ":" in host else f"https://{host}:{port}"


def rewrite(admin_conf: str, cluster: str, server: str) -> dict:
    """kubeadm's admin.conf renamed to kindlike-<name> and pointed at `server`."""
    doc = yaml.safe_load(admin_conf)
    name = context_name(cluster)
    c = doc["clusters"][0]
    u = doc["users"][0]
    c["name"] = name
    c["cluster"]["server"] = server
    u["name"] = name
    doc["contexts"] = [{"name": name, "context": {"cluster": name, "user": name}}]
    doc["current-context"] = name
    doc["clusters"], doc["users"] = [c], [u]
    return doc


def cluster_kubeconfig(engine, cluster: str, internal: bool = False) -> str:
    cp = control_planes(engine, cluster)
    if not cp:
        raise ClusterError(f"cluster {cluster!r} has no control-plane node")
    # Any control plane has it; one may be stopped (several control planes).
    node = first_running(cp)
    if node is None:
        raise ClusterError(f"cluster {cluster!r} is stopped", fix=f"start it: kindlike start cluster --name {cluster}")
    res = node.exec("cat", ADMIN_CONF, check=False)
    if res.code != 0:
        raise ClusterError(f"cluster {cluster!r} has no kubeconfig yet ({ADMIN_CONF} missing on {node.name})",
                           fix="the cluster was not bootstrapped; delete and create it again")
    endpoint = api_endpoint(engine, cluster)
    if internal:
        server = server_url(endpoint.name, constants.API_SERVER_CONTAINER_PORT)
    else:
        server = server_url(*published_address(endpoint))
    return yaml.safe_dump(rewrite(res.stdout, cluster, server), sort_keys=False)


# kubectl's lock files are empty and held for milliseconds: an empty one this
# old was left by a crash. kindlike's hold its pid, so a dead holder shows at once.
_EMPTY_LOCK_STALE_AFTER = 5.0
_ELSEWHERE = "or pass --kubeconfig another file"


@contextlib.contextmanager
def locked(path: Path, timeout: float = 30):
    lock = Path(str(path) + ".lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + timeout
    while True:
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        except FileExistsError:
            if _remove_if_stale(lock):
                continue
            if time.monotonic() > deadline:
                holder = _read_lock(lock)
                raise KindlikeError(f"kubeconfig {path} is locked by {lock}"
                                    + (f" (process {holder})" if holder else ""),
                                    fix=f"if no kubectl or kindlike is running, remove {lock}")
            time.sleep(0.05)
            continue
        with os.fdopen(fd, "w") as f:
            f.write(f"{os.getpid()}\n")
        break
    try:
        yield
    finally:
        with contextlib.suppress(FileNotFoundError):
            lock.unlink()


def _read_lock(lock: Path) -> str:
    with contextlib.suppress(OSError):
        return lock.read_text(errors="replace").strip()[:20]
    return ""


def _remove_if_stale(lock: Path) -> bool:
    """Remove a lock its holder left behind; True when the lock is gone.

    Waiters serialise the removal with flock on the lock file and check that
    the path still names that file, so two of them cannot both judge one stale
    lock and remove the fresh lock a third has just taken in its place.
    """
    try:
        fd = os.open(lock, os.O_RDONLY)
    except FileNotFoundError:
        return True
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False  # another waiter is looking at it
        st = os.fstat(fd)
        holder = os.read(fd, 32).decode(errors="replace").strip()
        if holder.isdigit():
            stale = not pids.alive(int(holder))
        else:
            stale = time.time() - st.st_mtime > _EMPTY_LOCK_STALE_AFTER
        try:
            if not stale or os.stat(lock).st_ino != st.st_ino:
                return False
            os.unlink(lock)
        except FileNotFoundError:
            pass
        return True
    finally:
        os.close(fd)


def check_writable(path: Path) -> None:
    """Refuse a kubeconfig kindlike could not merge into, before anything is created."""
    real = Path(os.path.realpath(path))
    with _os_errors(path):
        if real.is_dir():
            raise KindlikeError(f"kubeconfig {path} is a directory",
                                fix=f"pass --kubeconfig a file path, e.g. {path / 'config'}")
        if real.exists():
            _load(real, path)
            if not os.access(real, os.W_OK) or not real.stat().st_mode & 0o222:
                # Replacing it would succeed (the directory is writable), but the mode is the user's wish.
                raise KindlikeError(f"kubeconfig {path} is read-only",
                                    fix=f"make it writable (chmod u+w {real}) {_ELSEWHERE}")
        for where in (real.parent, Path(str(path) + ".lock").parent):
            existing = next(p for p in (where, *where.parents) if p.exists())
            if not existing.is_dir():
                raise KindlikeError(f"cannot write kubeconfig {path}: {existing} is not a directory",
                                    fix="pass --kubeconfig a file whose directories exist or can be created")
            if not os.access(existing, os.W_OK | os.X_OK):
                raise KindlikeError(f"cannot write kubeconfig {path}: {existing} is not writable",
                                    fix=f"make {existing} writable {_ELSEWHERE}")


@contextlib.contextmanager
def _os_errors(path: Path):
    """One line and a fix for what the file system refuses."""
    try:
        yield
    except KindlikeError:
        raise
    except OSError as e:
        where = f" ({e.filename})" if e.filename and str(e.filename) != str(path) else ""
        raise KindlikeError(f"cannot write kubeconfig {path}: {e.strerror or e}{where}",
                            fix=f"check the permissions of {path} and its directory, {_ELSEWHERE}") from e


def _load(path: Path, named: Path | None = None) -> dict:
    named = named or path
    if not path.exists() or path.stat().st_size == 0:
        return {"apiVersion": "v1", "kind": "Config", "preferences": {}, "clusters": [], "users": [], "contexts": [],
                "current-context": ""}
    fix = f"repair it, or move it aside (mv {named} {named}.bak), {_ELSEWHERE}"
    try:
        doc = yaml.load(path.read_text(encoding="utf-8"), Loader=_LOADER)
    except yaml.YAMLError as e:
        raise KindlikeError(f"kubeconfig {named} is not valid YAML: {e}".splitlines()[0], fix=fix) from None
    except UnicodeDecodeError:
        raise KindlikeError(f"kubeconfig {named} is not UTF-8 text", fix=fix) from None
    doc = doc if doc is not None else {}
    if not isinstance(doc, dict):
        raise KindlikeError(f"kubeconfig {named} is not a kubeconfig (a YAML mapping), it holds a {type(doc).__name__}",
                            fix=fix)
    for key in ("clusters", "users", "contexts"):
        doc[key] = doc.get(key) or []
        if not isinstance(doc[key], list) or not all(isinstance(e, dict) for e in doc[key]):
            raise KindlikeError(f"kubeconfig {named}: {key} is not a list of mappings", fix=fix)
    return doc


def _write_atomic(path: Path, doc: dict) -> None:
    """Replace the file, through a symlink (the link stays, as with kubectl),
    keeping its mode and owner."""
    real = Path(os.path.realpath(path))
    real.parent.mkdir(parents=True, exist_ok=True)
    old = real.stat() if real.exists() else None
    fd, tmp = tempfile.mkstemp(dir=real.parent, prefix=f".{real.name}.")
    try:
        with os.fdopen(fd, "w") as f:
            yaml.safe_dump(doc, f, sort_keys=False)
        os.chmod(tmp, stat.S_IMODE(old.st_mode) if old else 0o600)
        if old and (old.st_uid, old.st_gid) != (os.getuid(), os.getgid()):
            with contextlib.suppress(OSError):
                os.chown(tmp, old.st_uid, old.st_gid)
        os.replace(tmp, real)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def merge(cluster: str, kubeconfig_text: str, path: str | None = None, set_current: bool = True) -> Path:
    """Merge the cluster's entries into the user's kubeconfig; returns the file."""
    target = default_path(path)
    new = yaml.safe_load(kubeconfig_text)
    name = context_name(cluster)
    check_writable(target)
    with _os_errors(target), locked(target):
        doc = _load(target)
        for key in ("clusters", "users", "contexts"):
            doc[key] = [e for e in doc[key] if e.get("name") != name] + new[key]
        if set_current:
            doc["current-context"] = name
        _write_atomic(target, doc)
    return target


def server_of(cluster: str, path: str | None = None) -> str | None:
    """The server the file's entry for this cluster points at (None: no entry)."""
    target = default_path(path)
    if not target.exists():
        return None
    name = context_name(cluster)
    for entry in _load(target)["clusters"]:
        if entry.get("name") == name:
            return (entry.get("cluster") or {}).get("server")
    return None


def remove_cluster_entries(cluster: str, path: str | None = None) -> bool:
    """Remove exactly this cluster's cluster/user/context entries."""
    target = default_path(path)
    if not target.exists():
        return False
    name = context_name(cluster)
    with _os_errors(target), locked(target):
        doc = _load(target)
        before = sum(len(doc[k]) for k in ("clusters", "users", "contexts"))
        for key in ("clusters", "users", "contexts"):
            doc[key] = [e for e in doc[key] if e.get("name") != name]
        changed = before != sum(len(doc[k]) for k in ("clusters", "users", "contexts"))
        if doc.get("current-context") == name:
            doc["current-context"] = ""
            changed = True
        if changed:
            _write_atomic(target, doc)
    return changed
