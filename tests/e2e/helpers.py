"""What the e2e modules share: the CLI as its user runs it, the cluster's own
kubectl, the probe workloads (a busybox DaemonSet on every node, a web pod,
a NodePort Service, a pod whose data lives on a PVC) and waits on a
condition (never on a fixed time)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from kindlike.cluster.nodes import Node, list_nodes
from tests.conftest import REPO

BUSYBOX = "kindlike/e2e-busybox:1"
BUSYBOX_DIR = REPO / "tests" / "e2e" / "images" / "busybox"
NODEPORT = 30080


def kindlike(engine_kind: str, *args: str, env: dict | None = None, timeout: float = 900,
             stdin: str | None = None) -> subprocess.CompletedProcess:
    """Run the CLI as its user would: root for rootful engines, the rootless
    user (in its delegated cgroups) for a rootless engine."""
    if engine_kind.startswith("rootless"):
        cmd = [str(REPO / "hack" / "as-rootless.sh"), "kindlike", *args]
    else:
        cmd = [sys.executable, "-m", "kindlike.cli.main", *args]
    res = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **(env or {})}, timeout=timeout,
                         input=stdin)
    print(f"$ kindlike {' '.join(args)}\n{res.stdout}\n{res.stderr}")
    return res


def cli_env(engine, engine_kind: str) -> dict[str, str]:
    """The environment that points the CLI at the test's engine."""
    env = {"KINDLIKE_PROVIDER": engine.name}
    if engine_kind == "rootful-docker":
        env["DOCKER_HOST"] = engine.host
    return env


def kubectl_bin(cp: Node, dest_dir: Path) -> Path:
    """The cluster's own kubectl, copied out of the control plane (static)."""
    dest = dest_dir / "kubectl"
    cp.copy_from("/usr/bin/kubectl", dest)
    dest.chmod(0o755)
    return dest


def kubectl_for(kubectl: Path, kubeconfig: Path):
    def k(*args, stdin=None, check=True, timeout=180):
        r = subprocess.run([str(kubectl), f"--kubeconfig={kubeconfig}", *args], input=stdin,
                           capture_output=True, text=True, timeout=timeout)
        if check:
            assert r.returncode == 0, f"kubectl {' '.join(args)}: {r.stderr}"
        return r.stdout
    return k


def ready_nodes(k) -> dict[str, str]:
    items = json.loads(k("get", "nodes", "-o", "json"))["items"]
    return {i["metadata"]["name"]: next(c["status"] for c in i["status"]["conditions"] if c["type"] == "Ready")
            for i in items}


def retry(fn, attempts: int = 30, delay: float = 2.0):
    for i in range(attempts):
        try:
            return fn()
        except Exception:
            if i == attempts - 1:
                raise
            time.sleep(delay)


def wait_until(cond, what: str, timeout: float = 60, poll: float = 0.5) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(poll)


def http_from_pod(k, pod: str, ip: str, port: int) -> str:
    """HTTP GET from inside a pod with nc (static busybox's wget crashes in
    its resolver under the cluster's resolv.conf); returns the body."""
    raw = k("exec", pod, "--", "sh", "-c", f'printf "GET / HTTP/1.0\\r\\n\\r\\n" | nc -w 5 {ip} {port}')
    head, _, body = raw.replace("\r\n", "\n").partition("\n\n")
    assert head.startswith("HTTP/1."), f"no HTTP answer from {ip}:{port} in {pod}: {raw!r}"
    return body


def workloads(web_node: str) -> str:
    # A shell or httpd as PID 1 ignores SIGTERM: without a short grace
    # period every eviction (drain, delete node) waits the default 30 s.
    serve = "mkdir -p /www && echo $NODE > /www/index.html && exec httpd -f -p 8080 -h /www"
    return textwrap.dedent(f"""\
        apiVersion: apps/v1
        kind: DaemonSet
        metadata: {{name: probe}}
        spec:
          selector: {{matchLabels: {{app: probe}}}}
          template:
            metadata: {{labels: {{app: probe}}}}
            spec:
              tolerations: [{{operator: Exists}}]
              terminationGracePeriodSeconds: 1
              containers:
              - name: probe
                image: {BUSYBOX}
                imagePullPolicy: Never
                command: ["sh", "-c", "{serve}"]
                env: [{{name: NODE, valueFrom: {{fieldRef: {{fieldPath: spec.nodeName}}}}}}]
        ---
        apiVersion: v1
        kind: Pod
        metadata: {{name: web, labels: {{app: web}}}}
        spec:
          nodeName: {web_node}
          terminationGracePeriodSeconds: 1
          containers:
          - name: web
            image: {BUSYBOX}
            imagePullPolicy: Never
            command: ["sh", "-c", "mkdir -p /www && echo web > /www/index.html && exec httpd -f -p 8080 -h /www"]
        ---
        apiVersion: v1
        kind: Service
        metadata: {{name: web}}
        spec:
          type: NodePort
          selector: {{app: web}}
          ports: [{{port: 80, targetPort: 8080, nodePort: {NODEPORT}}}]
        """)


PVC = textwrap.dedent(f"""\
    apiVersion: v1
    kind: PersistentVolumeClaim
    metadata: {{name: keep}}
    spec:
      accessModes: [ReadWriteOnce]
      resources: {{requests: {{storage: 16Mi}}}}
    ---
    apiVersion: v1
    kind: Pod
    metadata: {{name: keeper}}
    spec:
      containers:
      - name: keeper
        image: {BUSYBOX}
        imagePullPolicy: Never
        command: ["sh", "-c", "test -f /data/token || cat /proc/sys/kernel/random/uuid > /data/token; exec sleep 1000000"]
        volumeMounts: [{{name: data, mountPath: /data}}]
      volumes:
      - name: data
        persistentVolumeClaim: {{claimName: keep}}
    """)


def ensure_image(engine, tag: str, context: Path) -> str:
    if not engine.image_exists(tag):
        engine.build_image(context, tag)
    return tag


def derived_image(engine, tag: str, label: str, scratch: Path) -> str:
    """A small image with an ID of its own (busybox plus a label), made anew."""
    ensure_image(engine, BUSYBOX, BUSYBOX_DIR)
    ctx = scratch / f"ctx-{label}"
    ctx.mkdir(parents=True, exist_ok=True)
    (ctx / "Dockerfile").write_text(f"FROM {BUSYBOX}\nLABEL io.kindlike.test={label}\n")
    if engine.image_exists(tag):
        engine.remove_image(tag)
    engine.build_image(ctx, tag)
    return tag


def print_kubelet_errors(engine, name: str) -> None:
    """For a failed create: each node's last kubelet errors, in the test's output."""
    for n in list_nodes(engine, name):
        log = n.exec("sh", "-c", "journalctl -u kubelet --no-pager -o cat | grep -E '^[EW][0-9]{4}' | tail -n 15",
                     check=False)
        print(f"--- {n.name}: kubelet errors\n{log.stdout}")
