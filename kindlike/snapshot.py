"""Snapshots: a cluster saved as images, and the plan of a new cluster started
from one (`kindlike snapshot ...`, `create cluster --from-snapshot`).

A snapshot is one image per node, found again by its labels (kindlike keeps
no state of its own): the node's filesystem with its /var volume written into
the image's own /var, so that the engine copies it into the new node's /var
volume when the node is created, the copy-up every node of a normal create
gets from the node image.

A copy is a new cluster with its own network, containers, API server port and
kubeconfig context. Inside it every node keeps the snapshot's node name (as
hostname and as a network alias): Pods and PersistentVolumes are bound to it,
and the kubeconfigs and certificates name it. Its address does change, as two
copies cannot share a subnet: the node's entrypoint re-points the files that
name the old one and makes the certificates naming it again
(images/node entrypoint, repoint_address). Copies share the snapshot's
certificate authority and credentials.

Refused: a cluster with several control planes (etcd's member list holds each
member's peer address, which a copy cannot keep), a node image older than the
re-pointing, and images unpacked in a node whose layers hold overlay
whiteouts (an image layer cannot carry them: the engine would read them as
its own deletions).
"""
from __future__ import annotations

import json
import re
import tarfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from kindlike import lifecycle
from kindlike.cluster.nodes import list_nodes
from kindlike.config.types import ClusterConfig, Mount, Networking, NodeConfig
from kindlike.constants import (
    API_SERVER_CONTAINER_PORT,
    LABEL_ADDRESS,
    LABEL_CLUSTER,
    LABEL_NODE_NAME,
    LABEL_ROLE,
    LABEL_SNAPSHOT,
    LABEL_SNAPSHOT_INFO,
    ROLE_CONTROL_PLANE,
    ROLE_SNAPSHOT_STEP,
    VAR_VOLUME_SUFFIX,
)
from kindlike.errors import EngineError, SnapshotError
from kindlike.nodeimage.metadata import image_info

REPOSITORY = "kindlike-snapshot"
_NAME = re.compile(r"^[a-z0-9]+(?:[._-][a-z0-9]+)*$")
_STEP_ROOT = "/run/kindlike-snapshot-root"
_STEP_VAR = "/kindlike-snapshot-var"
# containerd's unpacked layers and its content store move out of /var into
# the image itself, a symlink left in their place: every copy shares them
# through the image's layers instead of each node copying them into its /var
# volume (as node images do since kindlike-unpack-images, where these paths
# come from). etcd's spare WAL segment (64 MB it makes again) is left out.
_LAYERS = "/kindlike/containerd-snapshots"
_CONTENT = "/kindlike/containerd-content"
# Run in a container of the node's committed filesystem, with the node's /var
# volume mounted read-only and a tmpfs over /var (so no volume is made there):
# a bind mount of / reaches the image's own /var under the tmpfs.
_STEP_SCRIPT = rf"""set -e
grep -q repoint_address /usr/local/bin/entrypoint || exit 4
w=$(find {_STEP_VAR} -type c -print | head -n 3)
if [ -n "$w" ]; then echo "$w"; exit 3; fi
mkdir -p {_STEP_ROOT}
mount --bind / {_STEP_ROOT}
find {_STEP_ROOT}/var -mindepth 1 -maxdepth 1 -exec rm -rf {{}} +
cp -a {_STEP_VAR}/. {_STEP_ROOT}/var/
snaps={_STEP_ROOT}/var/lib/containerd/io.containerd.snapshotter.v1.overlayfs/snapshots
if [ -d "$snaps" ]; then
    mkdir -p {_STEP_ROOT}{_LAYERS}
    for d in "$snaps"/*; do
        [ -d "$d" ] && [ ! -L "$d" ] || continue
        mv "$d" {_STEP_ROOT}{_LAYERS}/
        ln -s {_LAYERS}/"${{d##*/}}" "$d"
    done
fi
c={_STEP_ROOT}/var/lib/containerd/io.containerd.content.v1.content
if [ -d "$c" ] && [ ! -L "$c" ]; then
    rm -rf {_STEP_ROOT}{_CONTENT}
    mv "$c" {_STEP_ROOT}{_CONTENT}
    ln -s {_CONTENT} "$c"
fi
rm -f {_STEP_ROOT}/var/lib/etcd/member/wal/*.tmp
mkdir -p {_STEP_ROOT}/kindlike
printf '%s\n' "$1" > {_STEP_ROOT}/kindlike/node-address
umount {_STEP_ROOT}
rmdir {_STEP_ROOT}
"""


