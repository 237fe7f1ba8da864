"""The steps of `create cluster`, in order (kind's create.go action list).

Each step is a title and a function over the shared Context; the work lives
in the module the step is named after (provision, nodeconfig, bootstrap,
cni). To
add or replace a step, edit STEPS: the loop in pipeline.py, the status
lines, failure wrapping and cleanup, and the dry-run's step list all follow
from it.
"""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

from kindlike import helperimage
from kindlike import kubeconfig as kc
from kindlike.cluster import apiclient, loadbalancer, usable, versions
from kindlike.cluster.boot import BOOT_TIMEOUT, restart_kubelets, wait_for_systemd
from kindlike.cluster.kubectl import wait_api
from kindlike.cluster.nodes import Node, refuse_existing
from kindlike.constants import API_SERVER_CONTAINER_PORT, ROLE_WORKER
from kindlike.create import bootstrap, cni, extras, nodeconfig, provision
from kindlike.create.context import Context, Note, Step
from kindlike.create.imageinfo import copy_to_hosts
from kindlike.create.imageinfo import ensure_images as ensure
from kindlike.doctor import preflight as host_preflight
from kindlike.duration import format_duration


def preflight(ctx: Context, note: Note) -> None:
    # The fatal host checks (kindlike.doctor) and an existing cluster of the
    # same name, before anything is created; each raises its own error.
    host_preflight(ctx.engine, ctx.config, allow_no_resource_limits=ctx.opts.allow_no_resource_limits,
                   status=ctx.status)
    refuse_existing(ctx.engine, ctx.name)


def ensure_images(ctx: Context, note: Note) -> None:
    ctx.images = ensure(ctx.engine, sorted({p.image for p in ctx.plans}), note=note, status=ctx.status)
    copy_to_hosts(ctx.engine, ctx.plans, note)
    if ctx.lb_plan is not None:
        helperimage.ensure_image(ctx.engine, note=ctx.status.line)


def prepare_nodes(ctx: Context, note: Note) -> None:
    ctx.created = True
    ctx.started_at = time.time()
    # A new cluster's configuration is written while its nodes' units start
    # (write_configs); a copy of a snapshot has nothing to write.
    nodes = provision.provision(ctx.engine, ctx.name, ctx.plans + ([ctx.lb_plan] if ctx.lb_plan else []),
                                up=ctx.snapshot is not None)
    ctx.nodes = nodes[:len(ctx.plans)]
    ctx.load_balancer = nodes[len(ctx.plans)] if ctx.lb_plan else None


def write_configs(ctx: Context, note: Note) -> None:
    warning = versions.cgroup_v1_warning(ctx.image.kubernetes_version, ctx.engine.info().cgroup_version)
    if warning:
        ctx.status.line(f"WARNING: {warning}")
    # The image's storage manifest is read in the background (not needed
    # until init can take it); the CNI one beside the writes, as its
    # config goes on every node before the kubelet starts.
    ctx.storage_manifest = _reader.submit(_read_storage_manifest, ctx)
    with ThreadPoolExecutor(max_workers=1) as pool:
        preseeding = pool.submit(_preseed_cni, ctx)
        try:
            nodeconfig.write_node_configs(ctx.engine, ctx.name, ctx.config, ctx.nodes, ctx.image,
                                          ctx.load_balancer)
            if ctx.load_balancer is not None:
                loadbalancer.configure(ctx.load_balancer, [n for n in ctx.nodes if n.role != ROLE_WORKER])
            preseeding.result()
        except Exception:
            _booted(ctx)  # a node that exited while booting is the error to report
            raise
    _booted(ctx)


# Reads that run beside the steps (a cat in a node: a create that failed
# meanwhile waits for it at exit, a fraction of a second).
_reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kindlike-read")


def _preseed_cni(ctx: Context) -> None:
    if ctx.image.cni != "none" and _cni_disabled(ctx) is None:
        ctx.manifests[cni.CNI_MANIFEST] = ctx.control_plane.read_file(cni.CNI_MANIFEST)
        if ctx.image.cni == "flannel":
            ctx.conflist_preseeded = cni.preseed_cni_config(ctx.nodes, text=ctx.manifests[cni.CNI_MANIFEST])


def _read_storage_manifest(ctx: Context) -> str | None:
    return ctx.control_plane.read_file(ctx.image.storage_manifest) if ctx.image.storage_manifest else None


def _booted(ctx: Context) -> None:
    """Every node's units started (written while they start: prepare_nodes)."""
    with ThreadPoolExecutor(max_workers=len(ctx.nodes)) as pool:
        list(pool.map(lambda n: wait_for_systemd(n, BOOT_TIMEOUT), ctx.nodes))


def _detail(ctx: Context) -> Note | None:
    return ctx.status.line if ctx.opts.verbose else None


