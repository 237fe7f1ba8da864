"""`kindlike registry create|list|delete|connect|disconnect`: local image
registries beside the clusters (kindlike.registry)."""
from __future__ import annotations

import click

from kindlike import registry as reg
from kindlike.cli.common import State, cluster_name, name_option, pass_state, provider_option
from kindlike.registry import DEFAULT_NAME
from kindlike.registryconnect import connect, disconnect

_name_arg = click.argument("registry", metavar="[REGISTRY]", default=DEFAULT_NAME)


@click.group()
def registry() -> None:
    """Local image registries: push from the host, pull in every node."""


@registry.command("create")
@_name_arg
@click.option("--port", type=int, default=None,
              help="Host port on 127.0.0.1 (default: 5000 when free, else a free one).")
@provider_option
@pass_state
def registry_create(state: State, registry: str, port: int | None) -> None:
    """Start a registry published on 127.0.0.1:PORT, its data in a volume."""
    r = reg.create(state.engine, registry, port, note=state.status.line)
    state.status.line(f"Registry {r.name} ready: push to {r.address}/IMAGE:TAG; "
                      f"connect a cluster with: kindlike registry connect {r.name} --name CLUSTER")
    click.echo(r.address)


@registry.command("list")
@click.option("-o", "--output", type=click.Choice(["wide", "name"]), default="wide", show_default=True)
@provider_option
@pass_state
def registry_list(state: State, output: str) -> None:
    """The registries, their host address, state and connected clusters."""
    found = reg.list_registries(state.engine)
    if output == "name":
        for r in found:
            click.echo(r.name)
        return
    if not found:
        state.status.line("No registries.")
        return
    click.echo(f"{'NAME':<24} {'ADDRESS':<16} {'STATE':<10} CLUSTERS")
    for r in found:
        click.echo(f"{r.name:<24} {r.address:<16} {r.state:<10} {','.join(r.clusters) or '-'}")


@registry.command("delete")
@_name_arg
@provider_option
@pass_state
def registry_delete(state: State, registry: str) -> None:
    """Remove a registry with its data volume (a missing one is fine)."""
    found = reg.delete(state.engine, registry)
    state.status.line(f"Deleted registry {registry}" if found else f"No registry {registry} (nothing to delete)")


@registry.command("connect")
@_name_arg
@name_option
@provider_option
@pass_state
def registry_connect(state: State, registry: str, name: str | None) -> None:
    """Let a running cluster pull localhost:PORT/... from the registry."""
    cluster = cluster_name(name)
    r = connect(state.engine, registry, cluster)
    state.status.line(f"Registry {r.name} connected to {cluster}: pods pull {r.address}/IMAGE:TAG")


@registry.command("disconnect")
@_name_arg
@name_option
@provider_option
@pass_state
def registry_disconnect(state: State, registry: str, name: str | None) -> None:
    """Take the registry off a cluster's network."""
    cluster = cluster_name(name)
    disconnect(state.engine, registry, cluster)
    state.status.line(f"Registry {registry} disconnected from {cluster}")
