"""kindlike.nodeimage: input validation (before any engine work), where the
build files and the cache are found, the metadata read back from labels, and
that a failed build leaves nothing tagged. The engine CLI is a recording
stand-in script here; real builds are in tests/engine/test_node_image.py."""
from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from kindlike import constants
from kindlike.cluster.versions import kubeadm_api_version
from kindlike.errors import KindlikeError
from kindlike.nodeimage import build as nb
from kindlike.nodeimage import build_node_image, files, make_plan, metadata_from_labels
from kindlike.nodeimage.components import DEFAULT_KUBERNETES
from kindlike.nodeimage.files import sha256_file
from kindlike.nodeimage.plan import (
    OFFLINE_BASE_IMAGE,
    PINNED_KINDEST,
    REQUIRED_BINARIES,
    NodeImageError,
    release_version,
)

REPO = Path(__file__).resolve().parents[2]


# ------------------------------------------------------------------ make_plan
@pytest.mark.parametrize("k", ["debian-source", "1.20.2", "v1.20.2"])
def test_debian_source_is_offline_v1_20_2(k):
    plan = make_plan(image="x/node:1", kubernetes=k)
    assert (plan.flavour, plan.source, plan.kubernetes_version) == ("offline", "debian-source", "v1.20.2")
    assert plan.base_image == OFFLINE_BASE_IMAGE
    assert plan.flavour_tag == "kindlike/node:v1.20.2-offline"


@pytest.mark.parametrize("k,want", [("", DEFAULT_KUBERNETES), (None, DEFAULT_KUBERNETES), ("1.20.15", "v1.20.15"),
                                    ("v1.34.4", "v1.34.4"), ("1.36.3", "v1.36.3")])
@pytest.mark.parametrize("flavour", ["auto", "offline"])
def test_versions_build_from_go_modules(k, want, flavour):
    plan = make_plan(image="x/node:1", kubernetes=k, flavour=flavour)
    assert (plan.flavour, plan.source, plan.kubernetes_version) == ("offline", "go-modules", want)
    assert plan.base_image == OFFLINE_BASE_IMAGE
    assert plan.flavour_tag == f"kindlike/node:{want}-offline"


def test_online_versions_are_on_kindest_node():
    assert make_plan(image="x", flavour="online").kubernetes_version == "v1.31.4"
    plan = make_plan(image="x/node:1", kubernetes="1.31.4", flavour="online")
    assert (plan.flavour, plan.source) == ("online", "kindest")
    assert plan.base_image == PINNED_KINDEST["v1.31.4"]
    assert "@sha256:" in plan.base_image
    plan = make_plan(image="x/node:1", kubernetes="v1.29.1", flavour="online")
    assert plan.base_image == "kindest/node:v1.29.1"
    assert make_plan(image="x", kubernetes="1.29.1", base_image="my/base:1", flavour="online").base_image == "my/base:1"


def test_online_flavour_for_1_20_2_is_allowed():
    plan = make_plan(image="x", kubernetes="1.20.2", flavour="online")
    assert (plan.flavour, plan.base_image) == ("online", "kindest/node:v1.20.2")


@pytest.mark.parametrize("k", ["latest", "1.20", "v1.2x.0", "1.20.2.1", "stable"])
def test_unknown_version_is_rejected(k):
    with pytest.raises(NodeImageError, match="unknown Kubernetes version"):
        make_plan(image="x", kubernetes=k)


def test_too_old_version_is_rejected():
    with pytest.raises(NodeImageError, match="older than kindlike supports"):
        make_plan(image="x", kubernetes="1.19.7")


def test_debian_source_is_not_online():
    with pytest.raises(NodeImageError, match="offline flavour, not the online"):
        make_plan(image="x", kubernetes="debian-source", flavour="online")


@pytest.mark.parametrize("flavour", ["both", "Offline", ""])
def test_unknown_flavour(flavour):
    with pytest.raises(NodeImageError, match="unknown node image flavour"):
        make_plan(image="x", flavour=flavour)


@pytest.mark.parametrize("image", ["", " x", "a b:1"])
def test_bad_image_name(image):
    with pytest.raises(NodeImageError, match="invalid image name"):
        make_plan(image=image)


def _bin_dir(tmp_path: Path, names=REQUIRED_BINARIES) -> Path:
    d = tmp_path / "bin"
    d.mkdir()
    for n in names:
        p = d / n
        p.write_text("#!/bin/sh\n")
        p.chmod(0o755)
    return d


def test_binaries_directory(tmp_path):
    d = _bin_dir(tmp_path)
    plan = make_plan(image="x", kubernetes=str(d))
    assert (plan.flavour, plan.source, plan.binaries_dir) == ("offline", "binaries", d.resolve())
    assert plan.kubernetes_version is None  # read from its kubeadm at build time


