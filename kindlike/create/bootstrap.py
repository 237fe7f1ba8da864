"""Steps "Starting control-plane", "Joining more control-plane nodes" and
"Joining worker nodes": kubeadm init on the first control plane, kubeadm
join on the other control planes one at a time and on every worker at
once, the workers starting while init finishes."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import shlex
import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Callable

from kindlike.cluster.kubectl import ADMIN, kubectl
from kindlike.cluster.nodes import Node
from kindlike.constants import ADMIN_CONF, BOOTSTRAP_TOKEN, KUBEADM_CONF
from kindlike.create.kubeadm import init_skip_phases
from kindlike.errors import ExecError

# The kube-public RoleBinding that lets anyone read cluster-info, made by
# kubeadm init right after the ConfigMap.
CLUSTER_INFO_READERS = "kubeadm:bootstrap-signer-clusterinfo"


# kubeadm preflight checks that cannot pass inside a node container; every
# other check runs and stops the create when it fails.
PREFLIGHT_IGNORED = {
    # Reads the kernel's build config (/proc/config.gz, /boot) that a node
    # does not have, and from 1.35 reports a cgroup v1 host as an error (the
    # kubelet runs there with failCgroupV1: false instead).
    "SystemVerification": "kernel config not visible in a node; cgroup v1 hosts",
    # The host's swap shows through /proc/swaps; the kubelet has failSwapOn: false.
    "Swap": "host swap is visible in the node; kubelet has failSwapOn: false",
}


def preflight_args(preflight: bool) -> list[str]:
    if not preflight:
        return []
    return [f"--ignore-preflight-errors={','.join(sorted(PREFLIGHT_IGNORED))}"]


def has_crictl(node: Node) -> bool:
    return node.exec("sh", "-c", "command -v crictl", check=False).code == 0


def preflight_lines(output: str) -> list[str]:
    """kubeadm's preflight report out of its output (shown with -v)."""
    return [l.strip() for l in output.splitlines()
            if "[preflight]" in l or "[WARNING" in l or l.strip().startswith("[ERROR")]


def kubelet_failure_hint(node: Node, err: ExecError) -> ExecError:
    """kubeadm only says it timed out waiting; the reason is nearly always in
    the kubelet's journal (kind #3319), so put its last errors in the message."""
    log = node.exec("sh", "-c", "journalctl -u kubelet --no-pager -o cat -n 400 | grep -E '^[EF][0-9]{4}' | tail -n 5",
                    check=False).stdout.strip()
    if not log:
        return err
    tail = "\n".join(err.output.strip().splitlines()[-4:])
    return ExecError(node.name, err.cmd, err.code, f"{tail}\nkubelet's last errors:\n{log}")


# kubeadm init's last phase, kubelet-finalize, points kubelet.conf at the
# kubelet's rotated client certificate and (1.37) restarts the kubelet: at
# the very moment the first pods are scheduled, which then wait for the new
# kubelet to sync (1-2 s on 2 cores). Where kindlike skips the phase
# (versions.kubelet_finalize_without_restart) it makes the same change
# without the restart: the running kubelet rotates its certificate either
# way, and reads the file at its next start. Where kubeadm ran the phase,
# the change finds nothing left to do.
KUBELET_CLIENT_PEM = "/var/lib/kubelet/pki/kubelet-client-current.pem"
POINT_KUBELET_AT_ROTATED_CERT = (
    f"if [ -e {KUBELET_CLIENT_PEM} ]; then sed -i -e 's#client-certificate-data: .*#client-certificate: "
    f"{KUBELET_CLIENT_PEM}#' -e 's#client-key-data: .*#client-key: {KUBELET_CLIENT_PEM}#' "
    "/etc/kubernetes/kubelet.conf; fi")


def kubeadm_init(cp: Node, has_coredns: bool, kube_proxy: bool = True,
                 log: Callable[[str], None] | None = None, upload_certs: bool = False,
                 kubernetes_version: str = "") -> None:
    preflight = has_crictl(cp)
    skip = init_skip_phases(kube_proxy=kube_proxy, has_coredns=has_coredns, preflight=preflight,
                            kubernetes_version=kubernetes_version)
    # --upload-certs: the other control planes fetch the shared CA and keys
    # (encrypted with the config's certificateKey) instead of being copied them.
    args = ["kubeadm", "init", f"--config={KUBEADM_CONF}", "--skip-token-print", *preflight_args(preflight),
            *([f"--skip-phases={','.join(skip)}"] if skip else []), *(["--upload-certs"] if upload_certs else []),
            "--v=2"]
    try:
        res = cp.exec("sh", "-c", f"{shlex.join(args)} && {POINT_KUBELET_AT_ROTATED_CERT}", timeout=600)
    except ExecError as e:
        raise kubelet_failure_hint(cp, e) from e
    if log:
        for line in preflight_lines(res.stdout + "\n" + res.stderr):
            log(f"   {cp.name}: {line}")


