"""`kindlike doctor`: check this host against the prerequisites of the
engine that would be used (rootless or rootful), one line per check with the
command that fixes it; exit 1 when any check fails."""
from __future__ import annotations

import sys

import click

from kindlike.cli.common import State, pass_state, provider_option
from kindlike.config import load_config
from kindlike.doctor import exit_code, render_json, render_text, run_doctor
from kindlike.engines.detect import requested_provider
from kindlike.errors import KindlikeError, NoEngineError


@click.command()
@click.option("--output", "-o", type=click.Choice(["text", "json"]), default="text",
              help="text: one line per check; json: a list of {name, status, message, fix}.")
@click.option("--config", "config_path", default=None,
              help="Cluster config whose host ports are checked (default: the default config); - reads stdin.")
@provider_option
@pass_state
def doctor(state: State, output: str, config_path: str | None) -> None:
    """Check this host against the prerequisites for (rootless) clusters.

    Each check prints ok, warn or fail with the exact command that fixes it.
    KINDLIKE_ALLOW_NO_RESOURCE_LIMITS=1 turns the missing cgroup v2
    delegation of a rootless engine from a fail into a warning, as
    `create cluster --allow-no-resource-limits` does."""
    cfg = load_config(config_path or "").cluster

    engine, error, fix, provider = None, "", "", None
    try:
        provider = requested_provider(state.provider)
        engine = state.engine
    except NoEngineError as e:
        error, fix = e.message, ""
    except KindlikeError as e:  # e.g. an unknown KINDLIKE_PROVIDER
        error, fix = e.message, e.fix or ""
    checks = run_doctor(engine, engine_error=error, engine_fix=fix, provider=provider, cluster_cfg=cfg)
    click.echo(render_json(checks) if output == "json" else render_text(checks), nl=output == "json")
    code = exit_code(checks)
    if code:
        # SystemExit: click's non-standalone mode would swallow click's Exit.
        sys.exit(code)
