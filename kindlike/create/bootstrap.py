"""Steps "Starting control-plane", "Joining worker nodes" and "Waiting for
Ready": kubeadm init on the first control plane, kubeadm join on every
worker at once, and readiness checks through the control plane's kubectl."""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

from kindlike.constants import ADMIN_CONF, KUBEADM_CONF
from kindlike.errors import ClusterError, ExecError
from kindlike.runtime import Node

ADMIN = f"--kubeconfig={ADMIN_CONF}"


def kubectl(node: Node, *args: str, **kw):
    return node.exec("kubectl", ADMIN, *args, **kw)


def init_phases_to_skip(has_coredns: bool, kube_proxy: bool = True) -> list[str]:
    # preflight insists on crictl, which neither image flavour needs; CoreDNS
    # is skipped only when the image has no CoreDNS image to run, kube-proxy
    # when the config says kubeProxyMode: none.
    return (["preflight"] + ([] if has_coredns else ["addon/coredns"])
            + ([] if kube_proxy else ["addon/kube-proxy"]))


def kubelet_failure_hint(node: Node, err: ExecError) -> ExecError:
    """kubeadm only says it timed out waiting; the reason is nearly always in
    the kubelet's journal (kind #3319), so put its last errors in the message."""
    log = node.exec("sh", "-c", "journalctl -u kubelet --no-pager -o cat -n 400 | grep -E '^[EF][0-9]{4}' | tail -n 5",
                    check=False).stdout.strip()
    if not log:
        return err
    tail = "\n".join(err.output.strip().splitlines()[-4:])
    return ExecError(node.name, err.cmd, err.code, f"{tail}\nkubelet's last errors:\n{log}")


def kubeadm_init(cp: Node, has_coredns: bool, single_node: bool, kube_proxy: bool = True) -> None:
    skip = ",".join(init_phases_to_skip(has_coredns, kube_proxy))
    try:
        cp.exec("kubeadm", "init", f"--config={KUBEADM_CONF}", "--skip-token-print", f"--skip-phases={skip}",
                "--v=2", timeout=600)
    except ExecError as e:
        raise kubelet_failure_hint(cp, e) from e
    if single_node:
        # The taint's key changed in 1.24; remove whichever this version set.
        for taint in ("node-role.kubernetes.io/control-plane-", "node-role.kubernetes.io/master-"):
            kubectl(cp, "taint", "nodes", "--all", taint, check=False)


def kubeadm_join(nodes: list[Node]) -> None:
    def join(n: Node) -> None:
        try:
            n.exec("kubeadm", "join", f"--config={KUBEADM_CONF}", "--skip-phases=preflight", "--v=2", timeout=600)
        except ExecError as e:
            raise kubelet_failure_hint(n, e) from e  # an ExecError: the step names its node

    if not nodes:
        return
    with ThreadPoolExecutor(max_workers=len(nodes)) as pool:
        list(pool.map(join, nodes))


def wait_ready(cp: Node, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        res = kubectl(cp, "get", "nodes", "-o",
                      "jsonpath={range .items[*]}{.metadata.name}{\" \"}"
                      "{.status.conditions[?(@.type==\"Ready\")].status}{\"\\n\"}{end}", check=False)
        states = dict(l.split() for l in res.stdout.splitlines() if len(l.split()) == 2)
        if states and all(v == "True" for v in states.values()):
            return
        if time.monotonic() > deadline:
            not_ready = [k for k, v in states.items() if v != "True"] or ["(no nodes registered)"]
            raise ClusterError(f"nodes not Ready after {timeout:.0f}s: {', '.join(sorted(not_ready))}",
                               fix="inspect with `kindlike export logs`, or raise --wait")
        time.sleep(0.5)