def init_control_plane(ctx: Context, note: Note) -> None:
    info = ctx.image

    def init() -> None:
        bootstrap.kubeadm_init(ctx.control_plane, info.has_coredns,
                               kube_proxy=ctx.config.networking.kube_proxy_mode != "none", log=_detail(ctx),
                               upload_certs=bool(ctx.secondary_control_planes),
                               kubernetes_version=info.kubernetes_version)

    # What needs only the API server starts while init finishes, each part as
    # soon as the control plane can take it; the steps named after it wait
    # for it and report its failure. The pod network and storage: their
    # DaemonSet and Deployment then exist when the controller manager's
    # controllers start. The workers' joins (see bootstrap.join_can_start);
    # not with more control planes to join: each one grows etcd, and until
    # its member starts the API server may not answer (kind joins them first).
    tasks: dict[str, bootstrap.Task] = {}
    can_write = _admin_can_write(ctx)
    if _cni_disabled(ctx) is None and info.cni != "none":
        tasks["cni"] = (can_write, lambda: _install_cni(ctx))
    if info.storage_manifest:
        tasks["storage"] = (can_write, lambda: _install_storage(ctx))
    if _subnet_preseeded(ctx):
        tasks["subnet"] = (can_write, lambda: _preseed_subnet(ctx, [ctx.control_plane]))
    if ctx.workers and not ctx.secondary_control_planes:
        tasks["join"] = (bootstrap.join_can_start, lambda: _join_workers(ctx))
    ctx.early = bootstrap.while_init_runs(ctx.control_plane, init, tasks)
    if not info.has_coredns:
        note("no CoreDNS in the image: addon skipped")


def _admin_can_write(ctx: Context):
    """bootstrap.admin_can_write, asked from here once admin.conf is there."""
    def check(cp: Node) -> bool:
        return apiclient.ask(_api(ctx), lambda a: a.can_create("apps", "daemonsets"),
                             lambda: bootstrap.admin_can_write(cp), answered=bool, unanswered=False)
    return check


def _api(ctx: Context) -> apiclient.Api | None:
    if ctx.api is None:
        ctx.api = apiclient.admin_api(ctx.control_plane, ctx.api_endpoint)
    return ctx.api


def join_control_planes(ctx: Context, note: Note) -> None:
    # One at a time: each join adds an etcd member, and two members added at
    # once can leave etcd without a quorum.
    if ctx.secondary_control_planes:
        bootstrap.join_can_start(ctx.control_plane)  # signs cluster-info if the signer has not yet
    for n in ctx.secondary_control_planes:
        bootstrap.kubeadm_join([n], log=_detail(ctx))
    if ctx.secondary_control_planes and _subnet_preseeded(ctx):
        _preseed_subnet(ctx, ctx.secondary_control_planes)


def _join_workers(ctx: Context) -> None:
    # cluster-info is signed by now: by join_can_start, the check of the early
    # join (init_control_plane), or in join_control_planes.
    bootstrap.kubeadm_join(ctx.workers, log=_detail(ctx))
    if _subnet_preseeded(ctx):
        _preseed_subnet(ctx, ctx.workers)


def _subnet_preseeded(ctx: Context) -> bool:
    """Flannel's subnet file is written ahead of flanneld where kindlike
    wrote its CNI config (IPv4: the file's IPv6 lines are not written) and
    CoreDNS reaches the API server without kube-proxy (kubeadm.init_patches):
    started before kube-proxy, it would back off for half a minute."""
    return (ctx.conflist_preseeded and ctx.config.networking.ip_family == "ipv4"
            and versions.kubeadm_patches_coredns(ctx.image.kubernetes_version))


def _preseed_subnet(ctx: Context, nodes) -> None:
    cni.preseed_subnet_env(ctx.control_plane, nodes, ctx.config.networking.pod_subnet)


def _install_cni(ctx: Context) -> None:
    # Nodes on other hosts reach the API server at its host's address.
    host = ctx.control_plane.host_address if ctx.config.multi_host else ctx.api_endpoint.name
    cni.install_cni(ctx.control_plane, ctx.config.networking.pod_subnet, (host, API_SERVER_CONTAINER_PORT),
                    conflist_on_nodes=ctx.conflist_preseeded, multi_host=ctx.config.multi_host,
                    text=ctx.manifests.get(cni.CNI_MANIFEST))


def _install_storage(ctx: Context) -> None:
    text = ctx.storage_manifest.result() if ctx.storage_manifest is not None else None
    cni.install_storage(ctx.control_plane, ctx.image.storage_manifest, text=text)


def _done_early_or_now(ctx: Context, name: str, work) -> None:
    started = ctx.early.get(name)
    if started is not None:
        started.result()
    else:
        work(ctx)


def join_workers(ctx: Context, note: Note) -> None:
    _done_early_or_now(ctx, "join", _join_workers)


def pod_network(ctx: Context, note: Note) -> None:
    if ctx.image.cni == "none":
        note(f"none: image {ctx.image.ref} has no CNI manifest")
        return
    _done_early_or_now(ctx, "cni", _install_cni)
    ctx.cni = ctx.image.cni
    note(ctx.image.cni_title)


