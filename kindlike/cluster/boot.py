"""A node's boot: systemd coming up in it, the pod-network state it keeps
across a stop, and its kubelet restarted when it refused pods for not yet
having listed the Services (cluster/usable.py)."""
from __future__ import annotations

import shlex
import time
from concurrent.futures import ThreadPoolExecutor

from kindlike.cluster.nodes import Node
from kindlike.errors import EngineError

BOOT_TIMEOUT = 120.0  # a node's systemd, from its container's start to every unit started

# `systemctl is-system-running` once systemd is PID 1 (the node's entrypoint
# has handed over to it); before, it says "offline" or cannot reach it.
_SYSTEMD_STATES = ("initializing", "starting", "running", "degraded", "maintenance", "stopping")


def wait_for_systemd(node: Node, timeout: float, *, up: bool = True) -> None:
    """Poll `systemctl is-system-running` rather than scraping the log: Podman's
    log streaming is where kind's log-wait times out (kind #3363). `up`:
    until every unit has started (containerd and the kubelet), else only
    until the entrypoint has handed over to systemd, after which nothing
    but kindlike writes the node's configuration files."""
    deadline = time.monotonic() + timeout
    delay = 0.1
    last = ""
    wanted = ("running", "degraded") if up else _SYSTEMD_STATES
    while True:
        record = node.engine.container(node.name)
        if not record.running:
            tail = node.engine.logs(node.name, tail=15).strip()
            raise EngineError(f"node {node.name} exited during boot (exit code {record.exit_code})"
                              + (f":\n{tail}" if tail else ""))
        res = node.exec("systemctl", "is-system-running", check=False)
        last = res.stdout.strip() or res.stderr.strip()
        if last in wanted:
            return
        if time.monotonic() > deadline:
            tail = node.engine.logs(node.name, tail=15).strip()
            raise EngineError(f"systemd in node {node.name} did not come up within {timeout:.0f}s "
                              f"(state: {last or 'unknown'})" + (f":\n{tail}" if tail else ""))
        time.sleep(delay)
        delay = min(delay * 1.5, 0.3)  # systemd is up about a second after the start


# flanneld writes the node's pod subnet to /run (a tmpfs) when it starts; the
# flannel CNI plugin reads it for every pod. Kept on /var before a node stops,
# and put back by the entrypoint at boot, pods get their network at once
# after a start, instead of failing until flanneld is up and then waiting out
# the kubelet's back-off (half a minute).
FLANNEL_SUBNET_ENV = "/run/flannel/subnet.env"
KEPT_SUBNET_ENV = "/var/lib/kindlike/flannel-subnet.env"


def keep_pod_network_state(node: Node) -> None:
    node.exec("sh", "-c", f"[ ! -s {FLANNEL_SUBNET_ENV} ] || {{ mkdir -p {KEPT_SUBNET_ENV.rsplit('/', 1)[0]} && "
                          f"cp {FLANNEL_SUBNET_ENV} {KEPT_SUBNET_ENV}; }}", check=False, timeout=30)


def restart_kubelets(nodes: list[Node], names: set[str]) -> None:
    """Restart the kubelet of each node whose hostname (its Kubernetes node
    name) is in `names`; the running containers are left as they are."""
    pattern = "|".join(shlex.quote(n) for n in sorted(names))
    with ThreadPoolExecutor(max_workers=max(1, len(nodes))) as pool:
        list(pool.map(lambda n: n.exec("sh", "-c", f'case "$(hostname)" in {pattern}) systemctl restart kubelet;; esac',
                                       check=False, timeout=60), nodes))
