"""Loading images into nodes' containerd (the `k8s.io` namespace kubelet
uses), from an archive in docker-save format, or straight from the image
store of the engine that runs the nodes (`kindlike load docker-image`).

Whichever engine runs the nodes supplies the images (Engine.save_images), so
loading works the same under Docker and Podman (kind #2038, #4033). A node is
skipped when it already holds the image: an image's ID in Docker and Podman
is the digest of its config blob, which `docker save`/`podman save` keep
byte for byte and `ctr images import` keeps as the manifest's config, so the
engine's ID is compared with the config digest of the node's image of that
name.
"""
from __future__ import annotations

import io
import json
import re
import secrets
import tarfile
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from kindlike.cluster.nodes import Node
from kindlike.constants import CTR
from kindlike.engines.base import Engine
from kindlike.errors import ClusterError, KindlikeError
from kindlike.imageref import docker_hub_alias, normalize_ref, podman_local_name


class ImageNotFoundError(KindlikeError):
    """An image to load is not in the engine's image store."""


class NodeNotFoundError(ClusterError):
    """A node named with --nodes / nodes= is not part of the cluster."""


class ImageArchiveError(KindlikeError):
    """An image archive cannot be read."""


def import_archive(nodes: list[Node], archive: Path) -> None:
    """Copy the archive into every node (concurrently) and import it there.
    The copy lands on /var, the node's volume: the root overlay may be small
    and Docker cannot copy into the tmpfs mounts."""
    data = Path(archive).read_bytes()
    with ThreadPoolExecutor(max_workers=max(1, len(nodes))) as pool:
        list(pool.map(lambda n: import_archive_data(n, data), nodes))


def import_archive_data(n: Node, data: bytes) -> list[str]:
    """Import one docker-save archive (its bytes) into one node; returns the
    names ctr imported (plus the docker.io aliases of Podman's localhost/ names)."""
    dest = f"/var/tmp/kindlike-image-{secrets.token_hex(4)}.tar"
    n.write_file(dest, data, mode=0o600)
    names = []
    try:
        # --all-platforms: a single-arch archive may lack the platform
        # index ctr matches on.
        out = n.output(*CTR, "images", "import", "--all-platforms", dest, timeout=600)
        # containerd 1.x names what it unpacked; 2.x prints progress only, so
        # the names come from the archive's own manifest then.
        found = imported_names(out) or [normalize_ref(t) for img in _manifest_images(io.BytesIO(data)) for t in img.tags]
        for name in found:
            names.append(name)
            alias = docker_hub_alias(name)
            if alias:
                n.exec(*CTR, "images", "tag", "--force", name, alias)
                names.append(alias)
    finally:
        n.exec("rm", "-f", dest, check=False)
    return names


def imported_names(ctr_output: str) -> list[str]:
    """Names from `ctr images import` output ("unpacking NAME (sha256:...)...")."""
    return [m.group(1) for m in re.finditer(r"^unpacking (\S+) \(sha256:", ctr_output, re.M)]


def node_images(node: Node) -> list[str]:
    out = node.output(*CTR, "images", "ls", "-q")
    return [l.strip() for l in out.splitlines() if l.strip()]


# ---------------------------------------------------------------------------
# Image references and what a node already holds

_DIGEST = re.compile(r"^(sha256:)?[0-9a-f]{12,64}$")


def node_side_names(ref: str) -> set[str]:
    """Names under which a node may hold `ref` once kindlike imported it:
    the normalized name, Podman's localhost/ name for a name without a
    registry, and the docker.io alias kindlike tags a localhost/ name with."""
    full = normalize_ref(ref)
    names = {full}
    alias = docker_hub_alias(full)
    if alias:
        names.add(alias)
    local = podman_local_name(full)
    if local:
        names.add(local)
    return names


@dataclass(frozen=True)
class NodeImage:
    """One line of `ctr -n k8s.io images ls`."""

    name: str
    media_type: str
    digest: str  # the manifest (or index) digest
    labels: dict[str, str] = field(default_factory=dict)


_LS_LINE = re.compile(r"^(?P<ref>\S+)\s+(?P<type>\S+)\s+(?P<digest>sha256:[0-9a-f]{64})\s+\S+ \S+\s+(?P<platforms>\S+)"
                      r"\s+(?P<labels>\S+)\s*$")


def parse_images_ls(output: str) -> list[NodeImage]:
    """Parse `ctr images ls` (REF TYPE DIGEST SIZE PLATFORMS LABELS; SIZE
    holds a space, e.g. "2.0 MiB")."""
    out = []
    for line in output.splitlines():
        m = _LS_LINE.match(line.strip())
        if not m:
            continue
        raw = m.group("labels")
        labels = dict(kv.split("=", 1) if "=" in kv else (kv, "") for kv in raw.split(",")) if raw != "-" else {}
        out.append(NodeImage(m.group("ref"), m.group("type"), m.group("digest"), labels))
    return out


