"""The Python API's pure parts: config sources, durations, errors, the
exports of the kindlike package, and the image/log helpers behind
`load` and `export logs` (no engine needed)."""
from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest

import kindlike
from kindlike import api, images, logs
from kindlike.config.types import Cluster as ClusterConfig


def test_package_exports_the_api():
    assert kindlike.Cluster is api.Cluster
    assert kindlike.clusters is api.clusters
    for name in ("ClusterNotFoundError", "KubectlError", "ImageNotFoundError", "NodeNotFoundError",
                 "ImageArchiveError", "LogExportError", "ConfigError", "EngineError", "StepError"):
        assert issubclass(getattr(kindlike, name), kindlike.KindlikeError), name
        assert name in kindlike.__all__
    assert issubclass(kindlike.ClusterNotFoundError, kindlike.ClusterError)
    assert issubclass(kindlike.NodeNotFoundError, kindlike.ClusterError)
    # kindlike.cluster (the internal module) keeps its own Cluster.
    from kindlike.cluster import Cluster as Internal

    assert Internal is not kindlike.Cluster


@pytest.mark.parametrize("value,seconds", [(None, 0), (0, 0), ("0", 0), ("90s", 90), ("5m", 300),
                                           ("1m30s", 90), ("1h", 3600), (2.5, 2.5), ("10", 10)])
def test_parse_wait(value, seconds):
    assert api.parse_wait(value) == seconds


@pytest.mark.parametrize("value", ["", "5x", "m", -1])
def test_parse_wait_rejects(value):
    with pytest.raises(ValueError):
        api.parse_wait(value)


def test_config_sources(tmp_path):
    default, warnings = api.load_config_source(None)
    assert [n.role for n in default.nodes] == ["control-plane"] and warnings == ()

    as_dict, _ = api.load_config_source({"kind": "Cluster", "apiVersion": "kind.x-k8s.io/v1alpha4",
                                         "nodes": [{"role": "control-plane"}, {"role": "worker"}]})
    assert [n.role for n in as_dict.nodes] == ["control-plane", "worker"]

    text = "kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nname: fromtext\n"
    as_text, _ = api.load_config_source(text)
    assert as_text.name == "fromtext"

    f = tmp_path / "c.yaml"
    f.write_text(text.replace("fromtext", "fromfile"))
    assert api.load_config_source(f)[0].name == "fromfile"
    assert api.load_config_source(str(f))[0].name == "fromfile"

    parsed = ClusterConfig(name="given")
    assert api.load_config_source(parsed) == (parsed, ())

    with pytest.raises(kindlike.ConfigError):
        api.load_config_source({"kind": "Cluster", "nodes": [{"role": "boss"}]})
    with pytest.raises(kindlike.ConfigError):
        api.load_config_source(tmp_path / "missing.yaml")
    with pytest.raises(TypeError):
        api.load_config_source(42)


def test_kubectl_error_carries_the_process():
    e = api.KubectlError(["get", "pods"], 1, "", "error: boom\n")
    assert e.returncode == 1 and e.stderr == "error: boom\n" and e.args_ == ["get", "pods"]
    assert e.lines()[0].startswith("ERROR: kubectl get pods failed (exit 1):")
    assert "boom" in e.message


