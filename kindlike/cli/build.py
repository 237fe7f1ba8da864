"""`kindlike build node-image`."""
from __future__ import annotations

import json
import time

import click

from kindlike import constants
from kindlike.cli.common import State, pass_state, provider_option
from kindlike.nodeimage import build_node_image, image_metadata, make_plan
from kindlike.nodeimage.components import describe


@click.group()
def build() -> None:
    """Build images."""


@build.command("node-image")
@click.argument("kubernetes_source", required=False, metavar="[SOURCE]")
@click.option("--image", default=constants.DEFAULT_NODE_IMAGE, show_default=True, help="Name of the resulting image.")
@click.option("--base-image", default=None, help="Base image (online: a kindest/node release; else kindlike/base).")
@click.option("--flavour", "--type", "flavour", type=click.Choice(["auto", "online", "offline"]), default="auto",
              show_default=True, help="offline (auto): built here from Go modules; online: FROM kindest/node.")
@click.option("--kubernetes", "kubernetes", default=None,
              help="Kubernetes version (default: the newest tested), a directory of binaries, or debian-source.")
@click.option("--dry-run", is_flag=True, help="List what would be built (components, versions, labels); build nothing.")
@click.option("--no-cache", is_flag=True, help="Build the image without the engine's layer cache.")
@click.option("--rebuild", is_flag=True, help="Recompile the binaries even when the cache holds them.")
@click.option("--cache-dir", default=None, help="Build cache (default: $KINDLIKE_CACHE_DIR, else ~/.cache/kindlike).")
@click.option("--metadata", "metadata_of", default=None, metavar="IMAGE",
              help="Only print IMAGE's kindlike metadata (its labels, as JSON).")
@provider_option
@pass_state
def node_image(state: State, kubernetes_source: str | None, image: str, base_image: str | None, flavour: str,
               kubernetes: str | None, dry_run: bool, no_cache: bool, rebuild: bool, cache_dir: str | None,
               metadata_of: str | None) -> None:
    """Build a node image (SOURCE is the same as --kubernetes)."""
    if metadata_of:
        click.echo(json.dumps(image_metadata(state.engine, metadata_of), indent=2))
        return

    if kubernetes_source and kubernetes and kubernetes_source != kubernetes:
        raise click.UsageError("give the Kubernetes source once: as SOURCE or as --kubernetes")
    source = kubernetes or kubernetes_source
    if dry_run:
        plan = make_plan(image=image, flavour=flavour, kubernetes=source, base_image=base_image)
        if plan.source == "go-modules":
            click.echo(json.dumps(describe(plan), indent=2))
        else:
            click.echo(json.dumps({"image": plan.image, "flavour": plan.flavour, "source": plan.source,
                                   "kubernetes_version": plan.kubernetes_version, "base_image": plan.base_image},
                                  indent=2))
        return
    start = time.monotonic()
    output = state.status.line if state.verbosity > 0 else None
    build_node_image(state.engine, image=image, flavour=flavour, kubernetes=source, base_image=base_image,
                     progress=None if state.quiet else state.status.line, output=output, no_cache=no_cache,
                     rebuild_kubernetes=rebuild, cache=cache_dir)
    state.status.line(f"Image {image} built in {time.monotonic() - start:.1f}s")
