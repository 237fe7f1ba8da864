"""The default node image (every program built from Go modules) under
rootful Docker: build it (seconds when the cache is warm), boot a node from
it the way kindlike runs nodes, and check from inside that it is what its
labels say: the versions of Kubernetes, containerd 2, runc, crictl,
flanneld and CoreDNS, every image kubeadm lists plus Flannel's and
local-path's preloaded and pinned, kind's layout (/kind/version, the CNI and
storage manifests), and containerd 2's user-namespace settings. Every
container (and its /var volume) is removed afterwards, pass or fail."""
from __future__ import annotations

import json
import tomllib

import pytest

from kindlike import constants
from kindlike.nodeimage import build_node_image, image_metadata
from kindlike.nodeimage.components import DEFAULT_KUBERNETES, extra_images, versions
from tests.engine.test_node_image_v1_20 import docker, rootful_docker, sh, start_node, wait_system_running  # noqa: F401

pytestmark = pytest.mark.engine

IMAGE = constants.DEFAULT_NODE_IMAGE


@pytest.fixture(scope="module")
def node_image(rootful_docker):  # noqa: F811 - the fixture imported above
    meta = build_node_image(rootful_docker, image=IMAGE)
    assert meta["tags"] == [IMAGE, f"kindlike/node:{DEFAULT_KUBERNETES}-offline"]
    return meta


@pytest.fixture(scope="module")
def node(request, node_image):
    name = start_node(request, IMAGE)
    state = wait_system_running(name)
    assert state == "running", sh(name, "systemctl --failed --no-legend --plain", check=False)
    return name


def test_rebuild_is_a_cache_hit(rootful_docker, node_image):  # noqa: F811
    said: list[str] = []
    build_node_image(rootful_docker, image=IMAGE, progress=said.append)
    # Same inputs: neither a compile nor a new image, only the key checked.
    assert any("is up to date (same inputs" in line for line in said), said
    assert not any(line.startswith(("building", "binaries ready")) for line in said), said
    assert image_metadata(rootful_docker, IMAGE)["components"] == node_image["components"]


def test_labels_and_image_json_agree(rootful_docker, node_image, node):  # noqa: F811
    meta = image_metadata(rootful_docker, IMAGE)
    assert meta["source"] == "go-modules" and meta["kubernetes_version"] == DEFAULT_KUBERNETES
    assert meta["cni"] == "flannel" and meta["has_coredns"] is True
    assert meta["storage_manifest"] == "/kind/manifests/default-storage.yaml"
    inside = json.loads(sh(node, "cat /kindlike/image.json"))
    for key in ("kubernetes_version", "flavour", "cni", "has_coredns", "cgroup_driver", "sandbox_image", "kubeadm_api",
                "storage_manifest", "components"):
        assert inside[key] == meta[key], key
    for name, version in versions().items():
        assert meta["components"][name] == version
    assert meta["components"]["etcd"].startswith("v3.") and meta["components"]["coredns"].startswith("v1.")
    assert sorted(inside["images"]) == sorted(meta["images"])
    assert {"bridge", "host-local", "loopback", "portmap", "ptp", "flannel"} <= set(inside["cni_plugins"])
    assert sh(node, "cat /kind/version").strip() == DEFAULT_KUBERNETES


def test_versions_of_every_program(node, node_image):
    comps = node_image["components"]
    assert sh(node, "kubelet --version").strip() == f"Kubernetes {DEFAULT_KUBERNETES}"
    assert sh(node, "kubeadm version -o short").strip() == DEFAULT_KUBERNETES
    assert f"Client Version: {DEFAULT_KUBERNETES}" in sh(node, "kubectl version --client")
    assert f" {comps['containerd']} " in sh(node, "containerd --version") + " "
    assert sh(node, "containerd --version").split()[2].startswith("v2.")
    assert comps["runc"].lstrip("v") in sh(node, "runc --version")
    assert "seccomp" in sh(node, "runc --version").lower() or "libseccomp" in sh(node, "runc --version")
    assert comps["crictl"] in sh(node, "crictl --version")
    # flanneld and CoreDNS live in their images: run them from containerd.
    for image, cmd, want in ((extra_images()[0], "/opt/bin/flanneld --version", comps["flannel"]),
                             (coredns_image(node_image), "/coredns -version", comps["coredns"].lstrip("v"))):
        out = sh(node, f"ctr -n k8s.io run --rm {image} probe-{want.replace('.', '-')} {cmd} 2>&1", timeout=120)
        assert want in out, out


def coredns_image(meta: dict) -> str:
    return next(i for i in meta["images"] if "/coredns:" in i)


def test_every_image_preloaded_and_pinned(node, node_image):
    kubeadm_list = sh(node, "kubeadm config images list --kubernetes-version " + DEFAULT_KUBERNETES).split()
    refs = set(sh(node, "ctr -n k8s.io images ls -q").split())
    for ref in kubeadm_list + extra_images():
        assert ref in refs, ref
    pinned = sh(node, "ctr -n k8s.io images ls | grep -c 'io.cri-containerd.pinned=pinned'").strip()
    assert int(pinned) >= len(kubeadm_list) + len(extra_images())
    # crictl talks to containerd's CRI, and sees the same images.
    assert "pause" in sh(node, "crictl images")


def test_manifests_name_preloaded_images(node):
    cni = sh(node, "cat /kind/manifests/default-cni.yaml")
    storage = sh(node, "cat /kind/manifests/default-storage.yaml")
    assert "would you kindly template this file" in cni and "{{ .PodSubnet }}" in cni
    assert '"Type": "vxlan"' in cni and '"VNI": 1' in cni and '"Port": 8472' in cni
    assert f"image: {extra_images()[0]}" in cni
    assert "@" not in "".join(l for l in (cni + storage).splitlines() if "image:" in l)
    assert "provisioner: rancher.io/local-path" in storage and "WaitForFirstConsumer" in storage
    assert 'storageclass.kubernetes.io/is-default-class: "true"' in storage
    for image in extra_images()[1:]:
        assert image in storage


def test_containerd2_config(node, node_image):
    boot = dict(l.split("=", 1) for l in sh(node, "cat /run/kindlike/boot.env").splitlines() if "=" in l)
    cfg = tomllib.loads(sh(node, "cat /etc/containerd/config.toml"))
    assert cfg["version"] == 3
    rt = cfg["plugins"]["io.containerd.cri.v1.runtime"]
    images = cfg["plugins"]["io.containerd.cri.v1.images"]
    assert rt["disable_apparmor"] is True and rt["disable_hugetlb_controller"] is True
    assert rt["containerd"]["runtimes"]["runc"]["options"]["SystemdCgroup"] is False
    assert images["pinned_images"]["sandbox"] == node_image["sandbox_image"] == boot["SANDBOX_IMAGE"]
    assert images["snapshotter"] == boot["SNAPSHOTTER"]
    assert str(rt["restrict_oom_score_adj"]).lower() == boot["RESTRICT_OOM_SCORE_ADJ"]
    # containerd really runs with it (an unknown key or table would stop it).
    assert sh(node, "systemctl is-active containerd").strip() == "active"
    info = json.loads(sh(node, "crictl info"))
    assert info["config"]["containerd"]["runtimes"]["runc"]["options"]["SystemdCgroup"] is False
