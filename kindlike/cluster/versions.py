"""Kubernetes versions, and what depends on one: the kubeadm config API a
release reads, the feature gates it has, the warnings it deserves. Both the
node image build (which writes the API into the image) and create (which
renders kubeadm's config) ask here."""
from __future__ import annotations

import re

from kindlike.errors import KindlikeError

# Loose: what a node image reports ("v1.31.0-rc.1+abc", "1.25").
_VERSION_RE = re.compile(r"^v?(\d+)\.(\d+)(?:\.(\d+))?")
# Exact: a release a user asks to build.
_RELEASE_RE = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)$")

KUBEADM_GROUP = "kubeadm.k8s.io"


class VersionError(KindlikeError):
    """A Kubernetes version that cannot be read."""


def parse_version(version: str) -> tuple[int, int, int]:
    """(major, minor, patch) of "v1.20.2", "1.25", "v1.31.0-rc.1+abc", ...

    Pre-release and build suffixes are ignored: a 1.23 pre-release counts as
    1.23 (kind would still pick the older API for it; kubeadm of that
    pre-release already reads the newer one).
    """
    m = _VERSION_RE.match(version.strip()) if version else None
    if not m:
        raise VersionError(f"cannot parse Kubernetes version {version!r}",
                           fix="use a version like v1.20.2 (what `kubeadm version -o short` prints in the node)")
    return int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)


def parse_release(text: str) -> tuple[int, int, int] | None:
    """(major, minor, patch) of exactly "1.20.2" or "v1.20.2"; else None."""
    m = _RELEASE_RE.fullmatch(text.strip())
    return (int(m.group(1)), int(m.group(2)), int(m.group(3))) if m else None


def minor(version: str) -> tuple[int, int]:
    major, minor_, _ = parse_version(version)
    return major, minor_


def normalize_version(version: str) -> str:
    """The version with its leading "v", as kubeadm and image tags want it."""
    v = version.strip()
    return v if v.startswith("v") else "v" + v


def kubeadm_api_version(version: str) -> str:
    """The kubeadm config apiVersion a Kubernetes release reads."""
    mm = minor(version)
    if mm >= (1, 31):
        return f"{KUBEADM_GROUP}/v1beta4"
    if mm >= (1, 23):
        return f"{KUBEADM_GROUP}/v1beta3"
    return f"{KUBEADM_GROUP}/v1beta2"


def has_kubelet_in_userns_gate(version: str) -> bool:
    """KubeletInUserNamespace exists from Kubernetes 1.22 (alpha; beta in 1.37)."""
    return minor(version) >= (1, 22)


def kubeadm_patches_coredns(version: str) -> bool:
    """kubeadm's patches reach its CoreDNS Deployment (the corednsdeployment
    target) from 1.31."""
    return minor(version) >= (1, 31)


def kubelet_finalize_without_restart(version: str) -> bool:
    """kindlike does kubeadm init's kubelet-finalize itself, without its
    kubelet restart (create/bootstrap.py), from 1.37: checked there. A 1.20
    kubelet that was not restarted made its static pods' mirror pods one
    by one over a minute and a half, so older versions keep kubeadm's."""
    return minor(version) >= (1, 37)


def kubelet_has_fail_cgroup_v1(version: str) -> bool:
    """The kubelet's `failCgroupV1` field exists from 1.31 (and defaults to
    true from 1.35)."""
    return minor(version) >= (1, 31)


def cgroup_v1_warning(kubernetes_version: str, cgroup_version: int) -> str:
    """One line for create and doctor: a 1.35+ kubelet on cgroup v1 runs only
    because kindlike sets failCgroupV1: false."""
    if cgroup_version != 1 or minor(kubernetes_version) < (1, 35):
        return ""
    return (f"cgroup v1 host: Kubernetes {normalize_version(kubernetes_version)} deprecates it; "
            "the kubelet runs with failCgroupV1: false (move the host to cgroup v2 to drop this)")
