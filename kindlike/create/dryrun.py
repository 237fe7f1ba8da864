"""`kindlike create cluster --dry-run`: the plan, and each node's configuration.

`plan_dict` builds the data (camelCase keys, like the config) from the node
plans create itself uses (create/provision.py: names, images, published
ports, mounts), and `render_plan` turns that same data into text, so the two
never disagree. `dry_run` adds the steps create would run, from its step
list, after the refusals create makes (pipeline.prepare).

With several control planes each control plane
publishes the API server on a random loopback port and kind's external load
balancer takes apiServerAddress:apiServerPort (kind's providers'
provision.go).

Of each node it shows the kubeadm configuration (Init/Join + Cluster, KubeletConfiguration,
KubeProxyConfiguration) exactly as create would write it, and the containerd
settings the node's entrypoint will set, for the image's Kubernetes version
and the engine's rootless mode. Nothing is created: addresses the engine
assigns at create time are shown as placeholders."""
from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from kindlike.config.naming import load_balancer_name, node_names
from kindlike.config.types import ClusterConfig
from kindlike.constants import ROLE_LOAD_BALANCER, STORAGE_MANIFEST
from kindlike.create import nodeconfig
from kindlike.create.pipeline import planned, prepare
from kindlike.create.provision import NodePlan, load_balancer_plan, node_plans
from kindlike.create.steps import STEPS
from kindlike.doctor.checks import cgroup_layout, parse_cgroup_mounts
from kindlike.engines.base import PortSpec
from kindlike.nodeimage.components import DEFAULT_KUBERNETES, versions
from kindlike.nodeimage.metadata import ImageInfo, image_info

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
                     storage_manifest=STORAGE_MANIFEST,
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


RANDOM_PORT = "<random free port>"
ENGINE_PORT = "<engine-picked port>"


def _port_dict(p: PortSpec, purpose: str | None = None) -> dict[str, Any]:
    return {
        "listenAddress": p.listen_address,
        "hostPort": p.host_port,
        "containerPort": p.container_port,
        "protocol": p.protocol,
        "purpose": purpose,
    }


def _node_dict(plan: NodePlan) -> dict[str, Any]:
    node = plan.config
    ports = [_port_dict(plan.api_server, "API server")] if plan.api_server else []
    return {
        "name": plan.name,
        "role": plan.role,
        "image": plan.image,
        "imageDefaulted": node.image_defaulted,
        "labels": dict(node.labels),
        "ports": ports + [_port_dict(p) for p in plan.ports],
        "mounts": [
            {
                "hostPath": spec.host_path,
                "hostPathAsWritten": m.host_path,
                "containerPath": spec.container_path,
                "readOnly": spec.read_only,
                "selinuxRelabel": spec.selinux_relabel,
                "propagation": spec.propagation,
            }
            for spec, m in zip(plan.mounts, node.extra_mounts)
        ],
        "kubeadmConfigPatches": len(node.kubeadm_config_patches),
        "kubeadmConfigPatchesJSON6902": len(node.kubeadm_config_patches_json6902),
        "kindlike": {"cpus": node.cpus, "memory": node.memory},
    }


