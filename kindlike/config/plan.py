"""The creation plan `kindlike create cluster --dry-run` prints.

`plan_dict` builds the data (camelCase keys, like the config) and
`render_plan` turns that same data into text, so the two never disagree.

Extension points, for later steps that add what they would render (kubeadm
config, containerd config, ...):
  - `extra_sections`: cluster-wide PlanSections, printed after the built-in ones;
  - `node_sections`: {node name: [PlanSection, ...]}, printed under that node.
A section's `data` lands in the dict under `sections[key]`.

The published API server port mirrors kind's providers (docker/podman
provision.go): a single control plane publishes 6443/TCP on
apiServerAddress:apiServerPort; with several, each control plane publishes it
on a random loopback port and the external load balancer takes
apiServerAddress:apiServerPort.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kindlike.config.naming import load_balancer_name, node_names
from kindlike.config.types import IP_FAMILY_IPV6, ROLE_CONTROL_PLANE, Cluster, PortMapping
from kindlike.defaults import API_SERVER_CONTAINER_PORT

RANDOM_PORT = "<random free port>"
ENGINE_PORT = "<engine-picked port>"


@dataclass(frozen=True)
class PlanSection:
    """A block of plan output contributed by a later step."""

    title: str
    lines: tuple[str, ...] = ()
    # JSON-able data for plan_dict; stored under `key` (default: the title).
    data: Any = None
    key: str | None = None

    @property
    def dict_key(self) -> str:
        return self.key or self.title


def _port_dict(pm: PortMapping, purpose: str | None = None) -> dict[str, Any]:
    return {
        "listenAddress": pm.listen_address,
        "hostPort": pm.host_port,
        "containerPort": pm.container_port,
        "protocol": pm.protocol,
        "purpose": purpose,
    }


def _api_server_mapping(cfg: Cluster, *, on_load_balancer: bool, several: bool) -> PortMapping:
    net = cfg.networking
    if several and not on_load_balancer:
        loopback = "::1" if net.ip_family == IP_FAMILY_IPV6 else "127.0.0.1"
        return PortMapping(API_SERVER_CONTAINER_PORT, 0, loopback, "TCP")
    return PortMapping(API_SERVER_CONTAINER_PORT, net.api_server_port, net.api_server_address, "TCP")


def plan_dict(
    cluster_name: str,
    cfg: Cluster,
    warnings: Sequence[str] = (),
    *,
    extra_sections: Sequence[PlanSection] = (),
    node_sections: Mapping[str, Sequence[PlanSection]] | None = None,
) -> dict[str, Any]:
    """The plan as data, for `--output json|yaml`."""
    node_sections = node_sections or {}
    several = len(cfg.control_planes()) > 1
    nodes = []
    for name, role, node in node_names(cfg, cluster_name):
        ports = []
        if role == ROLE_CONTROL_PLANE:
            ports.append(_port_dict(_api_server_mapping(cfg, on_load_balancer=False, several=several), "API server"))
        ports += [_port_dict(pm) for pm in node.extra_port_mappings]
        nodes.append(
            {
                "name": name,
                "role": role,
                "image": node.image,
                "imageDefaulted": node.image_defaulted,
                "labels": dict(node.labels),
                "ports": ports,
                "mounts": [
                    {
                        "hostPath": m.absolute_host_path(),
                        "hostPathAsWritten": m.host_path,
                        "containerPath": m.container_path,
                        "readOnly": m.read_only,
                        "selinuxRelabel": m.selinux_relabel,
                        "propagation": m.propagation,
                    }
                    for m in node.extra_mounts
                ],
                "kubeadmConfigPatches": len(node.kubeadm_config_patches),
                "kubeadmConfigPatchesJSON6902": len(node.kubeadm_config_patches_json6902),
                "sections": {s.dict_key: s.data for s in node_sections.get(name, ())},
            }
        )
    load_balancer = None
    if several:
        load_balancer = {
            "name": load_balancer_name(cluster_name),
            "ports": [_port_dict(_api_server_mapping(cfg, on_load_balancer=True, several=True), "API server")],
        }
    net = cfg.networking
    all_warnings = list(warnings)
    return {
        "cluster": cluster_name,
        "nodes": nodes,
        "loadBalancer": load_balancer,
        "networking": {
            "ipFamily": net.ip_family,
            "apiServerAddress": net.api_server_address,
            "apiServerPort": net.api_server_port,
            "podSubnet": net.pod_subnet,
            "serviceSubnet": net.service_subnet,
            "disableDefaultCNI": net.disable_default_cni,
            "kubeProxyMode": net.kube_proxy_mode,
            "dnsSearch": None if net.dns_search is None else list(net.dns_search),
            "defaulted": sorted(net.defaulted),
        },
        "featureGates": dict(cfg.feature_gates),
        "runtimeConfig": dict(cfg.runtime_config),
        "patches": {
            "kubeadmConfigPatches": len(cfg.kubeadm_config_patches),
            "kubeadmConfigPatchesJSON6902": len(cfg.kubeadm_config_patches_json6902),
            "containerdConfigPatches": len(cfg.containerd_config_patches),
            "containerdConfigPatchesJSON6902": len(cfg.containerd_config_patches_json6902),
        },
        "warnings": all_warnings,
        "sections": {s.dict_key: s.data for s in extra_sections},
    }


# ---------------------------------------------------------------------------
# Text


def _host(address: str, port: int) -> str:
    shown = f"[{address}]" if ":" in address else address
    if port == 0:
        return f"{shown}:{RANDOM_PORT}"
    if port == -1:
        return f"{shown}:{ENGINE_PORT}"
    return f"{shown}:{port}"


def _port_line(p: Mapping[str, Any]) -> str:
    line = f"{_host(p['listenAddress'], p['hostPort'])} -> {p['containerPort']}/{p['protocol']}"
    return f"{line} ({p['purpose']})" if p.get("purpose") else line


def _mount_line(m: Mapping[str, Any]) -> str:
    flags = ["read-only" if m["readOnly"] else "read-write"]
    if m["selinuxRelabel"]:
        flags.append("SELinux relabel")
    flags.append(f"propagation {m['propagation']}")
    return f"{m['hostPath']} -> {m['containerPath']} ({', '.join(flags)})"


def _pairs(mapping: Mapping[str, Any]) -> str:
    if not mapping:
        return "none"
    return ", ".join(f"{k}={str(v).lower() if isinstance(v, bool) else v}" for k, v in mapping.items())


_LABEL_WIDTH = 8  # "mounts: "


def _block(label: str, items: Sequence[str], indent: str) -> list[str]:
    """`label: first` then the rest aligned under the first item."""
    head = f"{label}:".ljust(_LABEL_WIDTH)
    pad = " " * _LABEL_WIDTH
    return [f"{indent}{head}{items[0]}"] + [f"{indent}{pad}{item}" for item in items[1:]]


def _section_lines(section: PlanSection, indent: str) -> list[str]:
    return [f"{indent}{section.title}:"] + [f"{indent}  {line}" for line in section.lines]


def render_plan(
    cluster_name: str,
    cfg: Cluster,
    warnings: Sequence[str] = (),
    *,
    extra_sections: Sequence[PlanSection] = (),
    node_sections: Mapping[str, Sequence[PlanSection]] | None = None,
) -> str:
    """Human-readable plan; see the module docstring for the extension points."""
    d = plan_dict(cluster_name, cfg, warnings, extra_sections=extra_sections, node_sections=node_sections)
    node_sections = node_sections or {}
    out = [f'Plan for cluster "{cluster_name}" (dry run: nothing is created)', ""]

    out.append(f"Nodes ({len(d['nodes'])}):")
    for n in d["nodes"]:
        out.append(f"  {n['name']} ({n['role']})")
        out += _block("image", [n["image"] + (" (default)" if n["imageDefaulted"] else "")], "    ")
        if n["labels"]:
            out += _block("labels", [_pairs(n["labels"])], "    ")
        if n["ports"]:
            out += _block("ports", [_port_line(p) for p in n["ports"]], "    ")
        if n["mounts"]:
            out += _block("mounts", [_mount_line(m) for m in n["mounts"]], "    ")
        if n["kubeadmConfigPatches"] or n["kubeadmConfigPatchesJSON6902"]:
            out.append(
                f"    kubeadm patches: {n['kubeadmConfigPatches']} merge, "
                f"{n['kubeadmConfigPatchesJSON6902']} JSON 6902"
            )
        for section in node_sections.get(n["name"], ()):
            out += _section_lines(section, "    ")
    if d["loadBalancer"]:
        lb = d["loadBalancer"]
        out.append(f"  {lb['name']} (load balancer for the control planes)")
        out += _block("ports", [_port_line(p) for p in lb["ports"]], "    ")

    net = d["networking"]
    dflt = set(net["defaulted"])

    def mark(key: str) -> str:
        return " (default)" if key in dflt else ""

    api_mark = " (default)" if {"apiServerAddress", "apiServerPort"} <= dflt else ""
    if net["dnsSearch"] is None:
        dns = "inherited from the host"
    else:
        dns = ", ".join(net["dnsSearch"]) or "none"
    out += [
        "",
        "Networking:",
        f"  ipFamily:       {net['ipFamily']}{mark('ipFamily')}",
        f"  API server:     {_host(net['apiServerAddress'], net['apiServerPort'])}{api_mark}",
        f"  podSubnet:      {net['podSubnet']}{mark('podSubnet')}",
        f"  serviceSubnet:  {net['serviceSubnet']}{mark('serviceSubnet')}",
        f"  kubeProxyMode:  {net['kubeProxyMode']}{mark('kubeProxyMode')}",
        f"  default CNI:    {'disabled (disableDefaultCNI)' if net['disableDefaultCNI'] else 'installed'}",
        f"  dnsSearch:      {dns}",
        "",
        f"Feature gates:    {_pairs(d['featureGates'])}",
        f"Runtime config:   {_pairs(d['runtimeConfig'])}",
    ]
    p = d["patches"]
    out.append(
        f"Patches:          kubeadm {p['kubeadmConfigPatches']} merge, "
        f"{p['kubeadmConfigPatchesJSON6902']} JSON 6902 (cluster-wide); "
        f"containerd {p['containerdConfigPatches']} TOML merge, "
        f"{p['containerdConfigPatchesJSON6902']} JSON 6902"
    )
    for section in extra_sections:
        out.append("")
        out += _section_lines(section, "")
    if d["warnings"]:
        out += ["", "Warnings:"] + [f"  - {w}" for w in d["warnings"]]
    return "\n".join(out) + "\n"
