"""`create cluster` as an explicit list of named steps (kind's actions).

Each step is one status line with its duration. On failure the error names
the step (and node), and everything this run created is removed unless
`retain` is set.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field

from kindlike import defaults
from kindlike.config.types import Cluster as ClusterConfig
from kindlike.create import bootstrap, cni, nodeconfig, provision
from kindlike.create.imageinfo import ImageInfo, ensure_images
from kindlike.engines.base import Engine, MountSpec, PortSpec
from kindlike.errors import ClusterError, ConfigError, KindlikeError, StepError
from kindlike.nodes import Node
from kindlike.status import Status

STEP_IMAGE = "Ensuring node image 🖼"
STEP_NODES = "Preparing nodes 📦"
STEP_CONFIG = "Writing configuration 📜"
STEP_INIT = "Starting control-plane 🕹️"
STEP_CNI = "Installing CNI 🔌"
STEP_JOIN = "Joining worker nodes 🚜"
STEP_WAIT = "Waiting for nodes Ready ⏳"
STEP_KUBECONFIG = "Exporting kubeconfig 🔑"


@dataclass
class CreateOptions:
    name: str
    config: ClusterConfig
    image: str | None = None  # --image: overrides every node's image
    retain: bool = False
    wait: float = 0.0  # seconds; 0 = do not wait for Ready
    kubeconfig: str | None = None
    status: Status = field(default_factory=Status)
    # Preflight: accept a rootless host without cgroup v2 delegation (nodes
    # then run without resource limits); also KINDLIKE_ALLOW_NO_RESOURCE_LIMITS=1.
    allow_no_resource_limits: bool = False


@dataclass
class CreateResult:
    name: str
    nodes: list[Node]
    kubeconfig_path: str
    durations: dict[str, float]
    cni: str


def plans_from_config(name: str, cfg: ClusterConfig) -> list[provision.NodePlan]:
    from kindlike.config.naming import node_names

    plans = []
    first_cp = True
    for node_name, role, node in node_names(cfg, name):
        ports = [PortSpec(p.container_port, p.host_port, p.listen_address, p.protocol)
                 for p in node.extra_port_mappings]
        if role == "control-plane" and first_cp:
            first_cp = False
            net = cfg.networking
            ports.append(PortSpec(defaults.API_SERVER_CONTAINER_PORT, net.api_server_port, net.api_server_address))
        mounts = [MountSpec(m.absolute_host_path(), m.container_path, m.read_only, m.propagation, m.selinux_relabel)
                  for m in node.extra_mounts]
        plans.append(provision.NodePlan(node_name, role, node.image, ports=ports, mounts=mounts))
    return plans


def check_before_create(cfg: ClusterConfig, kubeconfig: str | None) -> None:
    """What would otherwise fail only after the nodes are built: a missing
    hostPath, a kubeconfig that cannot be written."""
    from kindlike import kubeconfig as kc

    # Docker would create a missing hostPath as an empty root-owned directory
    # and Podman refuses it; kindlike refuses it under both (kind says nothing).
    missing = [f'nodes[{i}].extraMounts[{j}].hostPath: "{m.host_path}" does not exist '
               "(create it first, or fix the path)"
               for i, node in enumerate(cfg.nodes) for j, m in enumerate(node.extra_mounts)
               if not os.path.lexists(m.absolute_host_path())]
    if missing:
        raise ConfigError(missing)
    kc.check_writable(kc.default_path(kubeconfig))


def refuse_unsupported(cfg: ClusterConfig) -> None:
    if len(cfg.control_planes()) > 1:
        raise KindlikeError(
            f"nodes: {len(cfg.control_planes())} control-plane nodes are not supported yet",
            fix="use a single control-plane node (HA control planes are planned)",
        )


def create_cluster(engine: Engine, opts: CreateOptions) -> CreateResult:
    cfg = opts.config.with_node_image(opts.image) if opts.image else opts.config
    refuse_unsupported(cfg)
    check_before_create(cfg, opts.kubeconfig)
    st = opts.status
    # -- preflight (kindlike.doctor): the fatal host checks, before anything
    # is created; raises PreflightError (one line + fix per failure).
    from kindlike.doctor import preflight

    preflight(engine, cfg, allow_no_resource_limits=opts.allow_no_resource_limits, status=st)
    # -- end preflight
    if provision.existing_nodes(engine, opts.name):
        raise ClusterError(f"cluster {opts.name!r} already exists",
                           fix=f"delete it first (kindlike delete cluster --name {opts.name}) or pick another --name")
    created = False
    step = STEP_IMAGE
    try:
        with st.step(STEP_IMAGE) as note:
            infos = ensure_images(engine, sorted({n.image for n in cfg.nodes}), note=note, status=st)
        plans = plans_from_config(opts.name, cfg)
        step = STEP_NODES
        with st.step(STEP_NODES):
            created = True
            nodes = provision.provision(engine, opts.name, plans)
        cp, workers = nodes[0], [n for n in nodes if n.role == "worker"]
        info: ImageInfo = infos[cp_image(cfg)]

        step = STEP_CONFIG
        with st.step(STEP_CONFIG):
            nodeconfig.write_node_configs(engine, opts.name, cfg, nodes, info)

        step = STEP_INIT
        with st.step(STEP_INIT) as note:
            bootstrap.kubeadm_init(cp, info.has_coredns, single_node=len(nodes) == 1,
                                   kube_proxy=cfg.networking.kube_proxy_mode != "none")
            if not info.has_coredns:
                note("no CoreDNS in the image: addon skipped")

        # Workers join before the pod network is wired: joining needs only
        # the API server, and meanwhile kube-controller-manager allocates the
        # pod CIDRs the VXLAN wiring waits for, so one wait covers all nodes.
        if workers:
            step = STEP_JOIN
            with st.step(STEP_JOIN):
                bootstrap.kubeadm_join(workers)

        cni_kind = "none"
        step = STEP_CNI
        if cfg.networking.disable_default_cni:
            st.line(" • CNI not installed (networking.disableDefaultCNI: true)")
        else:
            with st.step(STEP_CNI) as note:
                if info.cni == "flannel":
                    cni.install_flannel(cp, cfg.networking.pod_subnet)
                    cni_kind = "flannel"
                else:
                    cidrs = cni.wait_pod_cidrs(cp, [n.name for n in nodes])
                    cni.wire_vxlan(nodes, cidrs, cfg.networking.pod_subnet)
                    cni_kind = "kindlike-vxlan"
                note(cni_kind)

        if opts.wait > 0:
            step = STEP_WAIT
            with st.step(f"Waiting ≤ {format_duration(opts.wait)} for nodes Ready ⏳", key=STEP_WAIT):
                bootstrap.wait_ready(cp, opts.wait)

        step = STEP_KUBECONFIG
        from kindlike import kubeconfig as kc

        with st.step(STEP_KUBECONFIG):
            path = kc.merge(opts.name, kc.cluster_kubeconfig(engine, opts.name), opts.kubeconfig)
        return CreateResult(opts.name, nodes, str(path), dict(st.durations), cni_kind)
    except BaseException as e:
        if created and not opts.retain:
            provision.delete_cluster_resources(engine, opts.name)
        if isinstance(e, StepError) or not isinstance(e, Exception):
            raise
        err = StepError(step, e, node=getattr(e, "node", None))
        if created and opts.retain:
            err.fix = f"nodes kept for debugging (--retain); remove with: kindlike delete cluster --name {opts.name}"
        raise err from e


def cp_image(cfg: ClusterConfig) -> str:
    return cfg.control_planes()[0].image


def format_duration(seconds: float) -> str:
    m, s = divmod(int(seconds), 60)
    return f"{m}m{s}s"
