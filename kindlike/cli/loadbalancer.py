"""`kindlike loadbalancer`: Services of type LoadBalancer on the host."""
from __future__ import annotations

import click

from kindlike.cli.common import State, cluster_name, name_option, pass_state, provider_option
from kindlike.lbservices import Controller


@click.command("loadbalancer")
@name_option
@click.option("--address", default="127.0.0.1", show_default=True,
              help="Host address to publish on (and to write into each Service's status).")
@click.option("--interval", default=1.0, show_default=True, metavar="SECONDS", help="How often to look at the Services.")
@provider_option
@pass_state
def loadbalancer(state: State, name: str | None, address: str, interval: float) -> None:
    """Publish every LoadBalancer Service's ports on the host and write the
    address into its status, following changes, until Ctrl-C. What is
    published stays when this stops; `delete cluster` removes it."""
    name = cluster_name(name)
    ctl = Controller(state.engine, name, address=address, note=state.status.line)
    state.status.line(f"Publishing LoadBalancer Services of cluster {name!r} on {address} (Ctrl-C to stop)")
    try:
        ctl.run(interval=interval)
    except KeyboardInterrupt:
        # Ctrl-C is how this command ends: not an error.
        state.status.line("Stopped; what was published stays (delete cluster removes it).")
