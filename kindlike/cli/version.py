"""`kindlike version`."""
from __future__ import annotations

import json
import platform

import click

from kindlike.cli.common import State, pass_state, provider_option
from kindlike.version import __version__


@click.command()
@click.option("--engine", "show_engine", is_flag=True, help="Also report the container engine's facts.")
@provider_option
@pass_state
def version(state: State, show_engine: bool) -> None:
    """Print kindlike's version (and, with --engine, the engine's facts)."""
    click.echo(f"kindlike v{__version__} python{platform.python_version()} {platform.system().lower()}/{platform.machine()}")
    if show_engine:
        click.echo(json.dumps(state.engine.info().as_dict(), indent=2))
