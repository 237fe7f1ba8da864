"""A node's boot: systemd coming up in it, the pod-network state it keeps
across a stop, and the CoreDNS pods a boot leaves waiting on client-go's
back-off."""
from __future__ import annotations

import json
import time

from kindlike.cluster.kubectl import kubectl
from kindlike.cluster.nodes import Node
from kindlike.errors import EngineError


def wait_for_systemd(node: Node, timeout: float) -> None:
    """Poll `systemctl is-system-running` rather than scraping the log: Podman's
    log streaming is where kind's log-wait times out (kind #3363)."""
    deadline = time.monotonic() + timeout
    delay = 0.1
    last = ""
    while True:
        record = node.engine.container(node.name)
        if not record.running:
            tail = node.engine.logs(node.name, tail=15).strip()
            raise EngineError(f"node {node.name} exited during boot (exit code {record.exit_code})"
                              + (f":\n{tail}" if tail else ""))
        res = node.exec("systemctl", "is-system-running", check=False)
        last = res.stdout.strip() or res.stderr.strip()
        if last in ("running", "degraded"):
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


def restart_dns_stalled_at_boot(cp: Node) -> None:
    """Delete the CoreDNS pods that are not Ready once the API server answers
    after a boot; their ReplicaSet makes new ones at once. The kubelet
    restarts every pod as the node boots, CoreDNS before the API server
    serves, and CoreDNS then retries it with client-go's doubling back-off:
    copies of a snapshot answered DNS 30-40 s after their API server. Pods
    started now reach it on their first try. Ready ones are kept."""
    res = kubectl(cp, "-n", "kube-system", "get", "pods", "-l", "k8s-app=kube-dns", "-o", "json",
                  check=False, timeout=30)
    if res.code != 0:
        return
    stalled = [p["metadata"]["name"] for p in json.loads(res.stdout).get("items", [])
               if not any(c["type"] == "Ready" and c["status"] == "True"
                          for c in p.get("status", {}).get("conditions", []))]
    if stalled:
        kubectl(cp, "-n", "kube-system", "delete", "pod", "--wait=false", *stalled, check=False, timeout=30)
