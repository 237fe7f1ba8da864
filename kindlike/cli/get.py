"""`kindlike get clusters|nodes|kubeconfig`."""
from __future__ import annotations

import sys

import click

from kindlike.cli.common import State, cluster_name, name_option, pass_state, provider_option
from kindlike.cluster.nodes import cluster_labels, list_clusters, list_nodes
from kindlike.constants import LABEL_CPUS, LABEL_MEMORY
from kindlike.kubeconfig import cluster_kubeconfig
from kindlike.lifecycle import cluster_state
from kindlike.noderesources import describe, parse_cpus, parse_memory


@click.group()
def get() -> None:
    """Get clusters, nodes or a kubeconfig."""


@get.command("clusters")
@click.option("-o", "--output", type=click.Choice(["name", "wide"]), default=None,
              help="name: only the names (kind's output); wide: NAME, STATE and NODES columns. "
                   "Default: wide on a terminal, names when piped.")
@provider_option
@pass_state
def get_clusters(state: State, output: str | None) -> None:
    """List kindlike clusters and whether each is running or stopped."""
    names = list_clusters(state.engine)
    if not names:
        state.status.line("No kindlike clusters found.")
        return
    # Scripts read `kind get clusters` one name per line; keep that when piped.
    if (output or ("wide" if sys.stdout.isatty() else "name")) == "name":
        for n in names:
            click.echo(n)
        return
    rows = [(n, cluster_state(state.engine, n), str(len(list_nodes(state.engine, n)))) for n in names]
    width = max(len("NAME"), *(len(r[0]) for r in rows)) + 2
    swidth = max(len("STATE"), *(len(r[1]) for r in rows)) + 2
    click.echo(f"{'NAME':<{width}}{'STATE':<{swidth}}NODES")
    for n, st, count in rows:
        click.echo(f"{n:<{width}}{st:<{swidth}}{count}")


@get.command("nodes")
@name_option
@click.option("-A", "--all-clusters", is_flag=True, help="Nodes of every cluster.")
@click.option("-o", "--output", type=click.Choice(["name", "wide"]), default="name", show_default=True,
              help="wide: with each node's role, state and CPU/memory limits.")
@provider_option
@pass_state
def get_nodes(state: State, name: str | None, all_clusters: bool, output: str) -> None:
    """List a cluster's nodes."""
    if all_clusters and name:
        raise click.UsageError("give --name or -A/--all-clusters, not both")
    clusters = list_clusters(state.engine) if all_clusters else [cluster_name(name)]
    found = False
    for c in clusters:
        wide = _wide_rows(state.engine, c) if output == "wide" else {}
        for node in list_nodes(state.engine, c):
            if output == "wide" and not found:
                click.echo(f"{'NAME':<32} {'ROLE':<14} {'STATE':<10} RESOURCES")
            found = True
            click.echo(f"{node.name:<32} {node.role:<14} {wide.get(node.name, '')}" if wide else node.name)
    if not found:
        what = "any cluster" if all_clusters else f"cluster {clusters[0]!r}"
        state.status.line(f"No nodes found for {what}.")


def _wide_rows(engine, cluster: str) -> dict[str, str]:
    """STATE and RESOURCES per node, from the containers' state and labels."""
    out = {}
    for c in engine.list_containers(cluster_labels(cluster)):
        cpus, mem = c.labels.get(LABEL_CPUS, ""), c.labels.get(LABEL_MEMORY, "")
        out[c.name] = f"{c.state:<10} " + describe(parse_cpus(cpus) if cpus else 0, parse_memory(mem) if mem else 0)
    return out


@get.command("kubeconfig")
@name_option
@click.option("--internal", is_flag=True, help="Use the control plane's address on the cluster network.")
@provider_option
@pass_state
def get_kubeconfig(state: State, name: str | None, internal: bool) -> None:
    """Print a cluster's kubeconfig."""
    click.echo(cluster_kubeconfig(state.engine, cluster_name(name), internal=internal), nl=False)
