"""What every verb shares: the run's state (cli/state.py), its options and the cluster name."""
from __future__ import annotations

import os

import click

from kindlike import constants
from kindlike.cli.state import State
from kindlike.config.naming import resolve_cluster_name

__all__ = ["State", "pass_state", "provider_option", "name_option", "cluster_name"]

pass_state = click.make_pass_decorator(State)


def provider_option(f):
    """--provider on the subcommand too (`kindlike create cluster --provider podman`)."""

    def store(ctx: click.Context, _param, value):
        if value:
            ctx.find_object(State).provider = value
        return value

    return click.option("--provider", type=click.Choice(["docker", "podman"]), default=None, expose_value=False,
                        callback=store, help="Container engine (overrides the global option).")(f)


def name_option(f):
    return click.option("-n", "--name", default=None, help=f"Cluster name (default: ${{KINDLIKE_CLUSTER_NAME}}, "
                        f"else the config's name, else {constants.DEFAULT_CLUSTER_NAME}).")(f)



def cluster_name(flag: str | None, config_name: str | None = None, cluster_cfg=None) -> str:
    """kind's precedence: --name > KINDLIKE_CLUSTER_NAME > config name > default;
    the winning name is validated (against the config's node names when given)."""
    return resolve_cluster_name(flag, os.environ, config_name, cluster_cfg)
