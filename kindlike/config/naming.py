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

import re
from collections.abc import Mapping

from kindlike.config.types import ClusterConfig, NodeConfig
from kindlike.constants import DEFAULT_CLUSTER_NAME, ROLE_LOAD_BALANCER
from kindlike.errors import ConfigError

ENV_CLUSTER_NAME = "KINDLIKE_CLUSTER_NAME"
VALID_NAME_RE = re.compile(r"^[a-z0-9.-]+$")
# A node's hostname is its name: the kernel takes 64 characters, a DNS label 63.
# (kind only warns about cluster names over 50 characters.)
HOSTNAME_MAX = 63


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


def validate_cluster_name(name: str, path: str = "name") -> list[str]:
    """Problems with a cluster name; `path` says where it came from (name, --name, ...)."""
    if not VALID_NAME_RE.fullmatch(name):
        return [f'{path}: "{name}" is not a valid cluster name (use only a-z, 0-9, "." and "-"; '
                f"cluster names must match {VALID_NAME_RE.pattern})"]
    if not name[0].isalnum():
        return [f'{path}: "{name}" must start with a letter or digit '
                f'(node containers would be named "{name}-control-plane", which engines refuse)']
    return []


def node_name_problems(name: str, cluster: ClusterConfig, path: str = "name") -> list[str]:
    """Whether every node name the config implies fits a hostname (with several
    control planes, kind's external load balancer is one of them)."""
    names = [n for n, _, _ in node_names(cluster, name)]
    if len(cluster.control_planes()) > 1:
        names.append(load_balancer_name(name))
    longest = max(names, key=len, default="")
    if len(longest) <= HOSTNAME_MAX:
        return []
    return [f'{path}: "{name}" is too long: node "{longest}" would get a {len(longest)}-character hostname '
            f"(at most {HOSTNAME_MAX}); use a cluster name of at most "
            f"{len(name) - len(longest) + HOSTNAME_MAX} characters"]


# A local registry's name (kindlike.registry): its container's, and a DNS
# label the nodes reach it by.
REGISTRY_NAME_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")


def valid_registry_name(name: str) -> bool:
    return bool(REGISTRY_NAME_RE.match(name or ""))
