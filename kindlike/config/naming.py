"""Cluster and node names.

Precedence follows kind (`--name` > KIND_CLUSTER_NAME > config `name` > "kind"),
with kindlike's environment variable and default name.

Node names follow kind's MakeNodeNamer
(pkg/cluster/internal/providers/common/namer.go): `<cluster>-<role>` for the
first node of a role, then `<cluster>-<role>2`, `<cluster>-<role>3`, ... counted
per role in config order. A multi-control-plane kind cluster also gets
`<cluster>-external-load-balancer`; that node is not in the config, so it is
not listed here.
"""
from __future__ import annotations

from collections.abc import Mapping

from kindlike.config.types import ClusterConfig, NodeConfig
from kindlike.config.validate import node_name_problems, validate_cluster_name
from kindlike.constants import DEFAULT_CLUSTER_NAME, ROLE_LOAD_BALANCER
from kindlike.errors import ConfigError

ENV_CLUSTER_NAME = "KINDLIKE_CLUSTER_NAME"


def resolve_cluster_name(
    flag: str | None,
    env: Mapping[str, str] | str | None,
    config_name: str | None,
    cluster_cfg: ClusterConfig | None = None,
) -> str:
    """The cluster name to use; raises ConfigError if the winning name is invalid
    (or, given the config, makes a node name too long for a hostname).

    `env` is either the environment (a mapping, e.g. os.environ, read for
    KINDLIKE_CLUSTER_NAME) or that variable's value. Empty values count as unset.
    """
    env_value = env.get(ENV_CLUSTER_NAME) if isinstance(env, Mapping) else env
    for value, where in (
        (flag, "--name"),
        (env_value, ENV_CLUSTER_NAME),
        (config_name, "name"),
    ):
        if value:
            problems = validate_cluster_name(value, where)
            if not problems and cluster_cfg is not None:
                problems = node_name_problems(value, cluster_cfg, where)
            if problems:
                raise ConfigError(problems, source="cluster name")
            return value
    return DEFAULT_CLUSTER_NAME


def make_node_namer(cluster_name: str):
    """A function role -> next node name for that role (kind's MakeNodeNamer)."""
    counts: dict[str, int] = {}

    def name(role: str) -> str:
        counts[role] = counts.get(role, 0) + 1
        suffix = "" if counts[role] == 1 else str(counts[role])
        return f"{cluster_name}-{role}{suffix}"

    return name


def node_names(cluster_cfg: ClusterConfig, cluster_name: str) -> list[tuple[str, str, NodeConfig]]:
    """[(container name, role, node config)] in config order."""
    namer = make_node_namer(cluster_name)
    return [(namer(node.role), node.role, node) for node in cluster_cfg.nodes]


def load_balancer_name(cluster_name: str) -> str:
    return f"{cluster_name}-{ROLE_LOAD_BALANCER}"