def test_missing_binaries_directory(tmp_path):
    with pytest.raises(NodeImageError, match="does not exist"):
        make_plan(image="x", kubernetes=str(tmp_path / "nope"))


def test_binaries_directory_lacking_binaries(tmp_path):
    d = _bin_dir(tmp_path, names=["kubelet", "kubeadm"])
    (d / "kubectl").write_text("not executable")
    with pytest.raises(NodeImageError) as e:
        make_plan(image="x", kubernetes=str(d))
    msg = e.value.message
    assert "kubectl" in msg and "kube-apiserver" in msg and "kubelet," not in msg


def test_binaries_path_that_is_a_file(tmp_path):
    f = tmp_path / "kubelet"
    f.write_text("")
    with pytest.raises(NodeImageError, match="is not a directory"):
        make_plan(image="x", kubernetes=str(f))


def test_binaries_are_not_online(tmp_path):
    d = _bin_dir(tmp_path)
    with pytest.raises(NodeImageError, match="not the online one"):
        make_plan(image="x", kubernetes=str(d), flavour="online")


def test_version_helpers():
    assert release_version("1.20.2") == "v1.20.2"
    assert kubeadm_api_version("v1.20.2") == "kubeadm.k8s.io/v1beta2"
    assert kubeadm_api_version("v1.22.0") == "kubeadm.k8s.io/v1beta2"
    assert kubeadm_api_version("v1.23.0") == "kubeadm.k8s.io/v1beta3"
    assert kubeadm_api_version("v1.30.9") == "kubeadm.k8s.io/v1beta3"
    assert kubeadm_api_version("v1.31.4") == "kubeadm.k8s.io/v1beta4"


# ------------------------------------------------------------------ places
def test_data_root_is_the_checkout():
    root = files.data_root()
    assert (root / "images" / "node" / "files" / "usr" / "local" / "bin" / "entrypoint").is_file()
    assert (root / "images" / "offline" / "Dockerfile").is_file()
    assert (root / "Dockerfile").is_file()


def test_data_root_env_override(tmp_path, monkeypatch):
    for d in ("images/node", "images/offline"):
        (tmp_path / d).mkdir(parents=True)
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    monkeypatch.setenv("KINDLIKE_DATA_DIR", str(tmp_path))
    assert files.data_root() == tmp_path


