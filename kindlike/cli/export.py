"""`kindlike export kubeconfig|logs`."""
from __future__ import annotations

import click

from kindlike import kubeconfig as kc
from kindlike.api import Cluster
from kindlike.cli.common import State, cluster_name, name_option, pass_state, provider_option


@click.group()
def export() -> None:
    """Export a cluster's kubeconfig or logs."""


@export.command("kubeconfig")
@name_option
@click.option("--kubeconfig", default=None, help="File to merge into (default: $KUBECONFIG, else ~/.kube/config).")
@click.option("--internal", is_flag=True, help="Use the control plane's address on the cluster network.")
@provider_option
@pass_state
def export_kubeconfig(state: State, name: str | None, kubeconfig: str | None, internal: bool) -> None:
    """Merge the cluster's kubeconfig into your kubeconfig file and switch to it."""
    name = cluster_name(name)
    path = kc.merge(name, kc.cluster_kubeconfig(state.engine, name, internal=internal), kubeconfig)
    state.status.line(f'Set kubectl context to "{kc.context_name(name)}" in {path}')


@export.command("logs")
@click.argument("directory", required=False, metavar="[DIR]")
@name_option
@provider_option
@pass_state
def export_logs(state: State, directory: str | None, name: str | None) -> None:
    """Collect every node's logs (journal, kubelet, containerd, configs,
    images, containers, pod logs, engine inspect) into DIR, default a new
    temporary directory; DIR ending in .tar.gz writes a tarball. Prints
    where the logs went."""
    c = Cluster.get(cluster_name(name), engine=state.engine)
    path = c.export_logs(directory, verbose=not state.quiet)
    state.status.line(f"Exported logs of cluster {c.name!r} ({len(c.nodes)} nodes) to:")
    click.echo(str(path))
