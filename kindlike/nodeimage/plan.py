"""What to build: the checked, resolved inputs of a node image build.

Everything a user can get wrong is checked here, before any engine work, and
reported as one KindlikeError with a fix line.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from kindlike.cluster.versions import minor, parse_release
from kindlike.errors import KindlikeError
from kindlike.nodeimage.components import DEFAULT_KUBERNETES

# The one Kubernetes version Debian bookworm's `kubernetes` source package holds.
DEBIAN_SOURCE_VERSION = "v1.20.2"
# The oldest Kubernetes kindlike configures (kubeadm API v1beta2).
MIN_VERSION = (1, 20)
OFFLINE_BASE_IMAGE = "kindlike/base:bookworm"
BUILDER_IMAGE = "kindlike/k8s-builder:bookworm"
KINDEST_NODE = "kindest/node"
# kindest/node images pinned by digest (kind release v0.26.0 notes).
PINNED_KINDEST = {
    "v1.31.4": "kindest/node:v1.31.4@sha256:2cb39f7295fe7eafee0842b1052a599a4fb0f8bcf3f83d96c7f4864c357c6c30",
}
DEFAULT_ONLINE_VERSION = "v1.31.4"
FLAVOURS = ("auto", "online", "offline")
# Every version from MIN_VERSION on builds from Go modules (the default source).
GO_MODULES = "go-modules"
# What an offline build needs from a directory of binaries (pause is built
# from the Debian source tree when missing).
REQUIRED_BINARIES = (
    "kubelet",
    "kubeadm",
    "kubectl",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kube-proxy",
)
ALL_BINARIES = REQUIRED_BINARIES + ("pause",)


class NodeImageError(KindlikeError):
    """A node image cannot be built as asked."""


@dataclass
class BuildPlan:
    flavour: str  # "online" | "offline"
    source: str  # "go-modules" | "debian-source" | "binaries" | "kindest"
    kubernetes_version: str | None  # vX.Y.Z; None until read from binaries
    base_image: str
    image: str
    tags: list[str] = field(default_factory=list)
    binaries_dir: Path | None = None

    @property
    def flavour_tag(self) -> str:
        return f"kindlike/node:{self.kubernetes_version}-{self.flavour}"


def release_version(text: str) -> str:
    """vX.Y.Z of a release asked for as "1.20.2" or "v1.20.2"."""
    v = parse_release(text)
    if v is None:
        raise NodeImageError(
            f"unknown Kubernetes version {text!r}",
            fix="give a version like 1.20.2 or v1.31.4, 'debian-source', or a directory of binaries",
        )
    return "v%d.%d.%d" % v


def _looks_like_path(text: str) -> bool:
    return text.startswith(("/", ".", "~")) or os.sep in text or Path(text).is_dir()


def check_binaries_dir(path: Path, *, need_pause: bool = False) -> list[str]:
    """Names of required binaries missing from `path` (or not executable)."""
    names = ALL_BINARIES if need_pause else REQUIRED_BINARIES
    return [n for n in names if not (path / n).is_file() or not os.access(path / n, os.X_OK)]


def make_plan(
    *,
    image: str,
    flavour: str = "auto",
    kubernetes: str | None = None,
    base_image: str | None = None,
) -> BuildPlan:
    """Resolve and check the inputs of build_node_image (no engine calls).

    kubernetes: a version (built from Go modules; the online flavour takes
    kindest/node of that version instead), "debian-source" (v1.20.2 from
    Debian's source package), a directory of binaries, or None (the default
    version, from Go modules)."""
    if flavour not in FLAVOURS:
        raise NodeImageError(f"unknown node image flavour {flavour!r}", fix="use auto, online or offline")
    if not image or any(c.isspace() for c in image) or image != image.strip():
        raise NodeImageError(f"invalid image name {image!r}", fix="use a name like kindlike/node:latest")
    kubernetes = (kubernetes or "").strip() or (DEFAULT_ONLINE_VERSION if flavour == "online" else DEFAULT_KUBERNETES)

    if kubernetes == "debian-source":
        if flavour == "online":
            raise NodeImageError(
                "Kubernetes from Debian's source package makes the offline flavour, not the online one",
                fix="use flavour offline (or auto)",
            )
        return BuildPlan("offline", "debian-source", DEBIAN_SOURCE_VERSION, base_image or OFFLINE_BASE_IMAGE, image)

    if _looks_like_path(kubernetes):
        path = Path(kubernetes).expanduser()
        if not path.exists():
            raise NodeImageError(
                f"Kubernetes binaries directory {path} does not exist",
                fix=f"give a directory holding {', '.join(REQUIRED_BINARIES)} (and optionally pause)",
            )
        if not path.is_dir():
            raise NodeImageError(f"{path} is not a directory", fix="give the directory holding the Kubernetes binaries")
        missing = check_binaries_dir(path)
        if missing:
            raise NodeImageError(
                f"Kubernetes binaries directory {path} lacks {', '.join(missing)}",
                fix=f"put executable {', '.join(REQUIRED_BINARIES)} there (pause is optional)",
            )
        if flavour == "online":
            raise NodeImageError(
                "a directory of Kubernetes binaries makes the offline flavour, not the online one",
                fix="use flavour offline (or auto)",
            )
        return BuildPlan(
            "offline", "binaries", None, base_image or OFFLINE_BASE_IMAGE, image, binaries_dir=path.resolve()
        )

    version = release_version(kubernetes)
    if minor(version) < MIN_VERSION:
        raise NodeImageError(
            f"Kubernetes {version} is older than kindlike supports (1.20)",
            fix="use Kubernetes 1.20 or newer",
        )
    if flavour in ("auto", "offline"):
        # v1.20.2 comes from Debian's source package: the Go module of that
        # release lacks the generated code kube-apiserver needs.
        source = "debian-source" if version == DEBIAN_SOURCE_VERSION else GO_MODULES
        return BuildPlan("offline", source, version, base_image or OFFLINE_BASE_IMAGE, image)
    base = base_image or PINNED_KINDEST.get(version) or f"{KINDEST_NODE}:{version}"
    return BuildPlan("online", "kindest", version, base, image)
