"""`kindlike expose add|list|remove`: host ports on a running cluster."""
from __future__ import annotations

import click

from kindlike import ports
from kindlike.cli.common import State, cluster_name, name_option, pass_state, provider_option


@click.group()
def expose() -> None:
    """Publish host ports to a running cluster's nodes, without restarting anything."""


@expose.command("add")
@name_option
@click.option("--node", default=None, help="Node to forward to (default: the first control plane).")
@click.option("--address", default="127.0.0.1", show_default=True, help="Host address to listen on.")
@click.argument("mapping", metavar="HOSTPORT:CONTAINERPORT[/tcp|udp]")
@provider_option
@pass_state
def expose_add(state: State, name: str | None, node: str | None, address: str, mapping: str) -> None:
    """Publish HOSTPORT on the host, forwarded to CONTAINERPORT of a node
    (e.g. a NodePort); host port 0 picks a free one and prints it."""
    hp, cp, proto = ports.parse(mapping)
    m = ports.add(state.engine, cluster_name(name), hp, cp, proto, node=node, address=address)
    state.status.line(f"Exposed {m}")
    if hp == 0:
        click.echo(m.host_port)


@expose.command("list")
@name_option
@provider_option
@pass_state
def expose_list(state: State, name: str | None) -> None:
    """The host ports published after create (HOST -> NODE:PORT/PROTO)."""
    found = ports.list_mappings(state.engine, cluster_name(name))
    if not found:
        state.status.line("No ports exposed after create.")
    for m in found:
        click.echo(f"{m}" + (f"  (LoadBalancer {m.service})" if m.service else ""))


@expose.command("remove")
@name_option
@click.argument("port", metavar="HOSTPORT[/tcp|udp]")
@provider_option
@pass_state
def expose_remove(state: State, name: str | None, port: str) -> None:
    """Stop publishing a host port; the other mappings are not touched."""
    hp, _, proto = ports.parse(f"{port.split('/')[0]}:1" + (f"/{port.split('/')[1]}" if "/" in port else ""))
    m = ports.remove(state.engine, cluster_name(name), hp, proto)
    state.status.line(f"Removed {m}")
