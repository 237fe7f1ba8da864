"""`kindlike create cluster`."""
from __future__ import annotations

import click

from kindlike import kubeconfig as kc
from kindlike.api import Cluster, plan
from kindlike.cli.common import State, name_option, pass_state, provider_option
from kindlike.duration import parse_wait
from kindlike.errors import KindlikeError


def parse_duration(text: str) -> float:
    """Go-style durations as kind takes them (30s, 5m, 1m30s, 1h; a bare
    number is seconds; 0 means do not wait): the API's parser, as a click error."""
    try:
        return parse_wait(text)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--wait") from e


@click.group()
def create() -> None:
    """Create a cluster."""


@create.command("cluster")
@name_option
@click.option("--config", "config_path", default=None, help="kind/kindlike config file; - reads standard input.")
@click.option("--image", default=None, help="Node image for every node (overrides the config).")
@click.option("--retain", is_flag=True, help="Keep the nodes when creation fails, for debugging.")
@click.option("--wait", "wait", default="0s", metavar="DURATION",
              help="Wait until every node is Ready (e.g. 5m); 0 does not wait.")
@click.option("--kubeconfig", default=None, help="kubeconfig file to merge into (default: $KUBECONFIG, ~/.kube/config).")
@click.option("--dry-run", is_flag=True,
              help="Validate the config, print the plan and every node's rendered configuration; create nothing.")
@click.option("--output", "-o", "output", type=click.Choice(["text", "yaml", "json"]), default="text",
              show_default=True, help="With --dry-run: the plan as text, YAML or JSON.")
@click.option("--from-snapshot", "from_snapshot", default=None, metavar="SNAPSHOT",
              help="Start the cluster from a saved snapshot (kindlike snapshot save) instead of bootstrapping it.")
@click.option("--allow-no-resource-limits", is_flag=True, envvar="KINDLIKE_ALLOW_NO_RESOURCE_LIMITS",
              help="Under a rootless engine without cgroup v2 delegation (e.g. cgroup v1), create the cluster "
                   "anyway, with a warning: nodes then run without resource limits "
                   "(also KINDLIKE_ALLOW_NO_RESOURCE_LIMITS=1).")
@click.option("--registry", default=None, metavar="REGISTRY",
              help="Connect this local registry (kindlike registry create): pods pull localhost:PORT/IMAGE from it.")
@click.option("--node-cpus", default=None, metavar="N",
              help="CPU limit of every node without its own (1, 1.5, 500m); kindlike-only.")
@click.option("--node-memory", default=None, metavar="SIZE",
              help="Memory limit of every node without its own (1Gi, 1536Mi); kindlike-only.")
@provider_option
@pass_state
def create_cluster(state: State, name, config_path, image, retain, wait, kubeconfig, dry_run, output,
                   from_snapshot, allow_no_resource_limits, registry, node_cpus, node_memory) -> None:
    """Create a local Kubernetes cluster."""
    wait_s = parse_duration(wait)
    if from_snapshot and (config_path or image or dry_run):
        given = next(o for o, v in (("--config", config_path), ("--image", image), ("--dry-run", dry_run)) if v)
        raise click.UsageError(f"--from-snapshot cannot be combined with {given}: the snapshot holds the nodes, "
                               "their configuration and image")
    config = config_path  # a path, or - for standard input: the API reads it
    if dry_run:
        click.echo(plan(name, config=config, image=image, kubeconfig=kubeconfig, engine=_engine_if_any(state),
                        output=output, registry=registry, node_cpus=node_cpus, node_memory=node_memory), nl=False)
        return
    cluster = Cluster.create(name, config=config, image=image, wait=wait_s, retain=retain,
                             kubeconfig=kc.default_path(kubeconfig), engine=state.engine, keep=True,
                             from_snapshot=from_snapshot, allow_no_resource_limits=allow_no_resource_limits,
                             status=state.status, details=state.verbosity > 0, registry=registry,
                             node_cpus=node_cpus, node_memory=node_memory)
    cluster.close()
    context = kc.context_name(cluster.name)
    state.status.line(f'Set kubectl context to "{context}" in {cluster.merged_kubeconfig}')
    state.status.line(f"You can now use your cluster with:\n\nkubectl cluster-info --context {context}\n")


def _engine_if_any(state: State):
    """The engine, for its facts and image labels, or None when none answers
    (the dry run then renders for this host's defaults)."""
    try:
        return state.engine
    except KindlikeError:
        return None
