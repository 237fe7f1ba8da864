"""The admin kubectl: kubectl in a control plane with kubeadm's admin
kubeconfig, and the wait for the API server that every later look needs."""
from __future__ import annotations

import time

from kindlike.cluster.nodes import Node
from kindlike.constants import ADMIN_CONF
from kindlike.errors import ClusterError

ADMIN = f"--kubeconfig={ADMIN_CONF}"


def kubectl(node: Node, *args: str, **kw):
    return node.exec("kubectl", ADMIN, *args, **kw)


def wait_api(cp: Node, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        res = kubectl(cp, "get", "--raw", "/readyz", check=False, timeout=30)
        if res.code == 0:
            return
        if time.monotonic() > deadline:
            raise ClusterError(f"the API server did not answer within {timeout:.0f}s of the start "
                               f"({res.output.strip().splitlines()[-1] if res.output.strip() else 'no answer'})",
                               fix=f"inspect with: kindlike export logs --name {cp.name.rsplit('-control-plane', 1)[0]}")
        time.sleep(0.25)  # a copy of a snapshot is up in seconds: poll finely
