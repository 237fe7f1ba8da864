"""What `create cluster --dry-run` shows of each node: the kubeadm
configuration (Init/Join + Cluster, KubeletConfiguration,
KubeProxyConfiguration) exactly as create would write it, and the containerd
settings the node's entrypoint will set, for the image's Kubernetes version
and the engine's rootless mode. Nothing is created: addresses the engine
assigns at create time are shown as placeholders."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

from kindlike.config.naming import load_balancer_name, node_names
from kindlike.constants import ROLE_LOAD_BALANCER
from kindlike.create import nodeconfig
from kindlike.nodeimage.components import DEFAULT_KUBERNETES, versions
from kindlike.nodeimage.metadata import ImageInfo

NODE_IP = "<node-ip>"


@dataclass(frozen=True)
class PlannedNode:
    """A node as the dry run knows it: no container, so no address yet."""

    name: str
    role: str
    ip: str = NODE_IP


@dataclass(frozen=True)
class Facts:
    """The engine facts the configuration depends on."""

    rootless: bool
    cgroup_version: int


def default_image_info(ref: str) -> ImageInfo:
    """What the default image will be once built (it is missing)."""
    return ImageInfo(ref=ref, kubernetes_version=DEFAULT_KUBERNETES, flavour="offline", cni="flannel",
                     has_coredns=True, cgroup_driver="cgroupfs",
                     storage_manifest="/kind/manifests/default-storage.yaml",
                     components=tuple(sorted(versions().items())))


def containerd_settings(info: ImageInfo, rootless: bool, patched: bool) -> dict[str, Any]:
    """The keys /usr/local/bin/entrypoint sets at boot (kindlike-containerd-config)."""
    # containerd 2 (the Go-modules images) reads format 3; 1.x format 2.
    v2 = dict(info.components).get("containerd", "").startswith("v2")
    return {
        "file": "/etc/containerd/config.toml",
        "format": 3 if v2 else 2,
        "disable_apparmor": True,
        "disable_hugetlb_controller": True,
        "SystemdCgroup": False,
        "restrict_oom_score_adj": True if rootless else "true unless the node may lower oom_score_adj (decided at boot)",
        "snapshotter": ("overlayfs when it mounts on /var/lib/containerd, else fuse-overlayfs, else native "
                        "(decided at boot)"),
        "containerdConfigPatches": "applied after boot, then containerd restarts" if patched else "none",
    }


def render_nodes(name: str, cfg, info: ImageInfo, facts: Facts) -> list[dict[str, Any]]:
    """Per node: name, role, kubeadm config text and documents, containerd settings."""
    planned = [PlannedNode(node_name, role) for node_name, role, _ in node_names(cfg, name)]
    lb = PlannedNode(load_balancer_name(name), ROLE_LOAD_BALANCER) if len(cfg.control_planes()) > 1 else None
    texts = nodeconfig.render_all(facts, name, cfg, planned, info, lb)
    patched = bool(cfg.containerd_config_patches or cfg.containerd_config_patches_json6902)
    out = []
    for n in planned:
        docs = [d for d in yaml.safe_load_all(texts[n.name]) if d]
        out.append({
            "name": n.name,
            "role": n.role,
            "kubeadm": "join" if n is not planned[0] else "init",
            "kubeadmConfig": texts[n.name],
            "documents": {d["kind"]: d for d in docs},
            "containerd": containerd_settings(info, facts.rootless, patched),
        })
    return out


def render_text(nodes: list[dict[str, Any]]) -> str:
    lines: list[str] = []
    for n in nodes:
        lines.append(f"--- node {n['name']} ({n['role']}, kubeadm {n['kubeadm']}): /kind/kubeadm.conf")
        lines.extend(n["kubeadmConfig"].rstrip("\n").splitlines())
        lines.append(f"--- node {n['name']}: containerd settings")
        lines.extend(f"{k}: {v}" for k, v in n["containerd"].items())
    return "\n".join(lines) + "\n"
