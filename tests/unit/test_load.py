"""kindlike.load, behind `kindlike load` and Cluster.load_image*: image
references, what a node holds, archives (no engine needed)."""
from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest

import kindlike
from kindlike import load
from kindlike.imageref import docker_hub_alias
from kindlike.load import imported_names


@pytest.mark.parametrize("ref,full", [
    ("busybox", "docker.io/library/busybox:latest"),
    ("busybox:1", "docker.io/library/busybox:1"),
    ("kindlike/e2e-busybox:1", "docker.io/kindlike/e2e-busybox:1"),
    ("docker.io/kindlike/x:1", "docker.io/kindlike/x:1"),
    ("index.docker.io/kindlike/x:1", "docker.io/kindlike/x:1"),
    ("localhost/kindlike/x", "localhost/kindlike/x:latest"),
    ("registry.example:5000/a/b", "registry.example:5000/a/b:latest"),
    ("quay.io/a/b@sha256:" + "a" * 64, "quay.io/a/b@sha256:" + "a" * 64),
])
def test_normalize_ref(ref, full):
    assert load.normalize_ref(ref) == full


def test_node_side_names_cover_podman_localhost():
    assert load.node_side_names("kindlike/x:1") == {"docker.io/kindlike/x:1", "localhost/kindlike/x:1"}
    assert load.node_side_names("busybox:1") == {"docker.io/library/busybox:1", "localhost/busybox:1"}
    assert load.node_side_names("localhost/x:1") == {"localhost/x:1", "docker.io/library/x:1"}
    assert load.node_side_names("quay.io/a/b:1") == {"quay.io/a/b:1"}


CTR_LS = """\
REF                                                                     TYPE                                                 DIGEST                                                                  SIZE      PLATFORMS   LABELS
docker.io/kindlike/e2e-busybox:1                                        application/vnd.docker.distribution.manifest.v2+json sha256:65f0b48d4df2eea5eb91a7dccf8ac4906fb06d18e08fee7bec7fe27cd8356e87 2.0 MiB   linux/amd64 io.cri-containerd.image=managed
k8s.gcr.io/pause:3.2                                                    application/vnd.oci.image.manifest.v1+json           sha256:a5abe5813b1ca44e32d148bd850845d5e9283b36b14c56f70b1b3056bb8e7d24 300.2 KiB linux/amd64 io.cri-containerd.image=managed,io.cri-containerd.pinned=pinned
example.com/multi:1                                                     application/vnd.oci.image.index.v1+json              sha256:1111111111111111111111111111111111111111111111111111111111111111 3.0 MiB   linux/amd64,linux/arm64 -
"""


def test_parse_images_ls():
    got = load.parse_images_ls(CTR_LS)
    assert [i.name for i in got] == ["docker.io/kindlike/e2e-busybox:1", "k8s.gcr.io/pause:3.2", "example.com/multi:1"]
    assert got[0].digest.startswith("sha256:65f0b48d")
    assert got[1].labels == {"io.cri-containerd.image": "managed", "io.cri-containerd.pinned": "pinned"}
    assert got[2].labels == {}


class FakeNode:
    """Answers `ctr images ls` and `ctr content get` from a dict."""

    def __init__(self, name, listing, content):
        self.name, self.listing, self.content = name, listing, content

    def output(self, *cmd, **kw):
        assert cmd[-2:] == ("images", "ls")
        return self.listing

    def exec(self, *cmd, check=True, **kw):
        from kindlike.engines.base import ExecResult

        digest = cmd[-1]
        if digest in self.content:
            return ExecResult(0, json.dumps(self.content[digest]), "")
        return ExecResult(1, "", "not found")


def test_node_has_image_compares_config_digests():
    manifest = "sha256:65f0b48d4df2eea5eb91a7dccf8ac4906fb06d18e08fee7bec7fe27cd8356e87"
    index = "sha256:" + "1" * 64
    content = {
        manifest: {"config": {"digest": "sha256:" + "c" * 64}},
        index: {"manifests": [{"digest": "sha256:" + "2" * 64}]},
        "sha256:" + "2" * 64: {"config": {"digest": "sha256:" + "d" * 64}},
    }
    node = FakeNode("n1", CTR_LS, content)
    names = load.node_side_names("kindlike/e2e-busybox:1")
    assert load.node_has_image(node, "sha256:" + "c" * 64, names)
    assert load.node_has_image(node, "c" * 64, names)  # with or without the prefix
    assert not load.node_has_image(node, "sha256:" + "e" * 64, names)  # same name, other ID
    assert not load.node_has_image(node, "sha256:" + "c" * 64, {"docker.io/other:1"})
    assert load.node_has_image(node, "d" * 64, {"example.com/multi:1"})  # through an index


