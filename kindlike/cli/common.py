"""What every verb shares: the run's state (engine, verbosity) and options."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import click

from kindlike import constants
from kindlike.status import Status

if TYPE_CHECKING:  # the engines load only when a command needs one
    from kindlike.engines.base import Engine


@dataclass
class State:
    verbosity: int = 0
    quiet: bool = False
    provider: str | None = None
    kubeconfig_path: str | None = None
    _engine: Engine | None = field(default=None, repr=False)

    @property
    def engine(self) -> Engine:
        """Connected on first use, so --help and --dry-run never touch an engine."""
        if self._engine is None:
            from kindlike.engines.detect import get_engine

            self._engine = get_engine(self.provider)
        return self._engine

    @property
    def status(self) -> Status:
        return Status(quiet=self.quiet)

    def close(self) -> None:
        if self._engine is not None:
            self._engine.close()
            self._engine = None


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
    from kindlike.config.naming import resolve_cluster_name

    return resolve_cluster_name(flag, os.environ, config_name, cluster_cfg)
