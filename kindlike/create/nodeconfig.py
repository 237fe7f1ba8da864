"""Step "Writing configuration": each node's kubeadm config (rendered for the
image's Kubernetes version, the node's address and the config's patches) and,
when the config patches containerd, its containerd config."""
from __future__ import annotations

import secrets
from concurrent.futures import ThreadPoolExecutor

from kindlike import constants
from kindlike.cluster import containerd, hosts
from kindlike.cluster.boot import BOOT_TIMEOUT, wait_for_systemd
from kindlike.cluster.nodes import Node
from kindlike.config.naming import node_names
from kindlike.config.types import ClusterConfig
from kindlike.constants import BOOTSTRAP_TOKEN, CONTAINERD_CONF, KUBEADM_CONF, KUBEADM_PATCHES
from kindlike.create import extras, kubeadm
from kindlike.engines.base import Engine
from kindlike.nodeimage.metadata import ImageInfo


def kubeadm_inputs(facts, cluster: str, cfg: ClusterConfig, nodes, info: ImageInfo, load_balancer=None):
    """One KubeadmInput per node, paired with that node's config entry.
    `facts`: the engine's (EngineInfo: rootless, cgroup_version); `nodes`
    and `load_balancer` (several control planes): anything with name, role
    and ip (the dry run has no containers yet)."""
    by_name = {n: node_cfg for n, _role, node_cfg in node_names(cfg, cluster)}
    cp = nodes[0]
    # Every node reaches the API server through the load balancer when there
    # is one; each control plane's certificate names it. Nodes on several
    # hosts reach it at its host's address, where it is published.
    endpoint = load_balancer or cp
    endpoint_name = by_name[cp.name].host_address if cfg.multi_host else endpoint.name
    host_addr = cfg.networking.api_server_address
    sans = sorted({host_addr, "localhost", "127.0.0.1", cp.name, cp.ip, endpoint.name, endpoint.ip,
                   by_name[cp.name].host_address} - {"0.0.0.0", "::", ""})
    certificate_key = secrets.token_hex(32) if load_balancer else ""
    out = []
    for i, n in enumerate(nodes):
        node_cfg = by_name[n.name]
        # A node on another host may run under another kind of engine
        # (rootless there); the dry run's planned nodes have no engine.
        node_facts = n.engine.info() if getattr(n, "engine", None) is not None else facts
        inp = kubeadm.KubeadmInput(
            cluster_name=cluster,
            kubernetes_version=info.kubernetes_version,
            node_name=n.name,
            node_role=n.role,
            node_ip=node_cfg.host_address or n.ip,
            node_labels=dict(node_cfg.labels),
            control_plane_endpoint=f"{endpoint_name}:{constants.API_SERVER_CONTAINER_PORT}",
            certificate_key=certificate_key if n.role == constants.ROLE_CONTROL_PLANE else "",
            control_planes=len(cfg.control_planes()),
            control_plane_taint=bool(cfg.workers()),
            api_server_cert_sans=sans,
            pod_subnet=cfg.networking.pod_subnet,
            service_subnet=cfg.networking.service_subnet,
            ip_family=cfg.networking.ip_family,
            feature_gates=dict(cfg.feature_gates),
            runtime_config=dict(cfg.runtime_config),
            kube_proxy_mode=cfg.networking.kube_proxy_mode,
            user_namespace=node_facts.rootless,
            cgroup_driver=info.cgroup_driver,
            cgroup_version=node_facts.cgroup_version,
            token=BOOTSTRAP_TOKEN,
            join=i > 0,
            system_reserved=extras.reserved(node_cfg),
        )
        out.append((n, node_cfg, inp))
    return out


def render_all(facts, cluster: str, cfg: ClusterConfig, nodes, info: ImageInfo, load_balancer=None) -> dict[str, str]:
    return {
        n.name: kubeadm.render(inp, cfg.kubeadm_config_patches, cfg.kubeadm_config_patches_json6902,
                               node_cfg.kubeadm_config_patches, node_cfg.kubeadm_config_patches_json6902)
        for n, node_cfg, inp in kubeadm_inputs(facts, cluster, cfg, nodes, info, load_balancer)
    }


def write_node_configs(engine: Engine, cluster: str, cfg: ClusterConfig, nodes: list[Node], info: ImageInfo,
                       load_balancer: Node | None = None) -> None:
    inputs = kubeadm_inputs(engine.info(), cluster, cfg, nodes, info, load_balancer)
    rendered = render_all(engine.info(), cluster, cfg, nodes, info, load_balancer)
    patches = {n.name: kubeadm.init_patches(inp) for n, _cfg, inp in inputs if not inp.join}
    patch_containerd = bool(cfg.containerd_config_patches or cfg.containerd_config_patches_json6902)

    def write(n: Node) -> None:
        if n.host_address:
            hosts.own_host_address(n)
        n.write_file(KUBEADM_CONF, rendered[n.name])
        if patches.get(n.name):
            n.exec("mkdir", "-p", KUBEADM_PATCHES)
            for file, text in patches[n.name].items():
                n.write_file(f"{KUBEADM_PATCHES}/{file}", text)
        if patch_containerd:
            # After its units have started: none of them rewrites it then.
            wait_for_systemd(n, BOOT_TIMEOUT)
            current = n.read_file(CONTAINERD_CONF)
            patched = containerd.apply_patches(current, list(cfg.containerd_config_patches),
                                               list(cfg.containerd_config_patches_json6902))
            n.write_file(CONTAINERD_CONF, patched)
            n.exec("systemctl", "restart", "containerd")

    with ThreadPoolExecutor(max_workers=len(nodes)) as pool:
        list(pool.map(write, nodes))
