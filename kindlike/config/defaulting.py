"""kind's defaults for a v1alpha4 Cluster.

Sources (kubernetes-sigs/kind): pkg/apis/config/v1alpha4/default.go and
pkg/internal/apis/config/default.go (cluster, node and networking defaults),
and the providers' generatePortMappings / generateMountBindings
(pkg/cluster/internal/providers/{docker,podman}/provision.go), which default a
port mapping's listenAddress and protocol and treat an empty propagation as
None. kindlike applies those provider defaults at load time so the plan can
show them.

An empty string counts as "unset", as Go's zero value does in kind.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kindlike import constants as _project_defaults
from kindlike.config.types import (
    IP_FAMILY_DUAL,
    IP_FAMILY_IPV4,
    IP_FAMILY_IPV6,
    ROLE_CONTROL_PLANE,
    ClusterConfig,
    Mount,
    Networking,
    NodeConfig,
    PatchJSON6902,
    PortMapping,
)

DEFAULT_IP_FAMILY = IP_FAMILY_IPV4
DEFAULT_KUBE_PROXY_MODE = "iptables"
DEFAULT_PROTOCOL = "TCP"
DEFAULT_PROPAGATION = "None"

# Keyed by ipFamily; an unknown family (reported by validation) gets the ipv4 values, as in kind.
DEFAULT_API_SERVER_ADDRESS = {IP_FAMILY_IPV4: "127.0.0.1", IP_FAMILY_IPV6: "::1", IP_FAMILY_DUAL: "127.0.0.1"}
DEFAULT_POD_SUBNET = {
    IP_FAMILY_IPV4: "10.244.0.0/16",
    # kind: node-mask is /64 by default, so the pod range must be wider than that.
    IP_FAMILY_IPV6: "fd00:10:244::/56",
    IP_FAMILY_DUAL: "10.244.0.0/16,fd00:10:244::/56",
}
DEFAULT_SERVICE_SUBNET = {
    IP_FAMILY_IPV4: "10.96.0.0/16",
    IP_FAMILY_IPV6: "fd00:10:96::/112",
    IP_FAMILY_DUAL: "10.96.0.0/16,fd00:10:96::/112",
}
DEFAULT_LISTEN_ADDRESS = {IP_FAMILY_IPV4: "0.0.0.0", IP_FAMILY_IPV6: "::", IP_FAMILY_DUAL: "0.0.0.0"}


def default_node_image() -> str:
    # Read at call time so a changed project default is honoured.
    return _project_defaults.DEFAULT_NODE_IMAGE


def default_cluster() -> ClusterConfig:
    """The cluster kind builds when no config file is given."""
    return apply_defaults({})


def apply_defaults(raw: Mapping[str, Any]) -> ClusterConfig:
    """Build a defaulted Cluster from a decoded config (a dict keyed by kind's field names).

    `raw` holds only the fields the user set, already type-checked by the loader.
    """
    net = _networking(raw.get("networking") or {})
    raw_nodes = raw.get("nodes") or []
    if not raw_nodes:
        # kind: "default to a one node cluster"; an explicit `nodes: []` counts as unset too.
        raw_nodes = [{}]
    nodes = tuple(_node(n or {}, net.ip_family) for n in raw_nodes)
    return ClusterConfig(
        name=raw.get("name") or "",
        nodes=nodes,
        networking=net,
        feature_gates=dict(raw.get("featureGates") or {}),
        runtime_config=dict(raw.get("runtimeConfig") or {}),
        kubeadm_config_patches=tuple(raw.get("kubeadmConfigPatches") or ()),
        kubeadm_config_patches_json6902=_json6902(raw.get("kubeadmConfigPatchesJSON6902")),
        containerd_config_patches=tuple(raw.get("containerdConfigPatches") or ()),
        containerd_config_patches_json6902=tuple(raw.get("containerdConfigPatchesJSON6902") or ()),
        registry=(raw.get("kindlike") or {}).get("registry") or "",
    )


def _networking(raw: Mapping[str, Any]) -> Networking:
    defaulted: set[str] = set()

    def pick(key: str, default: Any) -> Any:
        value = raw.get(key)
        if value in (None, ""):
            defaulted.add(key)
            return default
        return value

    family = pick("ipFamily", DEFAULT_IP_FAMILY)
    known = family if family in DEFAULT_POD_SUBNET else IP_FAMILY_IPV4
    api_server_address = pick("apiServerAddress", DEFAULT_API_SERVER_ADDRESS[known])
    # kind's v1alpha4 defaulting fills podSubnet even with disableDefaultCNI.
    pod_subnet = pick("podSubnet", DEFAULT_POD_SUBNET[known])
    service_subnet = pick("serviceSubnet", DEFAULT_SERVICE_SUBNET[known])
    kube_proxy_mode = pick("kubeProxyMode", DEFAULT_KUBE_PROXY_MODE)
    if "apiServerPort" not in raw:
        defaulted.add("apiServerPort")
    dns = raw.get("dnsSearch")
    return Networking(
        ip_family=family,
        api_server_address=api_server_address,
        api_server_port=int(raw.get("apiServerPort") or 0),
        pod_subnet=pod_subnet,
        service_subnet=service_subnet,
        disable_default_cni=bool(raw.get("disableDefaultCNI") or False),
        kube_proxy_mode=kube_proxy_mode,
        dns_search=None if dns is None else tuple(dns),
        defaulted=frozenset(defaulted),
    )


def _node(raw: Mapping[str, Any], ip_family: str) -> NodeConfig:
    image = raw.get("image") or ""
    listen_default = DEFAULT_LISTEN_ADDRESS.get(ip_family, DEFAULT_LISTEN_ADDRESS[IP_FAMILY_IPV4])
    return NodeConfig(
        role=raw.get("role") or ROLE_CONTROL_PLANE,
        image=image or default_node_image(),
        image_defaulted=not image,
        labels=dict(raw.get("labels") or {}),
        extra_mounts=tuple(_mount(m or {}) for m in raw.get("extraMounts") or ()),
        extra_port_mappings=tuple(
            _port_mapping(p or {}, listen_default) for p in raw.get("extraPortMappings") or ()
        ),
        kubeadm_config_patches=tuple(raw.get("kubeadmConfigPatches") or ()),
        kubeadm_config_patches_json6902=_json6902(raw.get("kubeadmConfigPatchesJSON6902")),
        host=(raw.get("kindlike") or {}).get("host") or "",
        host_address=(raw.get("kindlike") or {}).get("hostAddress") or "",
        cpus=(raw.get("kindlike") or {}).get("cpus") or "",
        memory=(raw.get("kindlike") or {}).get("memory") or "",
    )


def _mount(raw: Mapping[str, Any]) -> Mount:
    return Mount(
        host_path=raw.get("hostPath") or "",
        container_path=raw.get("containerPath") or "",
        read_only=bool(raw.get("readOnly") or False),
        selinux_relabel=bool(raw.get("selinuxRelabel") or False),
        propagation=raw.get("propagation") or DEFAULT_PROPAGATION,
    )


def _port_mapping(raw: Mapping[str, Any], listen_default: str) -> PortMapping:
    return PortMapping(
        container_port=int(raw.get("containerPort") or 0),
        host_port=int(raw.get("hostPort") or 0),
        listen_address=raw.get("listenAddress") or listen_default,
        # kind upper-cases the protocol, so `udp` is UDP.
        protocol=(raw.get("protocol") or DEFAULT_PROTOCOL).upper(),
    )


def _json6902(raw: Any) -> tuple[PatchJSON6902, ...]:
    return tuple(
        PatchJSON6902(
            group=(p or {}).get("group") or "",
            version=(p or {}).get("version") or "",
            kind=(p or {}).get("kind") or "",
            patch=(p or {}).get("patch") or "",
        )
        for p in raw or ()
    )
