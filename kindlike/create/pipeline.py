"""`create cluster`: the steps of create/steps.py run over one `Context`
(create/context.py).

`prepare` turns the options into a context (config, node plans) and refuses
what would only fail later; both `create_cluster` and the `--dry-run`
plan start from it, so the plan never approves what create refuses. `run`
is the one loop: a status line with its duration per step, a failure
wrapped in `StepError` naming step and node, and the one cleanup.
"""
from __future__ import annotations

import os
import signal
import threading
from contextlib import contextmanager
from typing import Sequence

from kindlike import kubeconfig as kc
from kindlike import snapshot
from kindlike.cluster.nodes import delete_cluster
from kindlike.config.types import ClusterConfig
from kindlike.create import extras
from kindlike.create.context import Context, CreateOptions, CreateResult, Step
from kindlike.create.provision import load_balancer_plan, node_plans
from kindlike.create.steps import COPY_STEPS, STEPS
from kindlike.engines.base import Engine
from kindlike.errors import ConfigError, EngineError, KindlikeError, StepError


def check_before_create(cfg: ClusterConfig, kubeconfig: str | None) -> None:
    """What would otherwise fail only after the nodes are built: a missing
    hostPath, a kubeconfig that cannot be written."""
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

    if opts.from_snapshot:
        return _prepare_copy(opts, engine)
    cfg = opts.config.with_node_image(opts.image) if opts.image else opts.config
    cfg = extras.apply(cfg, opts.registry, opts.node_cpus, opts.node_memory)
    # What would otherwise fail only after the nodes are built (dry run too).
    check_before_create(cfg, opts.kubeconfig)
    if engine is not None:
        extras.check(engine, cfg)
    return Context(opts, cfg, node_plans(opts.name, cfg), engine, lb_plan=load_balancer_plan(opts.name, cfg))


def _prepare_copy(opts: CreateOptions, engine: Engine) -> Context:
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
                    # Nodes on other hosts, also when the nodes naming them
                    # were never made.
                    for url in dict.fromkeys(p.host for p in ctx.plans if p.host):
                        delete_cluster(ctx.engine.at(url), ctx.name)
                except Exception as cleanup_error:  # noqa: BLE001 - reported with the original error
                    left = cleanup_error
        interrupt = _interrupt_behind(e)
        if interrupt is not None and interrupt is not e:
            raise interrupt from None
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


def _interrupt_behind(e: BaseException) -> KeyboardInterrupt | None:
    """The Ctrl-C (or SIGTERM) that `e` was raised while unwinding, if any:
    one that hits a thread waiting on a future can surface as the lock's
    "release unlocked lock" (a CPython race in Condition.wait), which must
    still end the create as interrupted, not as a failed step."""
    seen: set[int] = set()
    cur: BaseException | None = e
    while cur is not None and id(cur) not in seen:
        if isinstance(cur, KeyboardInterrupt):
            return cur
        seen.add(id(cur))
        cur = cur.__context__
    return None


@contextmanager
def _uninterrupted():
    """A second Ctrl-C (or SIGTERM) must not stop the cleanup half-way, which
    would leave what the first one was cleaning up."""
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
    ctx = prepare(opts, engine)
    run(ctx, COPY_STEPS if ctx.snapshot is not None else STEPS)
    return CreateResult(ctx.name, ctx.nodes, ctx.kubeconfig_path, dict(ctx.status.durations), ctx.cni)
