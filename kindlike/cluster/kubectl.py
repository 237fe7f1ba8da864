"""The admin kubectl: kubectl in a control plane with kubeadm's admin
kubeconfig, and the wait for the API server that every later look needs."""
from __future__ import annotations

import time

from kindlike.cluster.apiclient import Api, ask, in_use
from kindlike.cluster.nodes import Node
from kindlike.constants import ADMIN_CONF
from kindlike.errors import ClusterError

ADMIN = f"--kubeconfig={ADMIN_CONF}"


def kubectl(node: Node, *args: str, **kw):
    return node.exec("kubectl", ADMIN, *args, **kw)


# After a boot the API server's data is there already: these two hooks only
# make sure the default roles and priority classes exist, and took 1.5-2 s
# of a restarted API server's start (2 cores) before /readyz said yes.
BOOTSTRAP_HOOKS = ("poststarthook/rbac/bootstrap-roles", "poststarthook/scheduling/bootstrap-system-priority-classes")


def wait_api(cp: Node, timeout: float, *, booted: bool = False, api: Api | None = None) -> None:
    """Wait until /readyz passes; `booted`: a cluster started again (or a
    copy of a snapshot), whose bootstrap objects are there already. Asked
    through `api` (cluster/apiclient.py) while it works, else with kubectl
    in the control plane."""
    deadline = time.monotonic() + timeout
    path = "/readyz" + ("?" + "&".join(f"exclude={h}" for h in BOOTSTRAP_HOOKS) if booted else "")

    def by_kubectl() -> tuple[bool, str]:
        res = kubectl(cp, "get", "--raw", path, check=False, timeout=30)
        return res.code == 0, res.output.strip().splitlines()[-1] if res.output.strip() else "no answer"

    while True:
        ready, last = ask(api, lambda a: (a.request("GET", path)[0] == 200, "not ready"), by_kubectl,
                          answered=lambda r: r[0], unanswered=(False, "no answer"))
        if ready:
            return
        if time.monotonic() > deadline:
            raise ClusterError(f"the API server did not answer within {timeout:.0f}s of the start ({last})",
                               fix=f"inspect with: kindlike export logs --name {cp.name.rsplit('-control-plane', 1)[0]}")
        # A copy of a snapshot is up in seconds: poll finely (a request from
        # here costs next to nothing; a kubectl in the node 0.1 CPU-seconds).
        time.sleep(0.1 if in_use(api) else 0.25)
