"""Reading a cluster's kubeconfig and merging it into the user's file.

The merge is written atomically (temp file + rename) while holding
`<file>.lock`, the same lock file client-go (kubectl) takes, so concurrent
kindlike runs and kubectl never see a torn or lost update.
"""
from __future__ import annotations

import contextlib
import os
import tempfile
import time
from pathlib import Path

import yaml

from kindlike import constants
from kindlike.constants import ADMIN_CONF
from kindlike.errors import ClusterError, KindlikeError


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
    from kindlike.runtime import control_planes

    cp = control_planes(engine, cluster)
    if not cp:
        raise ClusterError(f"cluster {cluster!r} has no control-plane node")
    node = cp[0]
    res = node.exec("cat", ADMIN_CONF, check=False)
    if res.code != 0:
        raise ClusterError(f"cluster {cluster!r} has no kubeconfig yet ({ADMIN_CONF} missing on {node.name})",
                           fix="the cluster was not bootstrapped; delete and create it again")
    if internal:
        server = server_url(node.name, constants.API_SERVER_CONTAINER_PORT)
    else:
        host, port = engine.published_port(node.name, constants.API_SERVER_CONTAINER_PORT)
        if host in ("0.0.0.0", ""):
            host = "127.0.0.1"
        elif host == "::":
            host = "::1"
        server = server_url(host, port)
    return yaml.safe_dump(rewrite(res.stdout, cluster, server), sort_keys=False)


@contextlib.contextmanager
def locked(path: Path, timeout: float = 30):
    lock = Path(str(path) + ".lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + timeout
    while True:
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
            os.close(fd)
            break
        except FileExistsError:
            if time.monotonic() > deadline:
                raise KindlikeError(f"kubeconfig {path} is locked by {lock}",
                                    fix=f"if no kubectl or kindlike is running, remove {lock}")
            time.sleep(0.05)
    try:
        yield
    finally:
        with contextlib.suppress(FileNotFoundError):
            lock.unlink()


def _load(path: Path) -> dict:
    if not path.exists() or path.stat().st_size == 0:
        return {"apiVersion": "v1", "kind": "Config", "preferences": {}, "clusters": [], "users": [], "contexts": [],
                "current-context": ""}
    try:
        doc = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise KindlikeError(f"kubeconfig {path} is not valid YAML: {e}".splitlines()[0])
    for key in ("clusters", "users", "contexts"):
        doc[key] = doc.get(key) or []
    return doc


def _write_atomic(path: Path, doc: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as f:
            yaml.safe_dump(doc, f, sort_keys=False)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def merge(cluster: str, kubeconfig_text: str, path: str | None = None, set_current: bool = True) -> Path:
    """Merge the cluster's entries into the user's kubeconfig; returns the file."""
    target = default_path(path)
    new = yaml.safe_load(kubeconfig_text)
    name = context_name(cluster)
    with locked(target):
        doc = _load(target)
        for key in ("clusters", "users", "contexts"):
            doc[key] = [e for e in doc[key] if e.get("name") != name] + new[key]
        if set_current:
            doc["current-context"] = name
        _write_atomic(target, doc)
    return target


def remove_cluster_entries(cluster: str, path: str | None = None) -> bool:
    """Remove exactly this cluster's cluster/user/context entries."""
    target = default_path(path)
    if not target.exists():
        return False
    name = context_name(cluster)
    with locked(target):
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
