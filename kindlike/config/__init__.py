"""kind's `kind.x-k8s.io/v1alpha4` Cluster config: model, strict loading,
defaults, validation, naming, and kubeadm-config patching."""
from kindlike.config.defaulting import apply_defaults, default_cluster
from kindlike.config.load import LoadedConfig, load_config, load_config_text
from kindlike.config.naming import ENV_CLUSTER_NAME, node_names, resolve_cluster_name, validate_cluster_name
from kindlike.config.patches import (
    PatchError,
    apply_json6902,
    apply_merge_patch,
    patch_documents,
    patch_kubeadm_documents,
)
from kindlike.config.types import API_VERSION, ClusterConfig, Mount, Networking, NodeConfig, PatchJSON6902, PortMapping
from kindlike.config.validate import validate_cluster

__all__ = [
    "API_VERSION",
    "ENV_CLUSTER_NAME",
    "ClusterConfig",
    "LoadedConfig",
    "Mount",
    "Networking",
    "NodeConfig",
    "PatchError",
    "PatchJSON6902",
    "PortMapping",
    "apply_defaults",
    "apply_json6902",
    "apply_merge_patch",
    "default_cluster",
    "load_config",
    "load_config_text",
    "node_names",
    "patch_documents",
    "patch_kubeadm_documents",
    "resolve_cluster_name",
    "validate_cluster",
    "validate_cluster_name",
]