def test_cache_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("KINDLIKE_CACHE_DIR", str(tmp_path / "c"))
    assert api.cache_dir() == tmp_path / "c"
    monkeypatch.delenv("KINDLIKE_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert api.cache_dir() == tmp_path / "x" / "kindlike"


def test_wrapping_a_name_touches_no_engine():
    c = kindlike.Cluster("demo", provider="docker")
    assert c.name == "demo" and "demo" in repr(c) and c.delete_on_exit is False
    c.close()


# -- images ------------------------------------------------------------------

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
    assert images.normalize_ref(ref) == full


def test_node_side_names_cover_podman_localhost():
    assert images.node_side_names("kindlike/x:1") == {"docker.io/kindlike/x:1", "localhost/kindlike/x:1"}
    assert images.node_side_names("busybox:1") == {"docker.io/library/busybox:1", "localhost/busybox:1"}
    assert images.node_side_names("localhost/x:1") == {"localhost/x:1", "docker.io/library/x:1"}
    assert images.node_side_names("quay.io/a/b:1") == {"quay.io/a/b:1"}


CTR_LS = """\
REF                                                                     TYPE                                                 DIGEST                                                                  SIZE      PLATFORMS   LABELS
docker.io/kindlike/e2e-busybox:1                                        application/vnd.docker.distribution.manifest.v2+json sha256:65f0b48d4df2eea5eb91a7dccf8ac4906fb06d18e08fee7bec7fe27cd8356e87 2.0 MiB   linux/amd64 io.cri-containerd.image=managed
k8s.gcr.io/pause:3.2                                                    application/vnd.oci.image.manifest.v1+json           sha256:a5abe5813b1ca44e32d148bd850845d5e9283b36b14c56f70b1b3056bb8e7d24 300.2 KiB linux/amd64 io.cri-containerd.image=managed,io.cri-containerd.pinned=pinned
example.com/multi:1                                                     application/vnd.oci.image.index.v1+json              sha256:1111111111111111111111111111111111111111111111111111111111111111 3.0 MiB   linux/amd64,linux/arm64 -
"""


def test_parse_images_ls():
    got = images.parse_images_ls(CTR_LS)
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
    names = images.node_side_names("kindlike/e2e-busybox:1")
    assert images.node_has_image(node, "sha256:" + "c" * 64, names)
    assert images.node_has_image(node, "c" * 64, names)  # with or without the prefix
    assert not images.node_has_image(node, "sha256:" + "e" * 64, names)  # same name, other ID
    assert not images.node_has_image(node, "sha256:" + "c" * 64, {"docker.io/other:1"})
    assert images.node_has_image(node, "d" * 64, {"example.com/multi:1"})  # through an index


def test_select_nodes():
    class N:
        def __init__(self, name):
            self.name = name

    nodes = [N("c-control-plane"), N("c-worker"), N("c-worker2")]
    assert images.select_nodes(nodes, None, "c") == nodes
    assert [n.name for n in images.select_nodes(nodes, ["c-worker2", " c-worker "], "c")] == ["c-worker2", "c-worker"]
    with pytest.raises(kindlike.NodeNotFoundError) as e:
        images.select_nodes(nodes, ["c-worker", "nope", "nope2"], "c")
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
    assert images.archive_images(legacy) == [images.ArchiveImage(("kindlike/x:1",), a)]
    modern = _tar(tmp_path / "modern.tar", {"manifest.json": json.dumps(
        [{"Config": f"blobs/sha256/{a}", "RepoTags": None, "Layers": []}]).encode(), "index.json": b"{}"})
    assert images.archive_images(modern) == [images.ArchiveImage((), a)]
    oci = _tar(tmp_path / "oci.tar", {"index.json": b"{}"})
    assert images.archive_images(oci) == []
    (tmp_path / "junk.tar").write_bytes(b"not a tar")
    with pytest.raises(kindlike.ImageArchiveError):
        images.archive_images(tmp_path / "junk.tar")
    with pytest.raises(kindlike.ImageArchiveError):
        images.archive_images(tmp_path / "missing.tar")


def test_image_ids_are_not_names():
    class E:
        name = "docker"

    for ref in ("sha256:" + "a" * 64, "abcdef123456"):
        with pytest.raises(kindlike.ImageNotFoundError, match="not an image name"):
            images.resolve_images(E(), [ref])


def test_podman_finds_localhost_names():
    class Podman:
        name = "podman"

        def image_exists(self, ref):
            return ref == "localhost/kindlike/x:1"

        def image_id(self, ref):
            return "c" * 64

        def info(self):
            raise RuntimeError

    got = images.resolve_images(Podman(), ["kindlike/x:1", "docker.io/kindlike/x:1"])
    assert [(i.ref, i.engine_ref) for i in got] == [("kindlike/x:1", "localhost/kindlike/x:1"),
                                                     ("docker.io/kindlike/x:1", "localhost/kindlike/x:1")]
    with pytest.raises(kindlike.ImageNotFoundError) as e:
        images.resolve_images(Podman(), ["a:1", "b:2"])
    assert "a:1, b:2" in e.value.message


# -- logs --------------------------------------------------------------------

def test_log_tarball_top_directory():
    assert logs._tar_top(Path("/x/run-42.tar.gz")) == "run-42"
    assert logs._tar_top(Path("/x/run.tgz")) == "run"
