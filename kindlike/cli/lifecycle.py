"""`kindlike stop cluster` and `kindlike start cluster`."""
from __future__ import annotations

import time

import click

from kindlike.cli.common import State, cluster_name, name_option, pass_state, provider_option
from kindlike.cli.create import parse_duration
from kindlike.kubeconfig import context_name
from kindlike.lifecycle import start_cluster as start_it
from kindlike.lifecycle import stop_cluster as stop_it


@click.group()
def stop() -> None:
    """Stop a cluster (its containers; nothing is deleted)."""


@click.group()
def start() -> None:
    """Start a stopped cluster."""


@stop.command("cluster")
@name_option
@click.option("--timeout", default=60, show_default=True, metavar="SECONDS",
              help="How long each node may take to shut down before the engine kills it.")
@provider_option
@pass_state
def stop_cluster(state: State, name: str | None, timeout: int) -> None:
    """Stop every node of a cluster, freeing its CPU and memory; its data stays."""
    name = cluster_name(name)
    t0 = time.monotonic()
    stopped = stop_it(state.engine, name, timeout=timeout)
    state.status.line(f"Stopped cluster {name!r} ({len(stopped)} container{'s' if len(stopped) != 1 else ''}) in {time.monotonic() - t0:.1f}s.")


@start.command("cluster")
@name_option
@click.option("--wait", "wait", default="0s", metavar="DURATION",
              help="Also wait until the cluster is usable again: nodes Ready, pod network, DNS (e.g. 5m); "
                   "0 waits only for the API server.")
@click.option("--kubeconfig", default=None, help="kubeconfig file to update (default: $KUBECONFIG, ~/.kube/config).")
@provider_option
@pass_state
def start_cluster(state: State, name: str | None, wait: str, kubeconfig: str | None) -> None:
    """Start a stopped cluster; back when its API server answers (--wait: usable)."""
    name = cluster_name(name)
    wait_s = parse_duration(wait)
    res = start_it(state.engine, name, wait=wait_s, kubeconfig=kubeconfig)
    took = max(res.durations.values())
    what = "nodes Ready, pod network and DNS answering" if wait_s > 0 else "API server answering"
    state.status.line(f"Started cluster {name!r} ({len(res.nodes)} container{'s' if len(res.nodes) != 1 else ''}, {what}) in {took:.1f}s.")
    if res.kubeconfig_changed:
        state.status.line(f'Updated context "{context_name(name)}" in {res.kubeconfig_path}')