@dataclass
class SnapshotNode:
    index: int
    role: str
    node_name: str  # the Kubernetes node name, the hostname in every copy
    suffix: str  # the container name after "<cluster>-": control-plane, worker2, ...
    address: str  # the address its files were written for
    image: str  # image id
    api_address: str = ""  # control plane: the host address its API server was published on
    mounts: list[dict] = field(default_factory=list)  # kind's extraMounts fields
    ref: str = ""  # its name in the engine (what an archive carries)
    # The node's entrypoint and command: given again when a copy is created,
    # as Podman's commit does not keep an ENTRYPOINT change as given.
    entrypoint: list[str] = field(default_factory=list)
    command: list[str] = field(default_factory=list)

    def info(self, snap: "Snapshot") -> dict:
        return {"index": self.index, "role": self.role, "node": self.node_name, "suffix": self.suffix,
                "address": self.address, "apiAddress": self.api_address, "mounts": self.mounts,
                "nodes": snap.node_count, "source": snap.source, "created": snap.created,
                "kubernetes": snap.kubernetes, "engine": snap.engine, "entrypoint": self.entrypoint,
                "command": self.command}


@dataclass
class Snapshot:
    name: str
    source: str  # the cluster it was saved from
    created: str  # UTC, ISO 8601
    kubernetes: str
    engine: str  # e.g. "docker (rootless)"
    node_count: int
    nodes: list[SnapshotNode] = field(default_factory=list)
    size: int = 0  # bytes, the images' sizes added up (shared layers count in each)

    @property
    def complete(self) -> bool:
        return sorted(n.index for n in self.nodes) == list(range(self.node_count))

    @property
    def images(self) -> list[str]:
        return [n.image for n in self.nodes]

    @property
    def refs(self) -> list[str]:
        return [n.ref or n.image for n in self.nodes]


def check_name(name: str) -> None:
    if not name or len(name) > 63 or not _NAME.match(name):
        raise SnapshotError(f"snapshot name {name!r} is not valid: use up to 63 lowercase letters, digits and "
                          "'.', '_' or '-' between them (e.g. ci-1node)")


def engine_kind(engine) -> str:
    info = engine.info()
    return f"{info.name} ({'rootless' if info.rootless else 'rootful'})"


# -- listing ---------------------------------------------------------------------

def list_snapshots(engine, name: str | None = None) -> list[Snapshot]:
    """Every snapshot in the engine, or only the one called `name`."""
    found: dict[str, Snapshot] = {}
    for img in engine.list_images({LABEL_SNAPSHOT: name}):
        info = _info_label(img.labels.get(LABEL_SNAPSHOT_INFO, ""))
        if info is None:
            continue
        name = img.labels[LABEL_SNAPSHOT]
        snap = found.setdefault(name, Snapshot(name, info.get("source", ""), info.get("created", ""),
                                               info.get("kubernetes", ""), info.get("engine", ""),
                                               int(info.get("nodes", 0))))
        snap.nodes.append(SnapshotNode(int(info["index"]), info["role"], info["node"], info["suffix"],
                                       info.get("address", ""), img.id, info.get("apiAddress", ""),
                                       list(info.get("mounts") or []),
                                       next((t for t in img.tags if t.rsplit(":", 1)[-1] == info["suffix"]), ""),
                                       list(info.get("entrypoint") or []), list(info.get("command") or [])))
        snap.size += img.size
    for snap in found.values():
        snap.nodes.sort(key=lambda n: n.index)
    return sorted(found.values(), key=lambda s: s.name)


def _info_label(text: str) -> dict | None:
    """The JSON of LABEL_SNAPSHOT_INFO. Docker unescapes a quoted LABEL value
    given at commit; Podman keeps its backslashes."""
    for candidate in (text, text.replace('\\"', '"').replace("\\\\", "\\")):
        try:
            value = json.loads(candidate)
        except ValueError:
            continue
        if isinstance(value, dict) and {"index", "role", "node", "suffix"} <= value.keys():
            return value
    return None


def find(engine, name: str) -> Snapshot | None:
    return next(iter(list_snapshots(engine, name)), None)


def get(engine, name: str) -> Snapshot:
    check_name(name)
    snap = find(engine, name)
    if snap is None:
        raise SnapshotError(f"no snapshot named {name!r} in the {engine_kind(engine)} engine",
                           fix=f"save one with `kindlike snapshot save --name CLUSTER {name}`, or load its archive "
                               "with `kindlike snapshot load FILE`; see `kindlike snapshot list`")
    if not snap.complete:
        raise SnapshotError(f"snapshot {name!r} is incomplete: {len(snap.nodes)} of its {snap.node_count} node "
                           "images are here", fix=f"delete it (kindlike snapshot delete {name}) and save it again")
    return snap


def delete(engine, name: str) -> Snapshot:
    snap = get_any(engine, name)
    for n in snap.nodes:
        engine.remove_image(n.image)
    return snap