def test_select_nodes():
    class N:
        def __init__(self, name):
            self.name = name

    nodes = [N("c-control-plane"), N("c-worker"), N("c-worker2")]
    assert load.select_nodes(nodes, None, "c") == nodes
    assert [n.name for n in load.select_nodes(nodes, ["c-worker2", " c-worker "], "c")] == ["c-worker2", "c-worker"]
    with pytest.raises(kindlike.NodeNotFoundError) as e:
        load.select_nodes(nodes, ["c-worker", "nope", "nope2"], "c")
    assert "nope, nope2" in e.value.message and "c-control-plane, c-worker, c-worker2" in e.value.fix


def _tar(path: Path, files: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_archive_images(tmp_path):
    a = "a" * 64
    legacy = _tar(tmp_path / "legacy.tar", {"manifest.json": json.dumps(
        [{"Config": f"{a}.json", "RepoTags": ["kindlike/x:1"], "Layers": []}]).encode()})
    assert load.archive_images(legacy) == [load.ArchiveImage(("kindlike/x:1",), a)]
    modern = _tar(tmp_path / "modern.tar", {"manifest.json": json.dumps(
        [{"Config": f"blobs/sha256/{a}", "RepoTags": None, "Layers": []}]).encode(), "index.json": b"{}"})
    assert load.archive_images(modern) == [load.ArchiveImage((), a)]
    oci = _tar(tmp_path / "oci.tar", {"index.json": b"{}"})
    assert load.archive_images(oci) == []
    (tmp_path / "junk.tar").write_bytes(b"not a tar")
    with pytest.raises(kindlike.ImageArchiveError):
        load.archive_images(tmp_path / "junk.tar")
    with pytest.raises(kindlike.ImageArchiveError):
        load.archive_images(tmp_path / "missing.tar")


def test_image_ids_are_not_names():
    class E:
        name = "docker"

    for ref in ("sha256:" + "a" * 64, "abcdef123456"):
        with pytest.raises(kindlike.ImageNotFoundError, match="not an image name"):
            load.resolve_images(E(), [ref])


def test_podman_finds_localhost_names():
    from kindlike.engines.podman import PodmanEngine

    class Podman:
        name = "podman"
        image_candidates = PodmanEngine.image_candidates

        def image_exists(self, ref):
            return ref == "localhost/kindlike/x:1"

        def image_id(self, ref):
            return "c" * 64

        def info(self):
            raise RuntimeError

    got = load.resolve_images(Podman(), ["kindlike/x:1", "docker.io/kindlike/x:1"])
    assert [(i.ref, i.engine_ref) for i in got] == [("kindlike/x:1", "localhost/kindlike/x:1"),
                                                     ("docker.io/kindlike/x:1", "localhost/kindlike/x:1")]
    with pytest.raises(kindlike.ImageNotFoundError) as e:
        load.resolve_images(Podman(), ["a:1", "b:2"])
    assert "a:1, b:2" in e.value.message

def test_imported_names_from_ctr_output():
    out = ("unpacking localhost/kindlike/e2e-busybox:1 (sha256:e2ed4b)...done\n"
           "unpacking docker.io/library/nginx:1.25 (sha256:abcdef)...done\n")
    assert imported_names(out) == ["localhost/kindlike/e2e-busybox:1", "docker.io/library/nginx:1.25"]
    assert imported_names("") == []


def test_podman_localhost_names_get_the_name_a_pod_spec_means():
    assert docker_hub_alias("localhost/kindlike/e2e-busybox:1") == "docker.io/kindlike/e2e-busybox:1"
    assert docker_hub_alias("localhost/busybox:1") == "docker.io/library/busybox:1"
    assert docker_hub_alias("docker.io/kindlike/e2e-busybox:1") is None
    assert docker_hub_alias("registry.example/x:1") is None


def test_names_of_an_import_come_from_the_archive_when_ctr_prints_progress_only():
    """containerd 2's `ctr images import` prints progress, not the names it
    imported: they are read from the archive's manifest.json then."""
    import io
    import json
    import tarfile

    from kindlike.load import _manifest_images

    buf = io.BytesIO()
    manifest = json.dumps([{"Config": "blobs/sha256/" + "a" * 64, "RepoTags": ["localhost/kindlike/e2e-busybox:1"],
                            "Layers": []}]).encode()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        ti = tarfile.TarInfo("manifest.json")
        ti.size = len(manifest)
        tar.addfile(ti, io.BytesIO(manifest))
    assert imported_names("localhost/kindlike/e2e-busybox:1 \tsaved\t\nImporting\telapsed: 0.1 s\n") == []
    images = _manifest_images(io.BytesIO(buf.getvalue()))
    assert [i.tags for i in images] == [("localhost/kindlike/e2e-busybox:1",)] and images[0].id == "a" * 64
    assert docker_hub_alias("localhost/kindlike/e2e-busybox:1") == "docker.io/kindlike/e2e-busybox:1"
