"""Reading what a node image is from its labels, without starting it.

Every kindlike node image carries io.kindlike.* labels (set from the same
build arguments that write /kindlike/image.json inside the image):

  io.kindlike.image-schema        "1"
  io.kindlike.kubernetes-version  vX.Y.Z
  io.kindlike.flavour             offline | online
  io.kindlike.source              debian-source | binaries | the kindest/node base
  io.kindlike.cni                 flannel | none
  io.kindlike.cni-manifest        path of the CNI manifest in the image ("" if none)
  io.kindlike.coredns             true | false
  io.kindlike.cgroup-driver       cgroupfs (containerd runs runc with SystemdCgroup = false)
  io.kindlike.sandbox-image       the preloaded pause image
  io.kindlike.kubeadm-api         kubeadm.k8s.io/v1beta2 | v1beta3 | v1beta4
  io.kindlike.images              comma-separated preloaded images (offline)
  io.kindlike.storage             path of the default storage manifest ("" if none)
  io.kindlike.components          name=version,... of every component (Go-modules builds)
"""
from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass

from kindlike.constants import LABEL_PREFIX
from kindlike.errors import KindlikeError

_FIELDS = {
    "image-schema": "schema",
    "kubernetes-version": "kubernetes_version",
    "flavour": "flavour",
    "source": "source",
    "cni": "cni",
    "cni-manifest": "cni_manifest",
    "coredns": "has_coredns",
    "cgroup-driver": "cgroup_driver",
    "sandbox-image": "sandbox_image",
    "kubeadm-api": "kubeadm_api",
    "images": "images",
    "storage": "storage_manifest",
    "components": "components",
}


def metadata_from_labels(labels: dict[str, str] | None) -> dict:
    """The metadata dict for a label set ({} when it has no kindlike labels)."""
    labels = labels or {}
    if not any(k.startswith(LABEL_PREFIX) for k in labels):
        return {}
    out: dict = {
        "schema": None,
        "kubernetes_version": None,
        "flavour": None,
        "source": None,
        "cni": None,
        "cni_manifest": None,
        "has_coredns": None,
        "cgroup_driver": None,
        "sandbox_image": None,
        "kubeadm_api": None,
        "images": [],
        "storage_manifest": None,
        "components": {},
    }
    for suffix, key in _FIELDS.items():
        raw = labels.get(LABEL_PREFIX + suffix)
        if raw is None:
            continue
        if key == "schema":
            out[key] = int(raw) if raw.isdigit() else raw
        elif key == "has_coredns":
            out[key] = raw.strip().lower() == "true"
        elif key == "images":
            out[key] = [i.strip() for i in raw.split(",") if i.strip()]
        elif key == "components":
            pairs = (p.partition("=") for p in raw.split(",") if "=" in p)
            out[key] = {k.strip(): v.strip() for k, _, v in pairs}
        else:
            out[key] = raw
    return out


def _labels_via_cli(engine, ref: str) -> dict[str, str] | None:
    cmd = list(engine.build_command()) + ["image", "inspect", "--format", "{{json .Config.Labels}}", ref]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
    if res.returncode != 0:
        return None
    text = res.stdout.strip()
    return json.loads(text) if text and text != "null" else {}


def image_metadata(engine, ref: str, *, strict: bool = True) -> dict:
    """What the node image `ref` is, from its labels (no container started).

    Keys: schema, kubernetes_version, flavour, source, cni, cni_manifest,
    has_coredns (bool), cgroup_driver, sandbox_image, kubeadm_api, images
    (list), storage_manifest, components (dict), plus "image" (the ref). Raises KindlikeError when the image is
    missing, or (strict) when it carries no kindlike labels.
    """
    labels = None
    if hasattr(engine, "image_labels") and hasattr(engine, "image_exists"):
        try:
            if engine.image_exists(ref):
                labels = engine.image_labels(ref)
        except Exception:  # noqa: BLE001 - fall back to the CLI
            labels = None
    if labels is None:
        labels = _labels_via_cli(engine, ref)
    if labels is None:
        raise KindlikeError(f"node image {ref} does not exist", fix="build it: kindlike build node-image --image " + ref)
    meta = metadata_from_labels(labels)
    if not meta:
        if strict:
            raise KindlikeError(
                f"image {ref} is not a kindlike node image (no io.kindlike.* labels)",
                fix="build one with kindlike build node-image",
            )
        return {"image": ref}
    meta["image"] = ref
    return meta


@dataclass(frozen=True)
class ImageInfo:
    """What create needs to know of a node image, typed (from its labels)."""

    ref: str
    kubernetes_version: str  # "v1.37.2"
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


def image_info(engine, ref: str) -> ImageInfo:
    """The typed facts of node image `ref` (which must exist), from its labels."""
    meta = metadata_from_labels(engine.image_labels(ref))
    version = meta.get("kubernetes_version") or ""
    if not version:
        raise KindlikeError(
            f"image {ref} is not a kindlike node image (no {LABEL_PREFIX}kubernetes-version label)",
            fix="build one with `kindlike build node-image`",
        )
    return ImageInfo(
        ref=ref,
        kubernetes_version=version if version.startswith("v") else f"v{version}",
        flavour=meta.get("flavour") or "",
        cni=meta.get("cni") or "none",
        has_coredns=bool(meta.get("has_coredns")),
        cgroup_driver=meta.get("cgroup_driver") or "cgroupfs",
        storage_manifest=meta.get("storage_manifest") or "",
        components=tuple(sorted((meta.get("components") or {}).items())),
    )
