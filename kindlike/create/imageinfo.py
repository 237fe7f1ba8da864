"""Step "Ensuring node image": every node image present (the default one is
built when missing), and what each image says about itself, read from its
labels so no container has to start to learn it."""
from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass
from typing import Callable

from kindlike import constants
from kindlike.constants import LABEL_PREFIX
from kindlike.engines.base import Engine
from kindlike.errors import KindlikeError
from kindlike.nodeimage.metadata import metadata_from_labels
from kindlike.nodeimage.plan import DEFAULT_ONLINE_VERSION


@dataclass(frozen=True)
class ImageInfo:
    ref: str
    kubernetes_version: str  # "v1.20.2"
    flavour: str  # online | offline
    cni: str  # flannel | none
    has_coredns: bool
    cgroup_driver: str
    storage_manifest: str = ""  # "" when the image has no default storage
    components: tuple[tuple[str, str], ...] = ()  # (name, version) of what the image was built from

    @property
    def cni_title(self) -> str:
        """The CNI and its version, as the status line shows it."""
        version = dict(self.components).get(self.cni, "")
        return f"{self.cni} {version}".strip()

    @property
    def minor(self) -> int:
        parts = self.kubernetes_version.lstrip("v").split(".")
        return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0


def image_info(engine: Engine, ref: str) -> ImageInfo:
    labels = engine.image_labels(ref)
    version = labels.get(LABEL_PREFIX + "kubernetes-version", "")
    if not version:
        raise KindlikeError(
            f"image {ref} is not a kindlike node image (no {LABEL_PREFIX}kubernetes-version label)",
            fix="build one with `kindlike build node-image`",
        )
    return ImageInfo(
        ref=ref,
        kubernetes_version=version if version.startswith("v") else f"v{version}",
        flavour=labels.get(LABEL_PREFIX + "flavour", ""),
        cni=labels.get(LABEL_PREFIX + "cni", "none"),
        has_coredns=labels.get(LABEL_PREFIX + "coredns", "false") == "true",
        cgroup_driver=labels.get(LABEL_PREFIX + "cgroup-driver", "cgroupfs"),
        storage_manifest=labels.get(LABEL_PREFIX + "storage", ""),
        components=tuple(sorted(metadata_from_labels(labels).get("components", {}).items())),
    )


REGISTRY = ("registry-1.docker.io", 443)  # where kindest/node, the online base, lives


def registry_reachable(timeout: float = 3.0) -> tuple[bool, str]:
    """One TCP connection attempt to the registry the online flavour pulls
    from: the same traffic a pull would make, but bounded to a few seconds."""
    try:
        with socket.create_connection(REGISTRY, timeout=timeout):
            return True, f"{REGISTRY[0]} is reachable"
    except OSError as e:
        return False, f"no registry reachable ({REGISTRY[0]}: {e.strerror or e})"


def choose_flavour() -> tuple[str, str]:
    """online when kindest/node can be pulled, else offline; KINDLIKE_NODE_FLAVOUR
    (online|offline) decides without probing."""
    forced = os.environ.get("KINDLIKE_NODE_FLAVOUR", "").lower()
    if forced in ("online", "offline"):
        return forced, f"KINDLIKE_NODE_FLAVOUR={forced}"
    ok, why = registry_reachable()
    if ok:
        return "online", f"{why}: FROM kindest/node, Kubernetes {DEFAULT_ONLINE_VERSION}"
    from kindlike.nodeimage.components import DEFAULT_KUBERNETES

    return "offline", f"{why}: Kubernetes {DEFAULT_KUBERNETES} built from Go modules"


def ensure_images(engine: Engine, refs: list[str], note: Callable[[str], None], status) -> dict[str, ImageInfo]:
    out = {}
    for ref in refs:
        if not engine.image_exists(ref):
            if ref != constants.DEFAULT_NODE_IMAGE:
                raise KindlikeError(f"node image {ref} not found",
                                    fix=f"build it: kindlike build node-image --image {ref}")
            from kindlike.nodeimage import build_node_image

            flavour, why = choose_flavour()
            start = time.monotonic()
            status.line(f" • Node image {ref} is missing: building the {flavour} flavour ({why})")
            build_node_image(engine, image=ref, flavour=flavour, kubernetes=None, base_image=None,
                             progress=status.line)
            note(f"built {ref} in {time.monotonic() - start:.0f}s")
        else:
            note(ref)
        out[ref] = image_info(engine, ref)
    return out
