"""`kindlike doctor`."""
from __future__ import annotations

import click

from kindlike.errors import NotAvailableYet


@click.command()
@click.option("--output", type=click.Choice(["text", "json"]), default="text")
def doctor(output: str) -> None:
    """Check this host against the prerequisites for (rootless) clusters."""
    raise NotAvailableYet("`kindlike doctor` is not available yet (planned: rootless + doctor); "
                          "`kindlike version --engine` shows the engine's facts")