def plan_dict(cluster_name: str, cfg: ClusterConfig, warnings: Sequence[str] = ()) -> dict[str, Any]:
    """The plan as data, for `--output json|yaml`."""
    net = cfg.networking
    lb = load_balancer_plan(cluster_name, cfg)
    load_balancer = None if lb is None else {"name": lb.name, "ports": [_port_dict(lb.api_server, "API server")]}
    all_warnings = list(warnings)
    return {
        "cluster": cluster_name,
        "nodes": [_node_dict(p) for p in node_plans(cluster_name, cfg)],
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
        "kindlike": {"registry": cfg.registry},
        "warnings": all_warnings,
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


def render_plan(cluster_name: str, cfg: ClusterConfig, warnings: Sequence[str] = ()) -> str:
    """Human-readable plan of the config (without the steps: see dry_run)."""
    d = plan_dict(cluster_name, cfg, warnings)
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
        if n["kindlike"]["cpus"] or n["kindlike"]["memory"]:
            out += _block("limits", [", ".join(f"{v} {k}" for k, v in n["kindlike"].items() if v)], "    ")
        if n["kubeadmConfigPatches"] or n["kubeadmConfigPatchesJSON6902"]:
            out.append(
                f"    kubeadm patches: {n['kubeadmConfigPatches']} merge, "
                f"{n['kubeadmConfigPatchesJSON6902']} JSON 6902"
            )
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
    if d["kindlike"]["registry"]:
        out.append(f"Registry:         {d['kindlike']['registry']} (kindlike registry)")
    p = d["patches"]
    out.append(
        f"Patches:          kubeadm {p['kubeadmConfigPatches']} merge, "
        f"{p['kubeadmConfigPatchesJSON6902']} JSON 6902 (cluster-wide); "
        f"containerd {p['containerdConfigPatches']} TOML merge, "
        f"{p['containerdConfigPatchesJSON6902']} JSON 6902"
    )
    if d["warnings"]:
        out += ["", "Warnings:"] + [f"  - {w}" for w in d["warnings"]]
    return "\n".join(out) + "\n"


def dry_run(opts, warnings: Sequence[str] = (), *, engine=None, output: str = "text") -> str:
    """What `create cluster --dry-run` prints: the plan, the steps create
    would run and every node's rendered configuration (for the image's
    Kubernetes and the engine's rootless mode: `engine` is only asked for
    facts and image labels, and may be None); raises what create would
    refuse with, before any step. output: text, yaml or json."""
    ctx = prepare(opts)
    info, facts, assumed = _image_and_facts(ctx, engine)
    nodes = render_nodes(ctx.name, ctx.config, info, facts)
    steps = [(step.shown(ctx) if step.shown and why is None else step.title, why) for step, why in planned(ctx, STEPS)]
    if output in ("yaml", "json"):
        data = plan_dict(ctx.name, ctx.config, warnings)
        data["steps"] = [{"title": t, "skipped": why} for t, why in steps]
        data["image"] = {"ref": info.ref, "kubernetesVersion": info.kubernetes_version}
        data["engine"] = {"rootless": facts.rootless, "cgroupVersion": facts.cgroup_version, "assumed": assumed}
        data["rendered"] = nodes
        if output == "json":
            return json.dumps(data, indent=2) + "\n"

        return yaml.safe_dump(data, sort_keys=False)
    lines = ["", "Steps:"]
    for title, why in steps:
        lines.append(f"  {title}" if why is None else f"  {title}: skipped" + (f" ({why})" if why else ""))
    lines += ["", f"Rendered for {info.ref} (Kubernetes {info.kubernetes_version}), "
                  f"{'rootless' if facts.rootless else 'rootful'} engine, cgroup v{facts.cgroup_version}"
                  + (f" ({assumed})" if assumed else "") + ":"]
    return render_plan(ctx.name, ctx.config, warnings) + "\n".join(lines) + "\n" + render_text(nodes)


def _image_and_facts(ctx, engine):
    """The control plane image's facts and the engine's, as far as they can
    be read without creating anything."""
    ref = ctx.config.control_planes()[0].image
    if engine is None:
        try:
            with open("/proc/self/mountinfo") as f:
                layout_v2 = cgroup_layout(parse_cgroup_mounts(f.read())) == "v2"
        except OSError:
            layout_v2 = True
        facts = Facts(rootless=os.geteuid() != 0, cgroup_version=2 if layout_v2 else 1)
        return default_image_info(ref), facts, "no engine answered: assumed from this host"
    e = engine.info()
    facts = Facts(rootless=e.rootless, cgroup_version=e.cgroup_version)
    if engine.image_exists(ref):
        return image_info(engine, ref), facts, ""
    return default_image_info(ref), facts, f"{ref} is not built yet: its defaults"
