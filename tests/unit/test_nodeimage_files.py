"""The node image's build files, checked without building anything: both
Dockerfiles (ARGs, COPY sources), the scripts (bash -n, shellcheck when
installed, executable bits), the containerd config editor the entrypoint
uses, the online flavour's download script, and the offline flavour's
image-archive maker."""
from __future__ import annotations

import hashlib
import importlib.util
import json
import re
import shutil
import subprocess
import tarfile
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
NODE = REPO / "images" / "node"
OFFLINE = REPO / "images" / "offline"
EDITOR = NODE / "files" / "usr" / "local" / "bin" / "kindlike-containerd-config"
FETCH = NODE / "online" / "fetch-online-parts.sh"

SCRIPTS = [
    NODE / "files" / "usr" / "local" / "bin" / "entrypoint",
    EDITOR,
    NODE / "files" / "usr" / "local" / "bin" / "kindlike-preload-images",
    NODE / "files" / "usr" / "local" / "bin" / "kindlike-unpack-images",
    NODE / "files" / "usr" / "local" / "bin" / "kindlike-flannel-offload",
    NODE / "build" / "setup-systemd.sh",
    NODE / "build" / "write-metadata.sh",
    FETCH,
    OFFLINE / "builder" / "build-kubernetes.sh",
    OFFLINE / "iptables-wrapper",
]


