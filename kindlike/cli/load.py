"""`kindlike load docker-image|image-archive`: images into a cluster's nodes,
from the image store of the engine that runs them (Docker or Podman)."""
from __future__ import annotations

import click

from kindlike.api import Cluster
from kindlike.cli.common import State, cluster_name, name_option, pass_state, provider_option


@click.group()
def load() -> None:
    """Load images into a cluster's nodes."""


def _nodes_list(value: str | None) -> list[str] | None:
    return [n.strip() for n in value.split(",") if n.strip()] if value else None


def _summary(state: State, result, what: str) -> None:
    loaded = result.nodes_loaded
    if loaded:
        state.status.line(f"Loaded {what} into {len(loaded)} node{'s' if len(loaded) != 1 else ''}: "
                          f"{', '.join(loaded)}")
    else:
        state.status.line(f"Nothing to load: every selected node already holds {what}.")


@load.command("docker-image")
@click.argument("images", nargs=-1, required=True)
@name_option
@click.option("--nodes", default=None, metavar="NODE[,NODE...]", help="Load only into these nodes (default: all).")
@provider_option
@pass_state
def load_docker_image(state: State, images: tuple[str, ...], name: str | None, nodes: str | None) -> None:
    """Load IMAGES from the image store of the engine running the cluster
    (Docker or Podman) into its nodes; nodes already holding an image with
    the same ID are skipped."""
    c = Cluster.get(cluster_name(name), engine=state.engine)
    result = c.load_image(*images, nodes=_nodes_list(nodes), verbose=not state.quiet)
    _summary(state, result, ", ".join(images))


@load.command("image-archive")
@click.argument("archive", type=click.Path(dir_okay=False))
@name_option
@click.option("--nodes", default=None, metavar="NODE[,NODE...]", help="Load only into these nodes (default: all).")
@provider_option
@pass_state
def load_image_archive(state: State, archive: str, name: str | None, nodes: str | None) -> None:
    """Load an image ARCHIVE (docker save / podman save format) into the
    nodes; nodes already holding all its images are skipped."""
    c = Cluster.get(cluster_name(name), engine=state.engine)
    result = c.load_image_archive(archive, nodes=_nodes_list(nodes), verbose=not state.quiet)
    _summary(state, result, archive)