def list_node_images(node: Node) -> list[NodeImage]:
    return parse_images_ls(node.output(*CTR, "images", "ls"))


def bare_id(image_id: str) -> str:
    """`sha256:abc...` and `abc...` compare equal."""
    return image_id.strip().removeprefix("sha256:")


def config_digests(node: Node, digest: str, depth: int = 0) -> set[str]:
    """Config digests (image IDs) behind a manifest or an index in the node's
    content store."""
    res = node.exec(*CTR, "content", "get", digest, check=False)
    if res.code != 0:
        return set()
    try:
        doc = json.loads(res.stdout)
    except ValueError:
        return set()
    if isinstance(doc.get("config"), dict) and doc["config"].get("digest"):
        return {bare_id(doc["config"]["digest"])}
    found: set[str] = set()
    if depth < 2:
        for m in doc.get("manifests") or []:
            if m.get("digest"):
                found |= config_digests(node, m["digest"], depth + 1)
    return found


def node_has_image(node: Node, image_id: str, names: set[str], inventory: list[NodeImage] | None = None) -> bool:
    """Whether the node holds an image under one of `names` whose config
    digest is `image_id`."""
    inventory = list_node_images(node) if inventory is None else inventory
    want = bare_id(image_id)
    for img in inventory:
        if img.name in names and want in config_digests(node, img.digest):
            return True
    return False


# ---------------------------------------------------------------------------
# Loading: from the engine's store or from an archive


@dataclass(frozen=True)
class ImageToLoad:
    """An image to put on nodes: the name asked for, the name the engine
    knows it by, and its ID (config digest)."""

    ref: str
    engine_ref: str
    id: str


@dataclass
class LoadResult:
    """What a load did: per node, the images imported and the ones skipped
    because the node already held them."""

    loaded: dict[str, list[str]] = field(default_factory=dict)
    skipped: dict[str, list[str]] = field(default_factory=dict)

    @property
    def nodes_loaded(self) -> list[str]:
        return sorted(n for n, imgs in self.loaded.items() if imgs)


def resolve_images(engine: Engine, refs: Iterable[str]) -> list[ImageToLoad]:
    """Look every reference up in the engine's store (all missing ones
    reported together), under each name the engine may store it by
    (Engine.image_candidates: Podman's localhost/NAME)."""
    found, missing = [], []
    for ref in refs:
        if not ref or ref.startswith("sha256:") or _DIGEST.fullmatch(ref):
            raise ImageNotFoundError(f"{ref!r} is not an image name",
                                     fix="name images by repository and tag (e.g. myapp:1), not by ID")
        hit = next((c for c in engine.image_candidates(ref) if engine.image_exists(c)), None)
        if hit is None:
            missing.append(ref)
            continue
        found.append(ImageToLoad(ref, hit, engine.image_id(hit)))
    if missing:
        what = describe_engine(engine)
        raise ImageNotFoundError(
            f"image{'s' if len(missing) > 1 else ''} not present in {what}'s image store: {', '.join(missing)}",
            fix=f"build or pull {'them' if len(missing) > 1 else 'it'} with {engine.name} first "
                f"(the nodes run under {what}; images come from its store)",
        )
    return found


def describe_engine(engine: Engine) -> str:
    try:
        rootless = engine.info().rootless
    except Exception:
        return engine.name
    return f"{'rootless' if rootless else 'rootful'} {engine.name}"


def select_nodes(all_nodes: list[Node], wanted: Iterable[str] | None, cluster: str) -> list[Node]:
    """The cluster's nodes named in `wanted` (all when None/empty); unknown
    names are an error listing the cluster's nodes."""
    wanted = [w.strip() for w in (wanted or []) if w and w.strip()]
    if not wanted:
        return list(all_nodes)
    by_name = {n.name: n for n in all_nodes}
    unknown = [w for w in wanted if w not in by_name]
    if unknown:
        raise NodeNotFoundError(
            f"cluster {cluster!r} has no node{'s' if len(unknown) > 1 else ''} named {', '.join(unknown)}",
            fix=f"its nodes are: {', '.join(by_name) or '(none)'}",
        )
    return [by_name[w] for w in dict.fromkeys(wanted)]


def _present(node: Node, images: list[ImageToLoad]) -> list[ImageToLoad]:
    inventory = list_node_images(node)
    return [img for img in images if node_has_image(node, img.id, node_side_names(img.engine_ref) |
                                                    node_side_names(img.ref), inventory)]


