"""`export logs`: everything needed to debug a cluster, from every node at
once, into a directory or a .tar.gz.

Layout (one directory per node, kind's names where kind has them):

    kindlike-version.txt   engine.json   nodes.txt   errors.txt (only if something failed)
    NODE/
      journal.log          the node's whole systemd journal
      kubelet.log          journalctl -u kubelet
      containerd.log       journalctl -u containerd
      serial.log           the container's own output (systemd's console)
      inspect.json         the engine's inspect document for the node container
      images.log           ctr -n k8s.io images ls
      containers.log       ctr -n k8s.io containers ls
      kubernetes-version.txt
      kubeadm.conf  containerd-config.toml  kubelet-config.yaml  kubeadm-flags.env
      pods/                /var/log/pods (every container's log, as the kubelet keeps them)

kubeadm's own init/join output is not kept in the nodes: its effects are in
kubelet.log, journal.log and pods/. Collection is best effort: whatever
cannot be read (a stopped node, a file that does not exist yet) is listed in
errors.txt and in the returned result; the export only fails when nothing
could be written.
"""
from __future__ import annotations

import json
import os
import platform
import shutil
import tarfile
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from kindlike.cluster.nodes import Node
from kindlike.constants import CONTAINERD_CONF, CTR, KUBEADM_CONF, NODE_VERSION_FILE
from kindlike.engines.base import Engine
from kindlike.errors import KindlikeError
from kindlike.version import __version__

# file name -> command run in the node (stdout + stderr are saved)
COMMANDS: dict[str, list[str]] = {
    "journal.log": ["journalctl", "--no-pager", "--output=short-precise"],
    "kubelet.log": ["journalctl", "--no-pager", "--output=short-precise", "-u", "kubelet.service"],
    "containerd.log": ["journalctl", "--no-pager", "--output=short-precise", "-u", "containerd.service"],
    "images.log": [*CTR, "images", "ls"],
    "containers.log": [*CTR, "containers", "ls"],
}

# file name -> path in the node (a missing file is noted, not fatal)
FILES: dict[str, str] = {
    "kubernetes-version.txt": NODE_VERSION_FILE,
    "kubeadm.conf": KUBEADM_CONF,
    "containerd-config.toml": CONTAINERD_CONF,
    "kubelet-config.yaml": "/var/lib/kubelet/config.yaml",
    "kubeadm-flags.env": "/var/lib/kubelet/kubeadm-flags.env",
}

POD_LOGS = "/var/log/pods"


class LogExportError(KindlikeError):
    """Logs could not be written to the destination."""


@dataclass
class LogExport:
    """Where the logs went and what could not be collected."""

    path: Path
    nodes: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def collect_node(node: Node, dest: Path) -> list[str]:
    """Collect one node's logs into dest/; returns the problems met."""
    dest.mkdir(parents=True, exist_ok=True)
    problems: list[str] = []
    engine = node.engine

    def note(what: str, e: BaseException) -> None:
        msg = getattr(e, "message", None) or str(e) or type(e).__name__
        problems.append(f"{node.name}: {what}: {msg.splitlines()[0] if msg else ''}")

    try:
        (dest / "inspect.json").write_text(engine.inspect_text(node.name))
    except Exception as e:
        note("inspect", e)
    try:
        (dest / "serial.log").write_text(engine.logs(node.name))
    except Exception as e:
        note("container output", e)

    running = True
    try:
        running = engine.container(node.name).running
    except Exception:
        pass
    if not running:
        problems.append(f"{node.name}: not running; only inspect.json and serial.log collected")
        return problems

    for fname, cmd in COMMANDS.items():
        try:
            res = node.exec(*cmd, check=False, timeout=300)
            (dest / fname).write_text(res.stdout if not res.stderr else res.stdout + res.stderr)
            if res.code != 0:
                problems.append(f"{node.name}: {' '.join(cmd)} exited {res.code}")
        except Exception as e:
            note(" ".join(cmd), e)
    for fname, path in FILES.items():
        res = node.exec("cat", path, check=False)
        if res.code == 0:
            (dest / fname).write_text(res.stdout)
        else:
            problems.append(f"{node.name}: {path}: {res.stderr.strip() or 'cannot be read'}")
    try:
        copy_pod_logs(node, dest / "pods")
    except Exception as e:
        note(POD_LOGS, e)
    return problems


def copy_pod_logs(node: Node, dest: Path) -> None:
    """/var/log/pods, file by file (single-file copies are byte-exact on
    every Python; extracting a directory archive needs tarfile's `filter`,
    which Debian 12's Python 3.11.2 lacks)."""
    res = node.exec("find", POD_LOGS, "-type", "f", check=False)
    if res.code != 0:
        return
    for path in sorted(line.strip() for line in res.stdout.splitlines()):
        rel = Path(path).relative_to(POD_LOGS) if path.startswith(POD_LOGS + "/") else None
        if rel is None or ".." in rel.parts:
            continue
        try:
            node.copy_from(path, dest / rel)
        except Exception:
            # Gone since the listing (a deleted pod's logs go with it): the
            # other files are still wanted. Anything else fails below.
            if node.exec("test", "-e", path, check=False).code == 0:
                raise


def export_logs(engine: Engine, cluster: str, nodes: list[Node], dest: str | os.PathLike[str] | None = None,
                note: Callable[[str], None] | None = None) -> LogExport:
    """Collect every node's logs concurrently into `dest`: a directory
    (created; default a new temporary directory) or, when `dest` ends with
    .tar.gz / .tgz, a gzipped tarball whose top directory is named after it."""
    note = note or (lambda _msg: None)
    tarball = dest is not None and str(dest).endswith((".tar.gz", ".tgz"))
    if dest is None:
        out_dir = Path(tempfile.mkdtemp(prefix=f"kindlike-logs-{cluster}-"))
    elif tarball:
        out_dir = Path(tempfile.mkdtemp(prefix="kindlike-logs-")) / _tar_top(Path(dest))
    else:
        out_dir = Path(dest)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise LogExportError(f"cannot create {out_dir}: {e.strerror or e}") from e

    result = LogExport(Path(dest) if tarball else out_dir, [n.name for n in nodes])
    try:
        (out_dir / "kindlike-version.txt").write_text(
            f"kindlike v{__version__} python{platform.python_version()}\ncluster {cluster}\n")
        try:
            (out_dir / "engine.json").write_text(json.dumps(engine.info().as_dict(), indent=2) + "\n")
        except Exception as e:
            result.errors.append(f"engine info: {e}")
        (out_dir / "nodes.txt").write_text("".join(f"{n.name} {n.role}\n" for n in nodes))
        with ThreadPoolExecutor(max_workers=max(1, len(nodes))) as pool:
            for problems in pool.map(lambda n: collect_node(n, out_dir / n.name), nodes):
                result.errors += problems
        if result.errors:
            (out_dir / "errors.txt").write_text("\n".join(result.errors) + "\n")
        if tarball:
            target = Path(dest)
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(f".{target.name}.partial")
            with tarfile.open(tmp, "w:gz") as tar:
                tar.add(out_dir, arcname=out_dir.name)
            os.replace(tmp, target)
    finally:
        if tarball:
            shutil.rmtree(out_dir.parent, ignore_errors=True)
    for e in result.errors:
        note(f"WARNING: {e}")
    return result


def _tar_top(target: Path) -> str:
    name = target.name
    for suffix in (".tar.gz", ".tgz"):
        if name.endswith(suffix):
            return name[: -len(suffix)] or "logs"
    return name
