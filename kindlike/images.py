"""Loading images into nodes' containerd (the `k8s.io` namespace kubelet
uses), from an archive in docker-save format."""
from __future__ import annotations

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
            n.exec(*CTR, "images", "import", "--all-platforms", dest, timeout=600)
        finally:
            n.exec("rm", "-f", dest, check=False)

    with ThreadPoolExecutor(max_workers=max(1, len(nodes))) as pool:
        list(pool.map(one, nodes))


def node_images(node: Node) -> list[str]:
    out = node.output(*CTR, "images", "ls", "-q")
    return [l.strip() for l in out.splitlines() if l.strip()]
