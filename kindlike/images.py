"""Loading images into nodes' containerd (the `k8s.io` namespace kubelet
uses), from an archive in docker-save format."""
from __future__ import annotations

import re
import secrets
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from kindlike.nodes import Node

CTR = ["ctr", "--namespace=k8s.io"]


def import_archive(nodes: list[Node], archive: Path) -> None:
    """Copy the archive into every node (concurrently) and import it there.
    The copy lands on /var, the node's volume: the root overlay may be small
    and Docker cannot copy into the tmpfs mounts."""
    data = Path(archive).read_bytes()

    def one(n: Node) -> None:
        dest = f"/var/tmp/kindlike-image-{secrets.token_hex(4)}.tar"
        n.write_file(dest, data, mode=0o600)
        try:
            # --all-platforms: a single-arch archive may lack the platform
            # index ctr matches on.
            out = n.output(*CTR, "images", "import", "--all-platforms", dest, timeout=600)
            for name in imported_names(out):
                alias = docker_hub_alias(name)
                if alias:
                    n.exec(*CTR, "images", "tag", "--force", name, alias)
        finally:
            n.exec("rm", "-f", dest, check=False)

    with ThreadPoolExecutor(max_workers=max(1, len(nodes))) as pool:
        list(pool.map(one, nodes))


def imported_names(ctr_output: str) -> list[str]:
    """Names from `ctr images import` output ("unpacking NAME (sha256:...)...")."""
    return [m.group(1) for m in re.finditer(r"^unpacking (\S+) \(sha256:", ctr_output, re.M)]


def docker_hub_alias(name: str) -> str | None:
    """Podman saves local images as localhost/NAME; a pod spec saying NAME
    means docker.io/NAME to the kubelet. Tag the image under that name too so
    the same manifest works whichever engine the image came from."""
    if name.startswith("localhost/"):
        rest = name[len("localhost/"):]
        return f"docker.io/{rest}" if "/" in rest else f"docker.io/library/{rest}"
    return None


def node_images(node: Node) -> list[str]:
    out = node.output(*CTR, "images", "ls", "-q")
    return [l.strip() for l in out.splitlines() if l.strip()]