def load_images(engine: Engine, nodes: list[Node], images: list[ImageToLoad],
                note: Callable[[str], None] | None = None) -> LoadResult:
    """Put images from the engine's store on the nodes: nodes that already
    hold an image (same ID) are skipped for it; the rest get one archive of
    what they lack, imported on all of them at once."""
    note = note or (lambda _msg: None)
    result = LoadResult()
    if not nodes or not images:
        return result
    with ThreadPoolExecutor(max_workers=len(nodes)) as pool:
        present = dict(zip([n.name for n in nodes], pool.map(lambda n: _present(n, images), nodes)))
    needs: dict[str, list[ImageToLoad]] = {}
    for n in nodes:
        have = {img.ref for img in present[n.name]}
        result.skipped[n.name] = sorted(have)
        needs[n.name] = [img for img in images if img.ref not in have]
    for img in images:
        lacking = [n for n in needs if img in needs[n]]
        if not lacking:
            note(f'Image "{img.ref}" with ID "{img.id}" found to be already present on all nodes.')
        for name in lacking:
            note(f'Image "{img.ref}" with ID "{img.id}" not yet present on node "{name}", loading...')
    todo = [n for n in nodes if needs[n.name]]
    if not todo:
        return result
    # One archive per distinct set of missing images (usually just one).
    groups: dict[tuple[str, ...], list[Node]] = {}
    for n in todo:
        groups.setdefault(tuple(sorted({img.engine_ref for img in needs[n.name]})), []).append(n)
    with tempfile.TemporaryDirectory(prefix="kindlike-load-") as tmp:
        jobs = []
        for i, (refs, group) in enumerate(groups.items()):
            archive = Path(tmp) / f"images-{i}.tar"
            engine.save_images(list(refs), archive)
            data = archive.read_bytes()
            archive.unlink()
            jobs += [(n, data) for n in group]
        with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
            list(pool.map(lambda job: import_archive_data(*job), jobs))
    for n in todo:
        result.loaded[n.name] = [img.ref for img in needs[n.name]]
    return result


@dataclass(frozen=True)
class ArchiveImage:
    """An image in a docker-save archive: its tags and config digest (ID)."""

    tags: tuple[str, ...]
    id: str


def archive_images(path: Path) -> list[ArchiveImage]:
    """The images a docker-save archive holds, from its manifest.json (both
    the legacy `<id>.json` config names and Docker 25's `blobs/sha256/<id>`).
    An OCI-layout archive without manifest.json gives an empty list (loaded
    anyway, never skipped)."""
    path = Path(path)
    if not path.is_file():
        raise ImageArchiveError(f"image archive {path} does not exist", fix="give the path of a `docker save` tarball")
    try:
        with open(path, "rb") as f:
            return _manifest_images(f)
    except (tarfile.TarError, OSError, ValueError) as e:
        raise ImageArchiveError(f"{path} is not a docker-save image archive ({e})",
                                fix="create it with `docker save -o FILE IMAGE` or `podman save -o FILE IMAGE`") from e


def _manifest_images(fileobj) -> list[ArchiveImage]:
    with tarfile.open(fileobj=fileobj) as tar:
        try:
            member = tar.getmember("manifest.json")
        except KeyError:
            return []
        f = tar.extractfile(member)
        manifest = json.load(io.TextIOWrapper(f, encoding="utf-8")) if f else []
    out = []
    for entry in manifest if isinstance(manifest, list) else []:
        cfg = str(entry.get("Config") or "")
        digest = cfg.rsplit("/", 1)[-1].removesuffix(".json")
        if re.fullmatch(r"[0-9a-f]{64}", digest):
            out.append(ArchiveImage(tuple(entry.get("RepoTags") or ()), digest))
    return out


def load_archive(nodes: list[Node], archive: Path, note: Callable[[str], None] | None = None) -> LoadResult:
    """Import an archive on the nodes that lack one of its images (an image
    is present when a node holds one of its tags with the same ID)."""
    note = note or (lambda _msg: None)
    result = LoadResult()
    contents = archive_images(archive)

    def missing(n: Node) -> list[str]:
        if not contents:
            return ["(archive)"]
        inventory = list_node_images(n)
        lacking = []
        for img in contents:
            names = set().union(*(node_side_names(t) for t in img.tags)) if img.tags else set()
            if not names or not node_has_image(n, img.id, names, inventory):
                lacking.append(img.tags[0] if img.tags else img.id)
        return lacking

    with ThreadPoolExecutor(max_workers=max(1, len(nodes))) as pool:
        lacking = dict(zip([n.name for n in nodes], pool.map(missing, nodes)))
    todo = [n for n in nodes if lacking[n.name]]
    for n in nodes:
        if not lacking[n.name]:
            result.skipped[n.name] = [t for img in contents for t in img.tags[:1]]
            note(f'Images of {Path(archive).name} already present on node "{n.name}", skipped.')
    if todo:
        note(f"Loading {Path(archive).name} into {', '.join(n.name for n in todo)} ...")
        data = Path(archive).read_bytes()
        with ThreadPoolExecutor(max_workers=len(todo)) as pool:
            list(pool.map(lambda n: import_archive_data(n, data), todo))
        for n in todo:
            result.loaded[n.name] = lacking[n.name]
    return result
