"""Ports after create and LoadBalancer Services, under each engine, through
the CLI: a NodePort published with `expose add` answers on the host, a
second mapping keeps answering while the first is removed, `kindlike
loadbalancer` publishes a LoadBalancer Service on the address it writes in
the Service's status (a privileged port shifted under a rootless engine),
unpublishes it when the Service goes, the mappings survive stop/start, and
`delete cluster` leaves nothing."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import urllib.request

import pytest

from kindlike.constants import LABEL_ROLE, ROLE_PORT_FORWARDER
from kindlike.engines.common import pick_free_port
from kindlike.load import import_archive
from kindlike.runtime import cluster_labels, list_nodes
from tests.conftest import REPO
from tests.e2e.test_cluster import busybox_archive, kindlike, retry, workloads  # noqa: F401
from tests.e2e.test_lifecycle import cluster, create, kubectl_for  # noqa: F401
from tests.engine_fixtures import connect

pytestmark = pytest.mark.e2e


def get(port: int, timeout: float = 3) -> str:
    return urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=timeout).read().decode().strip()


def answers(port: int) -> bool:
    try:
        return get(port, timeout=2) == "web"
    except OSError:
        return False


def wait_until(cond, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.5)


def forwarders(engine, name):
    return engine.list_containers({**cluster_labels(name), LABEL_ROLE: ROLE_PORT_FORWARDER})


def lb_service(name: str, port: int) -> str:
    return textwrap.dedent(f"""\
        apiVersion: v1
        kind: Service
        metadata: {{name: {name}}}
        spec:
          type: LoadBalancer
          selector: {{app: web}}
          ports: [{{port: {port}, targetPort: 8080}}]
        """)


def start_loadbalancer(engine_kind, name, env):
    if engine_kind.startswith("rootless"):
        cmd = [str(REPO / "hack" / "as-rootless.sh"), "kindlike", "loadbalancer", "--name", name]
    else:
        cmd = [sys.executable, "-m", "kindlike.cli.main", "loadbalancer", "--name", name]
    return subprocess.Popen(cmd, env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)


def stop_loadbalancer(proc) -> str:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
    out = proc.stdout.read() if proc.stdout else ""
    print(f"$ kindlike loadbalancer\n{out}")
    return out


def ingress(k, svc: str) -> list:
    return json.loads(k("get", "service", svc, "-o", "json"))["status"].get("loadBalancer", {}).get("ingress") or []


def test_ports_after_create_and_load_balancer_services(engine, engine_kind, cluster, busybox_archive, tmp_path):
    name, d, env = cluster
    create(engine_kind, name, d, env, ["control-plane", "worker"])
    nodes = list_nodes(engine, name)
    k = kubectl_for(engine, name, d, tmp_path)
    import_archive(nodes, busybox_archive)
    k("apply", "-f", "-", stdin=workloads(nodes[1].name))
    k("wait", "--for=condition=Ready", "pod/web", "--timeout=180s")

    # 1. A NodePort published after create, on a free host port.
    res = kindlike(engine_kind, "expose", "add", "--name", name, "0:30080", env=env)
    assert res.returncode == 0, res.stderr
    first = int(res.stdout.strip())
    assert retry(lambda: get(first), attempts=15, delay=1) == "web"
    second = pick_free_port("127.0.0.1")
    res = kindlike(engine_kind, "expose", "add", "--name", name, "--node", nodes[1].name, f"{second}:30080/tcp",
                   env=env)
    assert res.returncode == 0, res.stderr
    assert retry(lambda: get(second), attempts=15, delay=1) == "web"
    res = kindlike(engine_kind, "expose", "list", "--name", name, env=env)
    assert f"127.0.0.1:{first} -> {nodes[0].name}:30080/tcp" in res.stdout, res.stdout
    assert f"127.0.0.1:{second} -> {nodes[1].name}:30080/tcp" in res.stdout, res.stdout

    # The same host port again: one clear error, nothing added.
    res = kindlike(engine_kind, "expose", "add", "--name", name, f"{second}:30080", env=env)
    assert res.returncode == 1 and "already mapped" in res.stderr and "Traceback" not in res.stderr, res.stderr
    assert len(forwarders(engine, name)) == 2
    if engine.info().rootless:
        floor = int(open("/proc/sys/net/ipv4/ip_unprivileged_port_start").read())
        if floor > 80:
            res = kindlike(engine_kind, "expose", "add", "--name", name, "80:30080", env=env)
            assert res.returncode == 1 and "ip_unprivileged_port_start" in res.stderr, res.stderr
            assert len(forwarders(engine, name)) == 2

    # Removing the first mapping drops no request on the second.
    failures, done = [], threading.Event()

    def hammer():
        while not done.is_set():
            try:
                assert get(second) == "web"
            except Exception as e:  # noqa: BLE001 - counted
                failures.append(repr(e))
            time.sleep(0.02)

    t = threading.Thread(target=hammer)
    t.start()
    try:
        time.sleep(1)
        res = kindlike(engine_kind, "expose", "remove", "--name", name, str(first), env=env)
        assert res.returncode == 0, res.stderr
        time.sleep(1)
    finally:
        done.set()
        t.join()
    assert failures == [], failures[:3]
    assert not answers(first)

    # 2. LoadBalancer Services, published while `kindlike loadbalancer` runs.
    lb_port = pick_free_port("127.0.0.1")
    proc = start_loadbalancer(engine_kind, name, env)
    try:
        time.sleep(2)
        assert proc.poll() is None, stop_loadbalancer(proc)
        created = time.monotonic()
        k("apply", "-f", "-", stdin=lb_service("web-lb", lb_port))
        retry(lambda: ingress(k, "web-lb")[0]["ip"], attempts=60, delay=0.25)
        assert ingress(k, "web-lb")[0]["ip"] == "127.0.0.1"
        retry(lambda: get(lb_port), attempts=60, delay=0.25)
        print(f"LoadBalancer Service answered {time.monotonic() - created:.1f}s after it was created")
        if engine.info().rootless and int(open("/proc/sys/net/ipv4/ip_unprivileged_port_start").read()) > 80:
            # A privileged port goes to port + 10000, and the status says where.
            k("apply", "-f", "-", stdin=lb_service("web-80", 80))
            retry(lambda: ingress(k, "web-80")[0]["ports"][0]["error"], attempts=60, delay=0.25)
            assert ingress(k, "web-80")[0]["ports"][0]["error"] == "kindlike.x-k8s.io/HostPort10080"
            assert retry(lambda: get(10080), attempts=30, delay=0.5) == "web"
            k("delete", "service", "web-80")
        # Deleted: it stops answering and its forwarder goes.
        k("delete", "service", "web-lb")
        wait_until(lambda: not answers(lb_port), "the deleted Service's port to close")
        wait_until(lambda: all(c.labels.get("io.kindlike.service") is None for c in forwarders(engine, name)),
                   "the deleted Service's forwarder to go")
        assert proc.poll() is None
    finally:
        out = stop_loadbalancer(proc)
    assert f"published default/web-lb/{lb_port}" in out and "Traceback" not in out, out

    # 3. The mapping survives stop/start.
    res = kindlike(engine_kind, "stop", "cluster", "--name", name, env=env)
    assert res.returncode == 0, res.stderr
    assert not answers(second)
    res = kindlike(engine_kind, "start", "cluster", "--name", name, "--wait", "4m",
                   "--kubeconfig", str(d / "kubeconfig"), env=env)
    assert res.returncode == 0, res.stderr
    assert retry(lambda: get(second), attempts=60, delay=2) == "web"

    # 4. delete cluster: no forwarder left, the port is closed.
    res = kindlike(engine_kind, "delete", "cluster", "--name", name, "--kubeconfig", str(d / "kubeconfig"), env=env)
    assert res.returncode == 0, res.stderr
    eng = connect(engine_kind)
    try:
        assert eng.list_containers(cluster_labels(name)) == []
    finally:
        eng.close()
    assert not answers(second)
