"""`kindlike load docker-image|image-archive`."""
from __future__ import annotations

import click

from kindlike.errors import NotAvailableYet


@click.group()
def load() -> None:
    """Load images into a cluster's nodes."""


@load.command("docker-image")
@click.argument("images", nargs=-1, required=True)
@click.option("-n", "--name", default=None, help="Cluster name.")
@click.option("--nodes", default=None, help="Comma-separated nodes to load into.")
def load_docker_image(images, name, nodes) -> None:
    """Load images from the engine's image store into the nodes."""
    raise NotAvailableYet("`kindlike load docker-image` is not available yet (planned: day-2 commands)")


@load.command("image-archive")
@click.argument("archive")
@click.option("-n", "--name", default=None, help="Cluster name.")
@click.option("--nodes", default=None, help="Comma-separated nodes to load into.")
def load_image_archive(archive, name, nodes) -> None:
    """Load an image archive (docker save format) into the nodes."""
    raise NotAvailableYet("`kindlike load image-archive` is not available yet (planned: day-2 commands)")
