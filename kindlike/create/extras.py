"""What `create cluster` does for kindlike's own settings (the config's
`kindlike:` keys and their flags): a local registry to connect
(kindlike.registryconnect) and per-node CPU and memory
(kindlike.noderesources). `apply` folds the flags into the config, `check`
refuses before anything is created, the two steps do the work.
"""
from __future__ import annotations

import dataclasses

from kindlike import noderesources, registry
from kindlike.constants import LABEL_CPUS, LABEL_MEMORY
from kindlike.errors import ConfigError
from kindlike.noderesources import configure_node, parse_cpus, parse_memory, problems
from kindlike.noderesources import reserved as by_size
from kindlike.registry import check_name
from kindlike.registryconnect import connect, containerd_patches


def apply(cfg, registry: str | None = None, cpus: str | None = None, memory: str | None = None):
    """The config with --registry and --node-cpus/--node-memory in it (a
    node's own value wins over the flag), and containerd pointed at its
    hosts directory when a registry is connected."""
    if registry:
        check_name(registry)
        cfg = dataclasses.replace(cfg, registry=registry)
    if cpus or memory:
        wrong = [p.replace("--node.", "--node-") for p in problems(cpus or "", memory or "", "--node")]
        if wrong:
            raise ConfigError(wrong, source="--node-cpus/--node-memory")
        cfg = dataclasses.replace(cfg, nodes=tuple(
            dataclasses.replace(n, cpus=n.cpus or cpus or "", memory=n.memory or memory or "") for n in cfg.nodes))
    if cfg.registry:
        # First, so that the user's own patches still win.
        cfg = dataclasses.replace(cfg, containerd_config_patches=containerd_patches()
                                  + tuple(cfg.containerd_config_patches))
    return cfg


def check(engine, cfg) -> None:
    """Refuse, before anything is created, a registry that is not there
    (a stopped one is started) and limits the engine cannot enforce."""
    if cfg.registry:
        registry.running(engine, cfg.registry)
    if any(n.cpus or n.memory for n in cfg.nodes):
        noderesources.refuse_unenforceable(engine.info(), cfg)


def sizes(node_cfg) -> tuple[float, int]:
    if node_cfg is None:
        return 0.0, 0
    return (parse_cpus(node_cfg.cpus) if node_cfg.cpus else 0.0,
            parse_memory(node_cfg.memory) if node_cfg.memory else 0)


def spec_fields(node_cfg) -> dict:
    """NodeSpec's limits and the labels `get nodes -o wide` shows."""
    cpus, memory = sizes(node_cfg)
    labels = {k: v for k, v in ((LABEL_CPUS, node_cfg and node_cfg.cpus), (LABEL_MEMORY, node_cfg and node_cfg.memory))
              if v}
    return {"cpus": cpus, "memory": memory, "labels": labels}


def reserved(node_cfg) -> dict[str, str]:
    return by_size(*sizes(node_cfg))


def size_nodes(ctx, note) -> None:
    for n, p in zip(ctx.nodes, ctx.plans):
        configure_node(n, *sizes(p.config))


def no_sizes(ctx) -> str | None:
    return None if any(n.cpus or n.memory for n in ctx.config.nodes) else ""


def connect_registry(ctx, note) -> None:
    connect(ctx.engine, ctx.config.registry, ctx.name, note=note)


def no_registry(ctx) -> str | None:
    return None if ctx.config.registry else ""