def cluster_info_signature(kubeconfig: str, token: str = BOOTSTRAP_TOKEN) -> str:
    """The detached JWS (HS256, keyed by the token's secret) with which
    kube-controller-manager's bootstrap signer signs the cluster-info
    kubeconfig for a bootstrap token, byte for byte: the same header, so the
    signer finds the value it would write and leaves it alone."""
    token_id, secret = token.split(".")

    def b64(data: bytes) -> bytes:
        return base64.urlsafe_b64encode(data).rstrip(b"=")

    signed = b64(json.dumps({"alg": "HS256", "kid": token_id}, separators=(",", ":")).encode()) + b"." \
        + b64(kubeconfig.encode())
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).digest()
    return (signed.split(b".")[0] + b".." + b64(digest)).decode()


def join_can_start(cp: Node) -> bool:
    """`kubeadm join` would find what it needs: the cluster-info ConfigMap
    readable without credentials (init's bootstrap-token phase, after the
    token, the CSR auto-approval rules and the uploaded kubeadm and kubelet
    configs) and signed for the bootstrap token. The signature is written
    here when missing: kube-controller-manager's signer adds it only once all
    its controllers are built, 5-10 s after init on 2 cores, and kubeadm
    looks for it every 5 s; until then every join waits."""
    token_id = BOOTSTRAP_TOKEN.split(".")[0]
    res = cp.exec("sh", "-c", f"test -f {ADMIN_CONF} && kubectl {ADMIN} -n kube-public get rolebinding "
                  f"{CLUSTER_INFO_READERS} -o name >/dev/null && kubectl {ADMIN} -n kube-public get configmap "
                  "cluster-info -o json", check=False, timeout=30)
    if res.code != 0:
        return False
    data = json.loads(res.stdout).get("data") or {}
    if not data.get("kubeconfig"):
        return False
    key = f"jws-kubeconfig-{token_id}"
    if not data.get(key):
        patch = json.dumps({"data": {key: cluster_info_signature(data["kubeconfig"])}})
        if kubectl(cp, "-n", "kube-public", "patch", "configmap", "cluster-info", "--type=merge", "-p", patch,
                   check=False, timeout=30).code != 0:
            return False
    return True


def admin_can_write(cp: Node) -> bool:
    """The admin kubeconfig may create objects: the API server answers and
    init has bound kubeadm's admins to cluster-admin (right after it saw the
    API server healthy)."""
    return cp.exec("sh", "-c", f"test -f {ADMIN_CONF} && kubectl {ADMIN} auth can-i create daemonsets -A",
                   check=False, timeout=30).code == 0


Task = tuple[Callable[[Node], bool], Callable[[], None]]


def while_init_runs(cp: Node, init: Callable[[], None], tasks: dict[str, Task],
                    poll: float = 1.0) -> dict[str, Future]:
    """Run `init`; start each task's action in the background as soon as its
    check passes on the control plane while init runs, else once init is
    done (its check asked once more first: a check may prepare the ground,
    as join_can_start signs cluster-info). Returns the actions' futures by
    name; init's error is raised.
    A check is an exec in the control plane (about 0.15 CPU-seconds), so it
    is asked once a `poll`, not faster, while init needs the CPU."""
    pool = ThreadPoolExecutor(max_workers=1 + len(tasks), thread_name_prefix="kindlike-bootstrap")
    initializing = pool.submit(init)
    started: dict[str, Future] = {}
    try:
        def round_(after_init: bool) -> None:
            checked: dict[Callable, bool] = {}  # tasks sharing a check ask once a round
            for name, (ready, action) in tasks.items():
                if name in started:
                    continue
                if ready not in checked:
                    checked[ready] = ready(cp)
                if checked[ready] or after_init:
                    started[name] = pool.submit(action)

        while len(started) < len(tasks) and not initializing.done():
            round_(after_init=False)
            if len(started) < len(tasks):
                time.sleep(poll)
        initializing.result()
        round_(after_init=True)
        return started
    finally:
        pool.shutdown(wait=False)


def kubeadm_join(nodes: list[Node], log: Callable[[str], None] | None = None) -> None:
    def join(n: Node) -> None:
        preflight = has_crictl(n)
        args = ["kubeadm", "join", f"--config={KUBEADM_CONF}", *preflight_args(preflight),
                *([] if preflight else ["--skip-phases=preflight"]), "--v=2"]
        try:
            res = n.exec(*args, timeout=600)
        except ExecError as e:
            raise kubelet_failure_hint(n, e) from e  # an ExecError: the step names its node
        if log:
            for line in preflight_lines(res.stdout + "\n" + res.stderr):
                log(f"   {n.name}: {line}")

    if not nodes:
        return
    with ThreadPoolExecutor(max_workers=len(nodes)) as pool:
        list(pool.map(join, nodes))