def test_cache_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("KINDLIKE_CACHE_DIR", str(tmp_path / "c"))
    assert files.cache_dir() == tmp_path / "c"
    monkeypatch.delenv("KINDLIKE_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert files.cache_dir() == tmp_path / "xdg" / "kindlike"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert files.cache_dir() == tmp_path / "home" / ".cache" / "kindlike"


def test_pyproject_ships_the_build_files():
    text = (REPO / "pyproject.toml").read_text()
    assert '"images" = "kindlike/_data/images"' in text
    assert '"Dockerfile" = "kindlike/_data/Dockerfile"' in text


# ------------------------------------------------------------------ metadata
def test_metadata_from_labels():
    labels = {
        "io.kindlike.image-schema": "1",
        "io.kindlike.kubernetes-version": "v1.20.2",
        "io.kindlike.flavour": "offline",
        "io.kindlike.cni": "none",
        "io.kindlike.coredns": "false",
        "io.kindlike.cgroup-driver": "cgroupfs",
        "io.kindlike.sandbox-image": "k8s.gcr.io/pause:3.2",
        "io.kindlike.kubeadm-api": "kubeadm.k8s.io/v1beta2",
        "io.kindlike.images": "k8s.gcr.io/pause:3.2, k8s.gcr.io/etcd:3.4.13-0",
        "maintainer": "x",
    }
    m = metadata_from_labels(labels)
    assert m["schema"] == 1
    assert m["has_coredns"] is False
    assert m["images"] == ["k8s.gcr.io/pause:3.2", "k8s.gcr.io/etcd:3.4.13-0"]
    assert m["cgroup_driver"] == "cgroupfs"
    assert m["cni_manifest"] is None
    assert metadata_from_labels({"maintainer": "x"}) == {}
    assert metadata_from_labels(None) == {}
    assert metadata_from_labels({"io.kindlike.coredns": "true"})["has_coredns"] is True


# ------------------------------------------------------------------ build driver, stand-in CLI
FAKE_CLI = r"""#!/bin/sh
# A stand-in engine CLI: logs every call, answers from environment settings.
echo "$*" >> "$FAKE_LOG"
case "$1" in
  version) [ "${FAKE_DOWN:-0}" = 1 ] && { echo "Cannot connect to the engine" >&2; exit 1; }; echo ok ;;
  image) case " $* " in *" $FAKE_PRESENT "*) echo '[{}]'; exit 0 ;; esac; echo "No such image" >&2; exit 1 ;;
  pull) echo "pull access denied: registry unreachable" >&2; exit 1 ;;
  build) echo "Step 1/1 : FROM base"; echo "boom: build step failed"; exit "${FAKE_BUILD_RC:-1}" ;;
  *) exit 0 ;;
esac
"""


class StandIn:
    """Just enough of an Engine for the build driver: its CLI."""

    def __init__(self, cli: Path):
        self.cli = cli

    def build_command(self) -> list[str]:
        return [str(self.cli)]


@pytest.fixture
def fake(tmp_path, monkeypatch):
    cli = tmp_path / "fake-engine"
    cli.write_text(FAKE_CLI)
    cli.chmod(cli.stat().st_mode | stat.S_IXUSR)
    log = tmp_path / "calls.log"
    log.write_text("")
    monkeypatch.setenv("FAKE_LOG", str(log))
    monkeypatch.setenv("FAKE_PRESENT", "none")
    monkeypatch.setenv("KINDLIKE_CACHE_DIR", str(tmp_path / "cache"))

    def calls() -> list[str]:
        return [l for l in log.read_text().splitlines() if l]

    return StandIn(cli), calls


def test_engine_down_is_a_clear_error(fake, monkeypatch):
    engine, calls = fake
    monkeypatch.setenv("FAKE_DOWN", "1")
    with pytest.raises(KindlikeError, match="does not answer") as e:
        build_node_image(engine, image="x/node:t")
    assert e.value.fix
    assert calls() == ["version"]


def test_missing_offline_base_image(fake):
    engine, calls = fake
    with pytest.raises(NodeImageError, match="base image kindlike/base:bookworm is not present") as e:
        build_node_image(engine, image="x/node:t")
    assert "images/base/build.sh" in e.value.fix
    assert not any(c.startswith(("build", "run", "pull")) for c in calls())


def test_unreachable_online_base_image(fake):
    engine, calls = fake
    with pytest.raises(NodeImageError, match="cannot be pulled: pull access denied") as e:
        build_node_image(engine, image="x/node:t", kubernetes="1.29.1", flavour="online")
    assert "offline" in e.value.fix
    assert "pull kindest/node:v1.29.1" in calls()
    assert not any(c.startswith("build") for c in calls())


def test_invalid_input_touches_no_engine(fake):
    engine, calls = fake
    with pytest.raises(NodeImageError):
        build_node_image(engine, image="x", kubernetes="nope.nope")
    assert calls() == []


def test_failed_build_leaves_nothing_tagged(fake, monkeypatch):
    engine, calls = fake
    monkeypatch.setenv("FAKE_PRESENT", PINNED_KINDEST["v1.31.4"])
    lines: list[str] = []
    with pytest.raises(NodeImageError, match="boom: build step failed"):
        build_node_image(engine, image="x/node:t", kubernetes="1.31.4", flavour="online", output=lines.append)
    assert "boom: build step failed" in lines
    log = calls()
    builds = [c for c in log if c.startswith("build ")]
    assert len(builds) == 1
    tmp_tag = builds[0].split(" -t ")[1].split()[0]
    assert tmp_tag.startswith("kindlike/node-build:")
    assert not any(c.startswith("tag ") for c in log)
    assert f"rmi -f {tmp_tag}" in log
    assert "--build-arg BASE_IMAGE=" + PINNED_KINDEST["v1.31.4"] in builds[0]
    assert "--build-arg KUBERNETES_VERSION=v1.31.4" in builds[0]
    # the temporary build context is gone
    assert not list(Path(os.environ["KINDLIKE_CACHE_DIR"]).glob("build/ctx-*"))


def test_default_image_name_is_the_project_default():
    import inspect

    sig = inspect.signature(build_node_image)
    assert sig.parameters["image"].default == constants.DEFAULT_NODE_IMAGE
    assert sig.parameters["kubernetes"].default is None
    assert make_plan(image=constants.DEFAULT_NODE_IMAGE).kubernetes_version == DEFAULT_KUBERNETES


def test_binaries_current_needs_matching_script(tmp_path):
    script = tmp_path / "build-kubernetes.sh"
    script.write_text("echo v1\n")
    out = tmp_path / "out"
    (out / "bin").mkdir(parents=True)
    for n in REQUIRED_BINARIES + ("pause",):
        (out / "bin" / n).write_text("")
        (out / "bin" / n).chmod(0o755)
    info = {"script_sha256": sha256_file(script), "only": ""}
    (out / "build-info.json").write_text(json.dumps(info))
    assert nb._binaries_current(out, script)
    script.write_text("echo v2\n")
    assert not nb._binaries_current(out, script)
    (out / "build-info.json").write_text(json.dumps(dict(info, script_sha256=sha256_file(script), only="pause")))
    assert not nb._binaries_current(out, script)