def get_any(engine, name: str) -> Snapshot:
    """The snapshot even when incomplete (what `delete` removes)."""
    check_name(name)
    snap = find(engine, name)
    if snap is None:
        raise SnapshotError(f"no snapshot named {name!r}", fix="see `kindlike snapshot list`")
    return snap


# -- archives --------------------------------------------------------------------

def export_archive(engine, name: str, dest) -> Snapshot:
    """Write the snapshot's images to one docker-archive file (for a CI
    cache); written aside and renamed, so `dest` is never left half-written."""
    snap = get(engine, name)
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.partial")
    try:
        engine.save_images(snap.refs, tmp)
        tmp.replace(dest)
    finally:
        tmp.unlink(missing_ok=True)
    return snap


def load_archive(engine, path) -> list[str]:
    """Load an archive `export_archive` wrote; the names of the snapshots in it."""
    path = Path(path)
    if not path.is_file():
        raise SnapshotError(f"snapshot archive {str(path)!r} does not exist")
    names = archive_snapshots(path)
    if not names:
        raise SnapshotError(f"{str(path)!r} holds no kindlike snapshot",
                          fix="write one with `kindlike snapshot save --name CLUSTER NAME --output FILE`")
    try:
        engine.load_image_archive(path)
    except Exception as e:  # noqa: BLE001 - the engine's own words say what is wrong with the file
        raise SnapshotError(f"cannot load snapshot archive {str(path)!r}: {e}") from e
    return names


def archive_snapshots(path) -> list[str]:
    """Snapshot names in a docker-archive file, read from its manifest."""
    try:
        with tarfile.open(path) as tar:
            manifest = json.load(tar.extractfile(tar.getmember("manifest.json")))
    except tarfile.TarError as e:
        raise SnapshotError(f"{str(path)!r} is not an image archive (not a tar file)") from e
    except (KeyError, ValueError) as e:
        raise SnapshotError(f"{str(path)!r} is not an image archive (no readable manifest.json)") from e
    except OSError as e:
        raise SnapshotError(f"cannot read {str(path)!r}: {e.strerror or e}") from e
    tags = [t for entry in manifest for t in entry.get("RepoTags") or []]
    return sorted({m.group(1) for t in tags if (m := re.search(rf"(?:^|/){REPOSITORY}/([^:/]+):", t))})


# -- saving ----------------------------------------------------------------------

def save(engine, cluster: str, name: str, note=lambda line: None, *, restart: bool = True) -> Snapshot:
    """Save the cluster as snapshot `name`. A running cluster is stopped for
    the copy (a consistent etcd and /var) and, with `restart`, started again
    afterwards."""
    check_name(name)
    if find(engine, name) is not None:
        raise SnapshotError(f"snapshot {name!r} already exists", fix=f"delete it first: kindlike snapshot delete {name}")
    nodes = list_nodes(engine, cluster)
    if not nodes:
        raise SnapshotError(f"no cluster named {cluster!r}", fix="see `kindlike get clusters`")
    cps = [n for n in nodes if n.role == ROLE_CONTROL_PLANE]
    if len(cps) != 1:
        raise SnapshotError(f"cluster {cluster!r} has {len(cps)} control planes; a snapshot holds clusters with one "
                           "(etcd's member list names every member's address, which a copy cannot keep)",
                           fix="save a cluster with a single control plane")
    records = {n.name: engine.container(n.name) for n in nodes}
    try:
        kubernetes = image_info(engine, records[cps[0].name].image_id).kubernetes_version
    except Exception:  # noqa: BLE001 - only shown by `snapshot list`
        kubernetes = ""
    snap = Snapshot(name, cluster, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), kubernetes,
                    engine_kind(engine), len(nodes))
    for i, n in enumerate(nodes):
        r = records[n.name]
        labels = r.labels
        snap.nodes.append(SnapshotNode(
            i, n.role, labels.get(LABEL_NODE_NAME) or n.name, n.name[len(cluster) + 1:],
            labels.get(LABEL_ADDRESS) or n.ip, "",
            _api_address(engine, n) if n.role == ROLE_CONTROL_PLANE else "",
            [{"hostPath": m.source, "containerPath": m.destination, "readOnly": m.read_only} for m in r.mounts]))
    was_running = any(r.running for r in records.values())
    if was_running:
        note(f"stopping cluster {cluster!r} for the copy")
        quiesce(nodes)
        lifecycle.stop_cluster(engine, cluster)
    try:
        with ThreadPoolExecutor(max_workers=len(nodes)) as pool:
            list(pool.map(lambda sn: _save_node(engine, cluster, snap, sn, records), snap.nodes))
    except BaseException:
        for sn in snap.nodes:
            if sn.image:
                engine.remove_image(sn.image)
        raise
    finally:
        if was_running and restart:
            note(f"starting cluster {cluster!r} again")
            lifecycle.start_cluster(engine, cluster)
    snap.size = sum(i.size for i in engine.list_images({LABEL_SNAPSHOT: name}))
    return snap