# ------------------------------------------------------------------ Dockerfiles
def parse_dockerfile(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined, comments dropped."""
    out, buf = [], ""
    for raw in path.read_text().splitlines():
        line = raw.rstrip()
        if not buf and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if buf and line.lstrip().startswith("#"):
            continue
        buf += line[:-1] + " " if line.endswith("\\") else line
        if not line.endswith("\\"):
            instr, _, args = buf.strip().partition(" ")
            out.append((instr.upper(), args.strip()))
            buf = ""
    return out


def copy_sources(instrs) -> list[str]:
    srcs = []
    for instr, args in instrs:
        if instr in ("COPY", "ADD") and "--from=" not in args:
            parts = [p for p in args.split() if not p.startswith("--")]
            srcs += parts[:-1]
    return srcs


def declared_args(instrs) -> dict[str, str]:
    out = {}
    for instr, args in instrs:
        if instr == "ARG":
            name, _, default = args.partition("=")
            out.setdefault(name, default.strip('"'))
    return out


def test_online_dockerfile_args_and_sources():
    instrs = parse_dockerfile(REPO / "Dockerfile")
    args = declared_args(instrs)
    for name in ("BASE_IMAGE", "KUBERNETES_VERSION", "CNI_PLUGINS_VERSION", "FLANNEL_VERSION",
                 "FLANNEL_CNI_PLUGIN_VERSION", "KUBEADM_API", "SANDBOX_IMAGE", "TARGETARCH"):
        assert name in args, name
    base = args["BASE_IMAGE"]
    assert re.fullmatch(r"kindest/node:v\d+\.\d+\.\d+@sha256:[0-9a-f]{64}", base), base
    # the pinned base and the version the build checks agree
    assert base.split(":")[1].split("@")[0] == args["KUBERNETES_VERSION"]
    for src in copy_sources(instrs):
        assert (REPO / src).exists(), f"COPY source {src} missing"
    froms = [a for i, a in instrs if i == "FROM"]
    assert froms[0].startswith("${FETCH_IMAGE}") and froms[-1] == "${BASE_IMAGE}"
    entry = [a for i, a in instrs if i == "ENTRYPOINT"][-1]
    assert json.loads(entry) == ["/usr/local/bin/kind-entrypoint", "/usr/local/bin/entrypoint", "/sbin/init"]
    labels = " ".join(a for i, a in instrs if i == "LABEL")
    for key in ("kubernetes-version", "flavour", "cni", "coredns", "cgroup-driver", "sandbox-image"):
        assert f"io.kindlike.{key}=" in labels
    assert 'io.kindlike.cni="flannel"' in labels and 'io.kindlike.cgroup-driver="cgroupfs"' in labels
    # kindlike's create applies /kind/manifests/default-cni.yaml: it must be Flannel's.
    assert 'io.kindlike.cni-manifest="/kind/manifests/default-cni.yaml"' in labels
    run = " ".join(a for i, a in instrs if i == "RUN")
    assert "mv /tmp/kindlike-flannel.yaml /kind/manifests/default-cni.yaml" in run


def test_offline_dockerfile_args_and_sources(tmp_path):
    instrs = parse_dockerfile(OFFLINE / "Dockerfile")
    args = declared_args(instrs)
    for name in ("BASE_IMAGE", "IMAGES", "KUBERNETES_VERSION", "SANDBOX_IMAGE", "KUBEADM_API", "IMAGES_LABEL"):
        assert name in args, name
    # The build context kindlike assembles: images/node, images/offline, bin/.
    for src in copy_sources(instrs):
        if src.startswith("bin/"):
            assert src[4:] in ("kubelet", "kubeadm", "kubectl", "kube-apiserver", "kube-controller-manager",
                               "kube-scheduler", "kube-proxy", "pause"), src
        else:
            assert (REPO / src).exists(), f"COPY source {src} missing"
    assert args["SANDBOX_IMAGE"] in args["IMAGES"].split()
    assert args["IMAGES_LABEL"].split(",") == args["IMAGES"].split()
    labels = " ".join(a for i, a in instrs if i == "LABEL")
    assert 'io.kindlike.cgroup-driver="cgroupfs"' in labels and 'io.kindlike.coredns="false"' in labels
    assert json.loads([a for i, a in instrs if i == "ENTRYPOINT"][-1]) == ["/usr/local/bin/entrypoint", "/sbin/init"]
    assert [a for i, a in instrs if i == "STOPSIGNAL"] == ["SIGRTMIN+3"]


def test_builder_dockerfile_sources():
    instrs = parse_dockerfile(OFFLINE / "builder" / "Dockerfile")
    for src in copy_sources(instrs):
        assert (OFFLINE / "builder" / src).exists()
    run = " ".join(a for i, a in instrs if i == "RUN")
    for pkg in ("golang-go", "golang-github-modern-go-reflect2-dev", "gcc", "dpkg-dev"):
        assert pkg in run
    assert "deb-src" in run


def test_kubelet_units_follow_kind():
    unit = (NODE / "kind-layout" / "etc" / "systemd" / "system" / "kubelet.service").read_text()
    assert "ConditionPathExists=/var/lib/kubelet/config.yaml" in unit
    assert "Slice=kubelet.slice" in unit and "RestartSec=1s" in unit
    dropin = (NODE / "kind-layout" / "etc" / "systemd" / "system" / "kubelet.service.d" / "10-kubeadm.conf").read_text()
    assert "EnvironmentFile=-/var/lib/kubelet/kubeadm-flags.env" in dropin
    assert ("ExecStart=/usr/bin/kubelet $KUBELET_KUBECONFIG_ARGS $KUBELET_CONFIG_ARGS "
            "$KUBELET_EXTRA_ARGS $KUBELET_KUBEADM_ARGS") in dropin


def test_offline_containerd_config_has_the_user_namespace_settings():
    cfg = tomllib.loads((NODE / "kind-layout" / "etc" / "containerd" / "config.toml").read_text())
    cri = cfg["plugins"]["io.containerd.grpc.v1.cri"]
    assert cfg["version"] == 2
    assert cri["disable_apparmor"] is True
    assert cri["restrict_oom_score_adj"] is True
    assert cri["disable_hugetlb_controller"] is True
    assert cri["containerd"]["runtimes"]["runc"]["options"]["SystemdCgroup"] is False
    assert cri["sandbox_image"] == "k8s.gcr.io/pause:3.2"


# ------------------------------------------------------------------ scripts
@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_script_syntax_and_mode(script):
    assert script.stat().st_mode & 0o111, f"{script} is not executable"
    shell = "sh" if script.read_text().startswith("#!/bin/sh") else "bash"
    res = subprocess.run([shell, "-n", str(script)], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr


@pytest.mark.skipif(not shutil.which("shellcheck"), reason="shellcheck not installed")
def test_shellcheck():
    res = subprocess.run(["shellcheck", *map(str, SCRIPTS)], capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr


# ------------------------------------------------------------------ containerd config editor
KIND_V2 = """\
version = 2

[proxy_plugins]
[proxy_plugins."fuse-overlayfs"]
  type = "snapshot"
  address = "/run/containerd-fuse-overlayfs.sock"

[plugins."io.containerd.grpc.v1.cri".containerd]
  discard_unpacked_layers = true
  snapshotter = "overlayfs"
  default_runtime_name = "runc"
[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "registry.k8s.io/pause:3.10"
  restrict_oom_score_adj = false
  restrict_oom_score_adj = false
"""

V3 = """\
version = 3
[plugins."io.containerd.cri.v1.images"]
  snapshotter = "overlayfs"
[plugins."io.containerd.cri.v1.images".pinned_images]
  sandbox = "registry.k8s.io/pause:3.10"
[plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc.options]
  SystemdCgroup = true
"""

EDIT_ARGS = ["--snapshotter", "native", "--restrict-oom-score-adj", "true", "--systemd-cgroup", "false",
             "--disable-apparmor", "true", "--disable-hugetlb-controller", "true", "--sandbox-image", "k8s.gcr.io/pause:3.2"]


def edit(path: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(EDITOR), *args, str(path)], capture_output=True, text=True)


def test_editor_v2(tmp_path):
    p = tmp_path / "config.toml"
    p.write_text(KIND_V2)
    assert edit(p, *EDIT_ARGS).returncode == 0
    first = p.read_text()
    cfg = tomllib.loads(first)
    cri = cfg["plugins"]["io.containerd.grpc.v1.cri"]
    assert cri["containerd"]["snapshotter"] == "native"
    assert cri["containerd"]["discard_unpacked_layers"] is True  # untouched
    assert cri["restrict_oom_score_adj"] is True  # duplicate dropped (tomllib would reject it)
    assert cri["disable_apparmor"] is True and cri["disable_hugetlb_controller"] is True
    assert cri["sandbox_image"] == "k8s.gcr.io/pause:3.2"
    assert cri["containerd"]["runtimes"]["runc"]["options"]["SystemdCgroup"] is False
    assert cri["containerd"]["runtimes"]["runc"]["runtime_type"] == "io.containerd.runc.v2"
    # idempotent
    assert edit(p, *EDIT_ARGS).returncode == 0
    assert p.read_text() == first


def test_editor_fuse_overlayfs_adds_the_proxy_plugin(tmp_path):
    p = tmp_path / "config.toml"
    p.write_text("version = 2\n")
    assert edit(p, "--snapshotter", "fuse-overlayfs").returncode == 0
    cfg = tomllib.loads(p.read_text())
    assert cfg["proxy_plugins"]["fuse-overlayfs"] == {"type": "snapshot", "address": "/run/containerd-fuse-overlayfs.sock"}
    assert cfg["plugins"]["io.containerd.grpc.v1.cri"]["containerd"]["snapshotter"] == "fuse-overlayfs"


def test_editor_v3(tmp_path):
    p = tmp_path / "config.toml"
    p.write_text(V3)
    assert edit(p, "--print-version").stdout.strip() == "3"
    assert edit(p, *EDIT_ARGS).returncode == 0
    cfg = tomllib.loads(p.read_text())
    assert cfg["plugins"]["io.containerd.cri.v1.images"]["snapshotter"] == "native"
    assert cfg["plugins"]["io.containerd.cri.v1.images"]["pinned_images"]["sandbox"] == "k8s.gcr.io/pause:3.2"
    rt = cfg["plugins"]["io.containerd.cri.v1.runtime"]
    assert rt["restrict_oom_score_adj"] is True and rt["disable_apparmor"] is True
    assert rt["containerd"]["runtimes"]["runc"]["options"]["SystemdCgroup"] is False


def test_editor_rejects_bad_input(tmp_path):
    p = tmp_path / "config.toml"
    p.write_text("version = 2\n")
    assert edit(p, "--restrict-oom-score-adj", "yes").returncode != 0
    assert edit(p, "--bogus", "1").returncode == 2
    assert edit(tmp_path / "missing.toml", "--snapshotter", "native").returncode == 1


def test_editor_on_the_offline_config(tmp_path):
    p = tmp_path / "config.toml"
    shutil.copy(NODE / "kind-layout" / "etc" / "containerd" / "config.toml", p)
    assert edit(p, *EDIT_ARGS).returncode == 0
    cri = tomllib.loads(p.read_text())["plugins"]["io.containerd.grpc.v1.cri"]
    assert cri["containerd"]["snapshotter"] == "native"
    assert cri["cni"]["bin_dir"] == "/opt/cni/bin"


# ------------------------------------------------------------------ online downloads
def fetch_env(**kw) -> dict:
    env = {"PATH": "/usr/bin:/bin", "CNI_PLUGINS_VERSION": "v1.6.2", "FLANNEL_VERSION": "v0.26.5",
           "FLANNEL_CNI_PLUGIN_VERSION": "v1.6.2-flannel1"}
    env.update(kw)
    return env


def test_fetch_urls_follow_the_args():
    defaults = declared_args(parse_dockerfile(REPO / "Dockerfile"))
    env = fetch_env(CNI_PLUGINS_VERSION=defaults["CNI_PLUGINS_VERSION"], FLANNEL_VERSION=defaults["FLANNEL_VERSION"],
                    FLANNEL_CNI_PLUGIN_VERSION=defaults["FLANNEL_CNI_PLUGIN_VERSION"], TARGETARCH="arm64")
    res = subprocess.run(["bash", str(FETCH), "--dry-run"], env=env, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    urls = res.stdout.split()
    v = defaults
    assert urls == [
        f"https://github.com/containernetworking/plugins/releases/download/{v['CNI_PLUGINS_VERSION']}/"
        f"cni-plugins-linux-arm64-{v['CNI_PLUGINS_VERSION']}.tgz",
        f"https://github.com/flannel-io/cni-plugin/releases/download/{v['FLANNEL_CNI_PLUGIN_VERSION']}/"
        f"cni-plugin-flannel-linux-arm64-{v['FLANNEL_CNI_PLUGIN_VERSION']}.tgz",
        f"https://github.com/flannel-io/flannel/releases/download/{v['FLANNEL_VERSION']}/kube-flannel.yml",
    ]


def test_fetch_needs_versions():
    res = subprocess.run(["bash", str(FETCH), "--dry-run"], env={"PATH": "/usr/bin:/bin"}, capture_output=True, text=True)
    assert res.returncode != 0 and "CNI_PLUGINS_VERSION" in res.stderr


def test_fetch_finds_the_manifest_images(tmp_path):
    manifest = tmp_path / "kube-flannel.yml"
    manifest.write_text("""\
spec:
  template:
    spec:
      initContainers:
      - name: install-cni-plugin
        image: ghcr.io/flannel-io/flannel-cni-plugin:v1.6.2-flannel1
      - name: install-cni
        image: "ghcr.io/flannel-io/flannel:v0.26.5"
      containers:
      - image: ghcr.io/flannel-io/flannel:v0.26.5
        name: kube-flannel
""")
    res = subprocess.run(["bash", str(FETCH), "--manifest-images", str(manifest)], env=fetch_env(),
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ["ghcr.io/flannel-io/flannel-cni-plugin:v1.6.2-flannel1",
                                  "ghcr.io/flannel-io/flannel:v0.26.5"]


# ------------------------------------------------------------------ image archives
def load_mkimages():
    spec = importlib.util.spec_from_file_location("mkimages", OFFLINE / "mkimages.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_mkimages_archive_is_oci_and_docker(tmp_path):
    mk = load_mkimages()
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "kube-scheduler").write_bytes(b"\x7fELF fake scheduler")
    (bindir / "kube-scheduler").chmod(0o755)
    (bindir / "pause").write_bytes(b"\x7fELF fake pause")
    (bindir / "pause").chmod(0o755)
    out1, out2 = tmp_path / "o1", tmp_path / "o2"
    for out in (out1, out2):
        out.mkdir()
        assert mk.main(["--bin", str(bindir), "--out", str(out), "--jobs", "1",
                        "k8s.gcr.io/kube-scheduler:v1.20.2", "k8s.gcr.io/pause:3.2", "k8s.gcr.io/coredns:1.7.0"]) == 0
    # reproducible, byte for byte
    for name in ("kube-scheduler.tar", "pause.tar"):
        assert (out1 / name).read_bytes() == (out2 / name).read_bytes()
    assert not (out1 / "coredns.tar").exists()  # no CoreDNS offline
    listing = json.loads((out1 / "images.json").read_text())
    assert [i["ref"] for i in listing] == ["k8s.gcr.io/kube-scheduler:v1.20.2", "k8s.gcr.io/pause:3.2"]

    with tarfile.open(out1 / "kube-scheduler.tar") as tar:
        files = {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}
    index = json.loads(files["index.json"])
    desc = index["manifests"][0]
    assert desc["annotations"]["io.containerd.image.name"] == "k8s.gcr.io/kube-scheduler:v1.20.2"
    manifest_raw = files["blobs/sha256/" + desc["digest"].split(":")[1]]
    assert hashlib.sha256(manifest_raw).hexdigest() == desc["digest"].split(":")[1]
    manifest = json.loads(manifest_raw)
    config_raw = files["blobs/sha256/" + manifest["config"]["digest"].split(":")[1]]
    config = json.loads(config_raw)
    layer_raw = files["blobs/sha256/" + manifest["layers"][0]["digest"].split(":")[1]]
    assert hashlib.sha256(layer_raw).hexdigest() == manifest["layers"][0]["digest"].split(":")[1]
    import gzip
    import io

    layer_tar = gzip.decompress(layer_raw)
    assert config["rootfs"]["diff_ids"] == ["sha256:" + hashlib.sha256(layer_tar).hexdigest()]
    assert config["config"]["Entrypoint"] == ["/usr/local/bin/kube-scheduler"]
    assert (config["os"], config["architecture"]) == ("linux", "amd64")
    with tarfile.open(fileobj=io.BytesIO(layer_tar)) as lt:
        members = {m.name: m for m in lt.getmembers()}
    assert members["usr/local/bin/kube-scheduler"].mode == 0o755
    assert members["tmp"].mode == 0o1777
    assert all(m.uid == 0 and m.mtime == 0 for m in members.values())
    docker = json.loads(files["manifest.json"])
    assert docker[0]["RepoTags"] == ["k8s.gcr.io/kube-scheduler:v1.20.2"]
    assert docker[0]["Config"] == "blobs/sha256/" + manifest["config"]["digest"].split(":")[1]
    assert json.loads(files["oci-layout"]) == {"imageLayoutVersion": "1.0.0"}
