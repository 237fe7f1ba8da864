"""Steps "Installing CNI" and "Installing StorageClass": the manifests the
node image carries, applied through the control plane's kubectl.

The pod network is Flannel's (VXLAN, VNI 1, UDP 8472), from the image's
/kind/manifests/default-cni.yaml: kind's convention, so the same image works
under kind. A manifest marked "would you kindly template this file" gets the
cluster's podSubnet for {{ .PodSubnet }}; an older manifest (the online
flavour's upstream kube-flannel.yml) has its default Network replaced.
"""
from __future__ import annotations

from kindlike.create.bootstrap import kubectl
from kindlike.runtime import Node

CNI_MANIFEST = "/kind/manifests/default-cni.yaml"
STORAGE_MANIFEST = "/kind/manifests/default-storage.yaml"
TEMPLATE_MARKER = "would you kindly template this file"


def render_cni_manifest(manifest: str, pod_subnet: str) -> str:
    if TEMPLATE_MARKER in manifest:
        return manifest.replace("{{ .PodSubnet }}", pod_subnet).replace("{{.PodSubnet}}", pod_subnet)
    return manifest.replace('"Network": "10.244.0.0/16"', f'"Network": "{pod_subnet}"')


def apply(control_plane: Node, manifest: str) -> None:
    kubectl(control_plane, "apply", "-f", "-", stdin=manifest, timeout=300)


def install_cni(control_plane: Node, pod_subnet: str, path: str = CNI_MANIFEST) -> None:
    """Apply the image's CNI manifest with the cluster's pod subnet."""
    apply(control_plane, render_cni_manifest(control_plane.read_file(path), pod_subnet))


def install_storage(control_plane: Node, path: str = STORAGE_MANIFEST) -> None:
    """Apply the image's default storage (local-path, StorageClass standard)."""
    apply(control_plane, control_plane.read_file(path))
