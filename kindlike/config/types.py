"""The cluster configuration model: kind's `kind.x-k8s.io/v1alpha4` `Cluster`.

Python names are snake_case; each field records the name it has in the YAML
file (kind's spelling) in its metadata under "kind", so the loader, the plan
and error messages all speak the user's vocabulary.

The dataclasses are frozen and use tuples for lists; the dicts inside them
(labels, featureGates, runtimeConfig) are plain dicts, so treat them as
read-only. Use `dataclasses.replace` (or `ClusterConfig.with_node_image`) to derive
a changed copy.
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field

from kindlike.constants import ROLE_CONTROL_PLANE, ROLE_WORKER

API_VERSION = "kind.x-k8s.io/v1alpha4"
KIND = "Cluster"

NODE_ROLES = (ROLE_CONTROL_PLANE, ROLE_WORKER)

IP_FAMILY_IPV4 = "ipv4"
IP_FAMILY_IPV6 = "ipv6"
IP_FAMILY_DUAL = "dual"
IP_FAMILIES = (IP_FAMILY_IPV4, IP_FAMILY_IPV6, IP_FAMILY_DUAL)

KUBE_PROXY_MODES = ("iptables", "ipvs", "nftables", "none")
PROTOCOLS = ("TCP", "UDP", "SCTP")
PROPAGATIONS = ("None", "HostToContainer", "Bidirectional")


def _k(kind_name: str, **kwargs):
    """A dataclass field that remembers its YAML (kind) name."""
    return field(metadata={"kind": kind_name}, **kwargs)


def _own(path: str, **kwargs):
    """A kindlike-only field, under the `kindlike:` key of its object (kind
    refuses that key; a config without it stays a kind config)."""
    return field(metadata={"kindlike": path}, **kwargs)


@dataclass(frozen=True)
class Mount:
    """One bind mount from the host into a node container (`extraMounts[]`)."""

    host_path: str = _k("hostPath", default="")
    container_path: str = _k("containerPath", default="")
    read_only: bool = _k("readOnly", default=False)
    selinux_relabel: bool = _k("selinuxRelabel", default=False)
    propagation: str = _k("propagation", default="None")

    def absolute_host_path(self, cwd: str | None = None) -> str:
        """hostPath as the engine will get it.

        kind resolves a relative hostPath against the working directory of the
        `create` process (its providers call filepath.Abs), not against the
        config file's directory; kindlike does the same.
        """
        if os.path.isabs(self.host_path):
            return self.host_path
        return os.path.normpath(os.path.join(cwd or os.getcwd(), self.host_path))


@dataclass(frozen=True)
class PortMapping:
    """One published port of a node container (`extraPortMappings[]`).

    host_port 0 means "kindlike picks a free port", -1 "the engine picks".
    """

    container_port: int = _k("containerPort", default=0)
    host_port: int = _k("hostPort", default=0)
    listen_address: str = _k("listenAddress", default="0.0.0.0")
    protocol: str = _k("protocol", default="TCP")


@dataclass(frozen=True)
class PatchJSON6902:
    """An RFC 6902 patch for the kubeadm config object matching group/version/kind."""

    group: str = _k("group", default="")
    version: str = _k("version", default="")
    kind: str = _k("kind", default="")
    patch: str = _k("patch", default="")

    @property
    def api_version(self) -> str:
        # Same joining rule as kind's groupVersionToAPIVersion: the core group has no "/".
        if not self.group:
            return self.version
        return f"{self.group}/{self.version}"


@dataclass(frozen=True)
class NodeConfig:
    """One node container of the cluster (`nodes[]`)."""

    role: str = _k("role", default=ROLE_CONTROL_PLANE)
    image: str = _k("image", default="")
    labels: dict[str, str] = _k("labels", default_factory=dict)
    extra_mounts: tuple[Mount, ...] = _k("extraMounts", default=())
    extra_port_mappings: tuple[PortMapping, ...] = _k("extraPortMappings", default=())
    kubeadm_config_patches: tuple[str, ...] = _k("kubeadmConfigPatches", default=())
    kubeadm_config_patches_json6902: tuple[PatchJSON6902, ...] = _k(
        "kubeadmConfigPatchesJSON6902", default=()
    )
    # kindlike-only: the engine of the host the node runs on ("" = the
    # cluster's engine) and that host's address, which the other hosts reach
    # it at (kindlike.cluster.hosts).
    host: str = _own("kindlike.host", default="")
    host_address: str = _own("kindlike.hostAddress", default="")
    # kindlike-only: the node container's CPU and memory limits as written
    # ("1.5", "500m"; "1Gi"), "" = none (kindlike.noderesources).
    cpus: str = _own("kindlike.cpus", default="")
    memory: str = _own("kindlike.memory", default="")
    # Not a config field: True when `image` came from kindlike's default, so a
    # plan can say "(default)" and `--image` semantics stay visible.
    image_defaulted: bool = field(default=False, compare=False)


@dataclass(frozen=True)
class Networking:
    """Cluster-wide network settings (`networking`)."""

    ip_family: str = _k("ipFamily", default=IP_FAMILY_IPV4)
    api_server_address: str = _k("apiServerAddress", default="127.0.0.1")
    # 0: kindlike picks a free host port; -1: the engine picks one.
    api_server_port: int = _k("apiServerPort", default=0)
    # The class defaults are kind's ipv4 defaults; loading picks per-family ones.
    pod_subnet: str = _k("podSubnet", default="10.244.0.0/16")
    service_subnet: str = _k("serviceSubnet", default="10.96.0.0/16")
    disable_default_cni: bool = _k("disableDefaultCNI", default=False)
    kube_proxy_mode: str = _k("kubeProxyMode", default="iptables")
    # None: nodes inherit the host's DNS search domains; () means "no search domains".
    dns_search: tuple[str, ...] | None = _k("dnsSearch", default=None)
    # Not a config field: the kind names of the fields filled in by defaulting.
    defaulted: frozenset[str] = field(default=frozenset(), compare=False)


@dataclass(frozen=True)
class ClusterConfig:
    """A whole `kind: Cluster` config after defaulting."""

    name: str = _k("name", default="")
    nodes: tuple[NodeConfig, ...] = _k("nodes", default=())
    networking: Networking = _k("networking", default_factory=Networking)
    feature_gates: dict[str, bool] = _k("featureGates", default_factory=dict)
    runtime_config: dict[str, str] = _k("runtimeConfig", default_factory=dict)
    kubeadm_config_patches: tuple[str, ...] = _k("kubeadmConfigPatches", default=())
    kubeadm_config_patches_json6902: tuple[PatchJSON6902, ...] = _k(
        "kubeadmConfigPatchesJSON6902", default=()
    )
    containerd_config_patches: tuple[str, ...] = _k("containerdConfigPatches", default=())
    containerd_config_patches_json6902: tuple[str, ...] = _k(
        "containerdConfigPatchesJSON6902", default=()
    )
    # kindlike-only: the local registry to connect (kindlike.registry).
    registry: str = _own("kindlike.registry", default="")

    @property
    def multi_host(self) -> bool:
        """Nodes on several hosts: every node is addressed by its host's address."""
        return any(n.host or n.host_address for n in self.nodes)

    def control_planes(self) -> tuple[NodeConfig, ...]:
        return tuple(n for n in self.nodes if n.role == ROLE_CONTROL_PLANE)

    def workers(self) -> tuple[NodeConfig, ...]:
        return tuple(n for n in self.nodes if n.role == ROLE_WORKER)

    def with_node_image(self, image: str) -> ClusterConfig:
        """Copy with every node's image replaced, as kind's `--image` does."""
        nodes = tuple(dataclasses.replace(n, image=image, image_defaulted=False) for n in self.nodes)
        return dataclasses.replace(self, nodes=nodes)


def kind_field_names(cls: type) -> dict[str, str]:
    """{kind (YAML) name: python attribute name} for a config dataclass."""
    return {
        f.metadata["kind"]: f.name
        for f in dataclasses.fields(cls)
        if "kind" in f.metadata
    }
