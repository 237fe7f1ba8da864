"""Step "Ensuring node image": every node image present (the default one is
built when missing), and what each image says about itself
(nodeimage.metadata.image_info: its labels, so no container has to start)."""
from __future__ import annotations

import os
import socket
import tempfile
import time
from pathlib import Path
from typing import Callable

from kindlike import constants
from kindlike.engines.base import Engine
from kindlike.errors import KindlikeError
from kindlike.nodeimage import build_node_image
from kindlike.nodeimage.components import DEFAULT_KUBERNETES
from kindlike.nodeimage.metadata import ImageInfo, image_info
from kindlike.nodeimage.plan import DEFAULT_ONLINE_VERSION

REGISTRY = ("registry-1.docker.io", 443)  # where kindest/node, the online base, lives


def registry_reachable(timeout: float = 3.0) -> tuple[bool, str]:
    """One TCP connection attempt to the registry the online flavour pulls
    from: the same traffic a pull would make, but bounded to a few seconds."""
    try:
        with socket.create_connection(REGISTRY, timeout=timeout):
            return True, f"{REGISTRY[0]} is reachable"
    except OSError as e:
        return False, f"no registry reachable ({REGISTRY[0]}: {e.strerror or e})"


def choose_flavour() -> tuple[str, str]:
    """online when kindest/node can be pulled, else offline; KINDLIKE_NODE_FLAVOUR
    (online|offline) decides without probing."""
    forced = os.environ.get("KINDLIKE_NODE_FLAVOUR", "").lower()
    if forced in ("online", "offline"):
        return forced, f"KINDLIKE_NODE_FLAVOUR={forced}"
    ok, why = registry_reachable()
    if ok:
        return "online", f"{why}: FROM kindest/node, Kubernetes {DEFAULT_ONLINE_VERSION}"

    return "offline", f"{why}: Kubernetes {DEFAULT_KUBERNETES} built from Go modules"


def ensure_images(engine: Engine, refs: list[str], note: Callable[[str], None], status) -> dict[str, ImageInfo]:
    out = {}
    for ref in refs:
        if not engine.image_exists(ref):
            if ref != constants.DEFAULT_NODE_IMAGE:
                raise KindlikeError(f"node image {ref} not found",
                                    fix=f"build it: kindlike build node-image --image {ref}")

            flavour, why = choose_flavour()
            start = time.monotonic()
            status.line(f" • Node image {ref} is missing: building the {flavour} flavour ({why})")
            build_node_image(engine, image=ref, flavour=flavour, kubernetes=None, base_image=None,
                             progress=status.line)
            note(f"built {ref} in {time.monotonic() - start:.0f}s")
        else:
            note(ref)
        out[ref] = image_info(engine, ref)
    return out


def copy_to_hosts(engine: Engine, plans, note: Callable[[str], None]) -> None:
    """Give the engine of each node on another host the node's image, as the
    cluster's engine has it (skipped where the same image is there)."""
    wanted: dict[str, set[str]] = {}
    for p in plans:
        if p.host:
            wanted.setdefault(p.host, set()).add(p.image)
    for url, refs in wanted.items():
        there = engine.at(url)
        missing = sorted(r for r in refs if not there.image_exists(r) or there.image_id(r) != engine.image_id(r))
        if not missing:
            continue
        note(f"copying {', '.join(missing)} to {url}")
        with tempfile.TemporaryDirectory(prefix="kindlike-images-") as d:
            archive = Path(d) / "images.tar"
            engine.save_images(missing, archive)
            there.load_image_archive(archive)
