"""`kindlike delete cluster`, `kindlike delete clusters` and `kindlike delete node`."""
from __future__ import annotations

import click

from kindlike.cli.common import State, cluster_name, name_option, pass_state, provider_option
from kindlike.cluster import nodes
from kindlike.kubeconfig import remove_cluster_entries
from kindlike.lifecycle import remove_node


@click.group()
def delete() -> None:
    """Delete one cluster or several, or a worker node."""


def _delete_one(state: State, name: str) -> None:
    removed = nodes.delete_cluster(state.engine, name)
    kc = remove_cluster_entries(name, state.kubeconfig_path)
    if not any(removed.values()) and not kc:
        state.status.line(f"Cluster {name!r} does not exist; nothing to delete.")
    else:
        n = len(removed["containers"])
        state.status.line(f"Deleted cluster {name!r} ({n} node{'s' if n != 1 else ''}).")


@delete.command("cluster")
@name_option
@click.option("--kubeconfig", default=None, help="kubeconfig file to remove the cluster's entries from.")
@provider_option
@pass_state
def delete_cluster(state: State, name: str | None, kubeconfig: str | None) -> None:
    """Delete a cluster's nodes, volumes, network and kubeconfig entries.
    Deleting a cluster that does not exist succeeds."""
    state.kubeconfig_path = kubeconfig
    _delete_one(state, cluster_name(name))


@delete.command("clusters")
@click.option("-A", "--all", "all_", is_flag=True, help="Delete every kindlike cluster.")
@click.option("--kubeconfig", default=None, help="kubeconfig file to remove the clusters' entries from.")
@click.argument("names", nargs=-1)
@provider_option
@pass_state
def delete_clusters(state: State, all_: bool, kubeconfig: str | None, names: tuple[str, ...]) -> None:
    """Delete the named clusters, or all of them with --all."""
    state.kubeconfig_path = kubeconfig
    if all_ and names:
        raise click.UsageError("give cluster names or --all, not both")
    if not all_ and not names:
        raise click.UsageError("name the clusters to delete, or pass --all")
    targets = nodes.list_clusters(state.engine, include_leftovers=True) if all_ else list(names)
    if not targets:
        state.status.line("No kindlike clusters to delete.")
    for name in targets:
        _delete_one(state, name)


@delete.command("node")
@click.argument("node")
@name_option
@provider_option
@pass_state
def delete_node(state: State, node: str, name: str | None) -> None:
    """Remove a worker node from a running cluster: drain it, delete its Node
    and its container (on whichever host it runs)."""
    cluster = cluster_name(name)
    remove_node(state.engine, cluster, node)
    state.status.line(f"Removed node {node!r} from cluster {cluster!r}.")