def default_storage(ctx: Context, note: Note) -> None:
    if not ctx.image.storage_manifest:
        note(f"none: image {ctx.image.ref} has no storage manifest")
        return
    _done_early_or_now(ctx, "storage", _install_storage)
    note("local-path, default class standard")


def wait_usable(ctx: Context, note: Note) -> None:
    if ctx.cni == "none":
        # No pod network (an image without one, or disableDefaultCNI): nodes
        # stay NotReady until the user installs one, so waiting could only
        # time out. The API server is what there is to wait for.
        wait_api(ctx.control_plane, ctx.opts.wait)
        note("API server only: no CNI installed, nodes stay NotReady until one is")
        return
    usable.wait_usable(ctx.control_plane, [n.name for n in ctx.nodes], ctx.opts.wait,
                       storage=bool(ctx.image.storage_manifest), say=getattr(note, "awaiting", None), api=_api(ctx))
    note("nodes Ready, pod network and DNS answering")


def export_kubeconfig(ctx: Context, note: Note) -> None:
    if ctx.api is not None:
        ctx.api.close()
    ctx.kubeconfig_path = str(kc.merge(ctx.name, kc.cluster_kubeconfig(ctx.engine, ctx.name), ctx.opts.kubeconfig))


def start_copy(ctx: Context, note: Note) -> None:
    # Every node boots into the snapshot's state; the kubelet starts the
    # control plane's static pods again, and they answer once etcd has
    # loaded its data.
    wait_api(ctx.control_plane, 120, booted=True, api=_api(ctx))


def wait_usable_again(ctx: Context, note: Note) -> None:
    # The nodes were Ready when saved: only a status posted (and pods
    # started) since the start count. Every Node of the copy was registered
    # before the save, under the snapshot's names.
    usable.wait_usable(ctx.control_plane, None, ctx.opts.wait, since=ctx.started_at, storage=False,
                       say=getattr(note, "awaiting", None), kubectl_poll=usable.BOOT_POLL, api=_api(ctx),
                       kick=lambda names: restart_kubelets(ctx.nodes, names))
    note("nodes Ready, pod network and DNS answering")


def _no_workers(ctx: Context) -> str | None:
    return None if any(p.role == ROLE_WORKER for p in ctx.plans) else ""


def _one_control_plane(ctx: Context) -> str | None:
    return None if ctx.lb_plan is not None else ""


def _cni_disabled(ctx: Context) -> str | None:
    return "CNI not installed (networking.disableDefaultCNI: true)" if ctx.config.networking.disable_default_cni \
        else None


# A local registry (kindlike.registryconnect), once the nodes run Kubernetes.
CONNECT_REGISTRY = Step("Connecting registry 🗄", extras.connect_registry, skip=extras.no_registry,
                        shown=lambda ctx: f"Connecting registry {ctx.config.registry} 🗄")

STEPS: list[Step] = [
    Step("Checking the host 🩺", preflight, check=True),
    Step("Ensuring node image 🖼", ensure_images),
    Step("Preparing nodes 📦", prepare_nodes),
    Step("Writing configuration 📜", write_configs),
    Step("Sizing nodes 📏", extras.size_nodes, skip=extras.no_sizes),
    Step("Starting control-plane 🕹️", init_control_plane),
    # The next three start while init finishes (init_control_plane): the
    # pod network and storage before the joins, as kind orders them.
    # The image's CNI manifest (Flannel), one step so it can be replaced whole.
    Step("Installing CNI 🔌", pod_network, skip=_cni_disabled),
    Step("Installing StorageClass 💾", default_storage),
    Step("Joining more control-plane nodes 🎮", join_control_planes, skip=_one_control_plane),
    Step("Joining worker nodes 🚜", join_workers, skip=_no_workers),
    CONNECT_REGISTRY,
    Step("Waiting for a usable cluster ⏳", wait_usable, skip=lambda ctx: None if ctx.opts.wait > 0 else "",
         shown=lambda ctx: f"Waiting ≤ {format_duration(ctx.opts.wait)} for a usable cluster ⏳"),
    Step("Exporting kubeconfig 🔑", export_kubeconfig),
]

# `create cluster --from-snapshot`: the nodes come up bootstrapped (kindlike.snapshot).
COPY_STEPS: list[Step] = [
    Step("Checking the host 🩺", preflight, check=True),
    Step("Preparing nodes 📦", prepare_nodes),
    Step("Starting from snapshot 📸", start_copy,
         shown=lambda ctx: f"Starting from snapshot {ctx.snapshot.name} 📸"),
    CONNECT_REGISTRY,
    Step("Waiting for a usable cluster ⏳", wait_usable_again, skip=lambda ctx: None if ctx.opts.wait > 0 else "",
         shown=lambda ctx: f"Waiting ≤ {format_duration(ctx.opts.wait)} for a usable cluster ⏳"),
    Step("Exporting kubeconfig 🔑", export_kubeconfig),
]
