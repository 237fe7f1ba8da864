"""`kindlike build node-image`."""
from __future__ import annotations

import time

import click

from kindlike import constants
from kindlike.cli.common import State, pass_state, provider_option


@click.group()
def build() -> None:
    """Build images."""


@build.command("node-image")
@click.argument("kubernetes_source", required=False, metavar="[SOURCE]")
@click.option("--image", default=constants.DEFAULT_NODE_IMAGE, show_default=True, help="Name of the resulting image.")
@click.option("--base-image", default=None, help="Base image (online: a kindest/node release; offline: kindlike/base).")
@click.option("--flavour", "--type", "flavour", type=click.Choice(["auto", "online", "offline"]), default="auto",
              show_default=True, help="online: FROM kindest/node; offline: Kubernetes built from Debian sources.")
@click.option("--kubernetes", "kubernetes", default=None,
              help="Kubernetes to put in the image: a version (online), a directory of binaries, or debian-source.")
@provider_option
@pass_state
def node_image(state: State, kubernetes_source: str | None, image: str, base_image: str | None, flavour: str,
               kubernetes: str | None) -> None:
    """Build a node image (SOURCE is the same as --kubernetes)."""
    from kindlike.nodeimage import build_node_image

    if kubernetes_source and kubernetes and kubernetes_source != kubernetes:
        raise click.UsageError("give the Kubernetes source once: as SOURCE or as --kubernetes")
    start = time.monotonic()
    build_node_image(state.engine, image=image, flavour=flavour, kubernetes=kubernetes or kubernetes_source,
                     base_image=base_image, progress=None if state.quiet else state.status.line)
    state.status.line(f"Image {image} built in {time.monotonic() - start:.1f}s")
