"""What a node image built from Go modules holds: every component's module
and version, and the images preloaded besides kubeadm's.

etcd, CoreDNS and pause are not listed: they are whatever the built kubeadm
asks for (`kubeadm config images list`), read after Kubernetes is built.
"""
from __future__ import annotations

import hashlib
import platform
from dataclasses import dataclass

from kindlike import constants
from kindlike.cluster.versions import kubeadm_api_version

# The newest Kubernetes release whose cluster passes the whole e2e suite here.
DEFAULT_KUBERNETES = "v1.37.2"

# The Go toolchain, from the module proxy (golang.org/toolchain), by checksum.
GO_VERSION = "1.26.8"
GO_SHA256 = {
    "amd64": "30c2b1bf7dcc88d3eb0a1364e47ddd9128edb3110a30e8a0ef61cd5856b31de7",
}

GO_BUILDER_IMAGE = "kindlike/go-builder:bookworm"
LOCAL_PATH_HELPER_IMAGE = "docker.io/kindlike/local-path-helper:bookworm"


@dataclass(frozen=True)
class Component:
    name: str  # the build script's environment variable prefix, lower case
    module: str
    version: str
    what: str


# containerd 2.2 and runc 1.4 still run on a cgroup v1 host (newer lines
# deprecate it). Flannel's own CNI plugin module (flannel-io/cni-plugin) is
# not on the proxy; containernetworking/plugins carried the same plugin up to
# v0.9.x (v0.9.1 is the newest the proxy serves with it).
COMPONENTS = (
    Component("containerd", "github.com/containerd/containerd/v2", "v2.2.9", "containerd, ctr, containerd-shim-runc-v2"),
    Component("runc", "github.com/opencontainers/runc", "v1.4.4", "runc (seccomp, static)"),
    Component("crictl", "sigs.k8s.io/cri-tools", "v1.37.0", "crictl"),
    Component("cni_plugins", "github.com/containernetworking/plugins", "v1.9.1",
              "bridge, host-local, loopback, portmap, ptp"),
    Component("flannel_cni", "github.com/containernetworking/plugins", "v0.9.1", "the flannel CNI plugin"),
    Component("flannel", "github.com/flannel-io/flannel", "v0.28.10", "flanneld"),
    Component("local_path", "github.com/rancher/local-path-provisioner", "v0.0.30", "local-path-provisioner"),
)


def go_arch() -> str:
    machine = platform.machine().lower()
    return {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(machine, machine)


def versions() -> dict[str, str]:
    return {c.name: c.version for c in COMPONENTS}


def flannel_image() -> str:
    return f"ghcr.io/flannel-io/flannel:{versions()['flannel']}"


def local_path_image() -> str:
    return f"docker.io/rancher/local-path-provisioner:{versions()['local_path']}"


def extra_images() -> list[str]:
    """Preloaded besides kubeadm's images: the CNI and the storage provisioner."""
    return [flannel_image(), local_path_image(), LOCAL_PATH_HELPER_IMAGE]


def build_env(kubernetes: str) -> dict[str, str]:
    """The build script's environment for a Kubernetes version."""
    env = {f"{c.name.upper()}_VERSION": c.version for c in COMPONENTS}
    env.update(KUBERNETES_VERSION=kubernetes, GO_VERSION=GO_VERSION, GO_SHA256=GO_SHA256.get(go_arch(), ""))
    return env


def out_key(kubernetes: str, script_sha256: str) -> str:
    """The cache directory name of one build's output: a new version of any
    component or of the script is a new key."""
    h = hashlib.sha256(repr(sorted(build_env(kubernetes).items())).encode() + script_sha256.encode())
    return f"{kubernetes}-{h.hexdigest()[:12]}"


def describe(plan) -> dict:
    """What building `plan` (a go-modules BuildPlan) makes, without building:
    the components and images, and the labels the image will carry."""

    version = plan.kubernetes_version
    later = f"as kubeadm {version} lists (`kubeadm config images list`, read after the build)"
    return {
        "image": plan.image,
        "tags": [plan.image, plan.flavour_tag],
        "flavour": plan.flavour,
        "source": plan.source,
        "base_image": plan.base_image,
        "go": {"version": GO_VERSION, "from": f"golang.org/toolchain@v0.0.1-go{GO_VERSION}.linux-{go_arch()}"},
        "components": {
            "kubernetes": {"module": "k8s.io/kubernetes", "version": version,
                           "what": "kubelet, kubeadm, kubectl, kube-apiserver, kube-controller-manager, "
                                   "kube-scheduler, kube-proxy, pause"},
            "etcd": {"module": "go.etcd.io/etcd/server/v3", "version": later, "what": "etcd"},
            "coredns": {"module": "github.com/coredns/coredns", "version": later, "what": "coredns"},
            **{c.name: {"module": c.module, "version": c.version, "what": c.what} for c in COMPONENTS},
        },
        "images": [f"kube-apiserver, kube-controller-manager, kube-scheduler, kube-proxy:{version}, "
                   f"etcd, coredns, pause: {later}"] + extra_images(),
        "labels": {
            "io.kindlike.kubernetes-version": version,
            "io.kindlike.flavour": plan.flavour,
            "io.kindlike.source": plan.source,
            "io.kindlike.cni": "flannel",
            "io.kindlike.cni-manifest": constants.CNI_MANIFEST,
            "io.kindlike.coredns": "true",
            "io.kindlike.storage": constants.STORAGE_MANIFEST,
            "io.kindlike.cgroup-driver": "cgroupfs",
            "io.kindlike.kubeadm-api": kubeadm_api_version(version),
            "io.kindlike.components": ",".join(f"{k}={v}" for k, v in sorted(versions().items()))
            + f",kubernetes={version},etcd=(kubeadm's),coredns=(kubeadm's)",
        },
    }
