"""`create cluster`: the steps of create/steps.py run over one `Context`.

`prepare` turns the options into a context (config, node plans) and refuses
what would only fail later; both `create_cluster` and the `--dry-run`
plan start from it, so the plan never approves what create refuses. `run`
is the one loop: a status line with its duration per step, a failure
wrapped in `StepError` naming step and node, and the one cleanup.
"""
from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from kindlike.config.types import ClusterConfig
from kindlike.constants import ROLE_CONTROL_PLANE, ROLE_WORKER
from kindlike.create.provision import NodePlan, node_plans
from kindlike.engines.base import Engine
from kindlike.errors import ConfigError, EngineError, KindlikeError, StepError
from kindlike.runtime import Node, delete_cluster
from kindlike.status import Status

Note = Callable[[str], None]


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
    # -v: kubeadm's preflight report and other detail lines.
    verbose: bool = False
    # Start the cluster from this snapshot (kindlike.snapshot) instead of
    # bootstrapping it; `config` is then the snapshot's (snapshot.copy_config).
    from_snapshot: str | None = None
    # kindlike-only settings as flags (kindlike.create.extras).
    registry: str | None = None
    node_cpus: str | None = None
    node_memory: str | None = None


@dataclass
class CreateResult:
    name: str
    nodes: list[Node]
    kubeconfig_path: str
    durations: dict[str, float]
    cni: str


@dataclass
class Context:
    """What the steps share: given up front, then filled in as they run."""

    opts: CreateOptions
    config: ClusterConfig
    plans: list[NodePlan]
    engine: Engine | None = None  # None for a dry run
    images: dict = field(default_factory=dict)  # ref -> nodeimage.metadata.ImageInfo
    nodes: list[Node] = field(default_factory=list)
    created: bool = False  # something exists in the engine that cleanup must remove
    cni: str = "none"
    conflist_preseeded: bool = False  # Flannel's CNI config written on every node before boot
    kubeconfig_path: str = ""
    early: dict = field(default_factory=dict)  # step work started while init finishes: name -> Future
    lb_plan: NodePlan | None = None  # several control planes: kindlike.loadbalancer
    load_balancer: Node | None = None
    snapshot: Any = None  # kindlike.snapshot.Snapshot: a copy of it is being created
    started_at: float = 0.0  # time.time() when the nodes were started

    @property
    def name(self) -> str:
        return self.opts.name

    @property
    def status(self) -> Status:
        return self.opts.status

    @property
    def control_plane(self) -> Node:
        return self.nodes[0]

    @property
    def workers(self) -> list[Node]:
        return [n for n in self.nodes if n.role == ROLE_WORKER]

    @property
    def secondary_control_planes(self) -> list[Node]:
        return [n for n in self.nodes[1:] if n.role == ROLE_CONTROL_PLANE]

    @property
    def api_endpoint(self) -> Node:
        """What every node reaches the API server through."""
        return self.load_balancer or self.control_plane

    @property
    def image(self):
        """The first control plane's image facts (its Kubernetes decides the configs)."""
        return self.images[self.config.control_planes()[0].image]


@dataclass(frozen=True)
class Step:
    """One named step. `skip` sees only the config and options (so a dry run
    can tell which steps would run): None runs the step, "" skips it
    silently, any other text skips it and says so. A `check` step refuses
    with its own error, which reaches the user unwrapped."""

    title: str
    run: Callable[[Context, Note], None]
    skip: Callable[[Context], str | None] = lambda ctx: None
    shown: Callable[[Context], str] | None = None  # a title with the options in it
    check: bool = False


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


def prepare(opts: CreateOptions, engine: Engine | None = None) -> Context:
    from kindlike import loadbalancer

    if opts.from_snapshot:
        return _prepare_copy(opts, engine)
    from kindlike.create import extras

    cfg = opts.config.with_node_image(opts.image) if opts.image else opts.config
    cfg = extras.apply(cfg, opts.registry, opts.node_cpus, opts.node_memory)
    # What would otherwise fail only after the nodes are built (dry run too).
    check_before_create(cfg, opts.kubeconfig)
    if engine is not None:
        extras.check(engine, cfg)
    return Context(opts, cfg, node_plans(opts.name, cfg), engine, lb_plan=loadbalancer.plan(opts.name, cfg))


def _prepare_copy(opts: CreateOptions, engine: Engine) -> Context:
    from kindlike import snapshot

    from kindlike.create import extras

    snap = snapshot.get(engine, opts.from_snapshot)
    # A copy may be connected to a registry; its node sizes are the snapshot's.
    cfg = extras.apply(snapshot.copy_config(snap), opts.registry)
    check_before_create(cfg, opts.kubeconfig)
    extras.check(engine, cfg)
    plans = node_plans(opts.name, cfg)
    snapshot.copy_plans(snap, plans)
    return Context(opts, cfg, plans, engine, snapshot=snap)


def planned(ctx: Context, steps: Sequence[Step]) -> list[tuple[Step, str | None]]:
    """Each step with why it is skipped (None: it runs)."""
    return [(s, s.skip(ctx)) for s in steps]


def run(ctx: Context, steps: Sequence[Step]) -> None:
    st = ctx.status
    current = steps[0] if steps else None
    try:
        for current, why in planned(ctx, steps):
            if why is not None:
                if why:
                    st.line(f" • {why}")
                continue
            with st.step(current.shown(ctx) if current.shown else current.title, key=current.title) as note:
                current.run(ctx, note)
    except BaseException as e:
        left = None  # why the cleanup could not finish (the engine itself may be what failed)
        if ctx.created and not ctx.opts.retain:
            with _uninterrupted():
                try:
                    delete_cluster(ctx.engine, ctx.name)
                except Exception as cleanup_error:  # noqa: BLE001 - reported with the original error
                    left = cleanup_error
        if current.check or isinstance(e, StepError) or not isinstance(e, Exception):
            raise
        cause = e
        if isinstance(e, OSError) and not isinstance(e, KindlikeError):
            cause = EngineError(f"the {ctx.engine.name} engine stopped answering ({e})")
        err = StepError(current.title, cause, node=getattr(e, "node", None))
        if ctx.created and ctx.opts.retain:
            err.fix = f"nodes kept for debugging (--retain); remove with: kindlike delete cluster --name {ctx.name}"
        elif left is not None:
            err.fix = (f"the {ctx.engine.name} engine did not answer the cleanup either; once it is back, "
                       f"remove what is left with: kindlike delete cluster --name {ctx.name}")
        raise err from e


@contextmanager
def _uninterrupted():
    """A second Ctrl-C (or SIGTERM) must not stop the cleanup half-way, which
    would leave what the first one was cleaning up."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    saved = {s: signal.signal(s, signal.SIG_IGN) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)


def create_cluster(engine: Engine, opts: CreateOptions) -> CreateResult:
    from kindlike.create.steps import COPY_STEPS, STEPS

    ctx = prepare(opts, engine)
    run(ctx, COPY_STEPS if ctx.snapshot is not None else STEPS)
    return CreateResult(ctx.name, ctx.nodes, ctx.kubeconfig_path, dict(ctx.status.durations), ctx.cni)