def quiesce(nodes) -> None:
    """Stop each node's kubelet (so it starts nothing again), then the API
    server, which takes its own address out of the `kubernetes` Service on
    the way (a copy would otherwise list the old address until its lease
    ran out), then the rest of the pods."""
    def stop(n) -> None:
        n.exec("systemctl", "stop", "kubelet", check=False, timeout=60)
        if n.role == ROLE_CONTROL_PLANE:
            n.exec("sh", "-c", "crictl ps -q --name kube-apiserver | xargs -r crictl stop --timeout 5",
                   check=False, timeout=60)
        n.exec("sh", "-c", "crictl ps -q | xargs -r crictl stop --timeout 2", check=False, timeout=60)

    with ThreadPoolExecutor(max_workers=len(nodes)) as pool:
        list(pool.map(stop, nodes))


def _save_node(engine, cluster: str, snap: Snapshot, sn: SnapshotNode, records: dict) -> None:
    container = f"{cluster}-{sn.suffix}"
    sn.entrypoint, sn.command = records[container].entrypoint, records[container].command
    repo = f"{REPOSITORY}/{snap.name}"
    part = engine.commit(container, repo, f"{sn.suffix}.part", [])
    step = f"{container}-snapshot-step"
    try:
        engine.remove_containers([step])
        res = engine.run_task(step, part, ["/bin/sh", "-c", _STEP_SCRIPT, "sh", sn.address],
                              volumes={container + VAR_VOLUME_SUFFIX: _STEP_VAR}, tmpfs=["/var"],
                              labels={LABEL_CLUSTER: cluster, LABEL_ROLE: ROLE_SNAPSHOT_STEP}, timeout=900)
        if res.code == 4:
            raise SnapshotError(f"node {container} runs a node image from before snapshots (its entrypoint cannot "
                               "move a node to a new address)",
                               fix="build the node image again (kindlike build node-image) and create the "
                                   "cluster on it")
        if res.code == 3:
            raise SnapshotError(f"node {container} holds unpacked image layers with overlay whiteouts "
                               f"({res.stdout.split()[0]}), which an image layer cannot carry",
                               fix="save the snapshot before loading images whose layers delete files, "
                                   "or load them into each copy")
        if res.code != 0:
            raise EngineError(f"copying the /var of node {container} failed (exit {res.code}): "
                              f"{res.output.strip()[-300:]}")
        changes = [f"ENTRYPOINT {json.dumps(sn.entrypoint)}", f"CMD {json.dumps(sn.command)}",
                   f"LABEL {LABEL_SNAPSHOT}={json.dumps(snap.name)}",
                   f"LABEL {LABEL_SNAPSHOT_INFO}={json.dumps(json.dumps(sn.info(snap), sort_keys=True))}"]
        sn.image = engine.commit(step, repo, sn.suffix, changes)
    finally:
        engine.remove_containers([step])
        engine.remove_image(f"{repo}:{sn.suffix}.part")


def _api_address(engine, node) -> str:
    try:
        return engine.published_port(node.name, API_SERVER_CONTAINER_PORT)[0]
    except Exception:  # noqa: BLE001 - stopped or not published: the default then
        return ""


# -- copies ----------------------------------------------------------------------

def copy_config(snap: Snapshot):
    """The cluster config a copy is created with: the snapshot's nodes on its
    images, each control plane's API server on a free port of the address
    it had."""
    nodes = tuple(NodeConfig(role=n.role, image=n.image,
                             extra_mounts=tuple(Mount(m["hostPath"], m["containerPath"], bool(m.get("readOnly")))
                                                for m in n.mounts))
                  for n in snap.nodes)
    api = next((n.api_address for n in snap.nodes if n.role == ROLE_CONTROL_PLANE and n.api_address), "")
    return ClusterConfig(nodes=nodes, networking=Networking(api_server_address=api or "127.0.0.1",
                                                             api_server_port=0))


def copy_plans(snap: Snapshot, plans) -> None:
    """Give each node plan of a copy its snapshot identity (in place)."""
    for plan, n in zip(plans, snap.nodes):
        plan.hostname = n.node_name
        plan.entrypoint, plan.command = list(n.entrypoint) or None, list(n.command) or None
        plan.labels.update({LABEL_SNAPSHOT: snap.name, LABEL_NODE_NAME: n.node_name})
        if n.role == ROLE_CONTROL_PLANE:
            # Its certificate is made again at the first boot: it names this
            # container as well (get kubeconfig --internal).
            plan.env["KINDLIKE_CERT_SANS"] = plan.name
