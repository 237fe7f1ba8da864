"""`kindlike get clusters|nodes|kubeconfig`."""
from __future__ import annotations

import click

from kindlike.cli.common import State, cluster_name, name_option, pass_state, provider_option
from kindlike.runtime import list_clusters, list_nodes


@click.group()
def get() -> None:
    """Get clusters, nodes or a kubeconfig."""


@get.command("clusters")
@provider_option
@pass_state
def get_clusters(state: State) -> None:
    """List kindlike clusters."""
    names = list_clusters(state.engine)
    if not names:
        state.status.line("No kindlike clusters found.")
    for n in names:
        click.echo(n)


@get.command("nodes")
@name_option
@click.option("-A", "--all-clusters", is_flag=True, help="Nodes of every cluster.")
@provider_option
@pass_state
def get_nodes(state: State, name: str | None, all_clusters: bool) -> None:
    """List a cluster's nodes."""
    if all_clusters and name:
        raise click.UsageError("give --name or -A/--all-clusters, not both")
    clusters = list_clusters(state.engine) if all_clusters else [cluster_name(name)]
    found = False
    for c in clusters:
        for node in list_nodes(state.engine, c):
            found = True
            click.echo(node.name)
    if not found:
        what = "any cluster" if all_clusters else f"cluster {clusters[0]!r}"
        state.status.line(f"No nodes found for {what}.")


@get.command("kubeconfig")
@name_option
@click.option("--internal", is_flag=True, help="Use the control plane's address on the cluster network.")
@provider_option
@pass_state
def get_kubeconfig(state: State, name: str | None, internal: bool) -> None:
    """Print a cluster's kubeconfig."""
    from kindlike.kubeconfig import cluster_kubeconfig

    click.echo(cluster_kubeconfig(state.engine, cluster_name(name), internal=internal), nl=False)
