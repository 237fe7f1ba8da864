"""Clusters that last, under each engine, through the CLI: three control
planes behind the load balancer (the API answers with one of them stopped),
and a 1+2 cluster that comes back by itself after its engine restarts and
after `stop cluster` / `start cluster`, with a pod's data on a PVC intact
and a Service still routed across nodes."""
from __future__ import annotations

import json
import shutil
import subprocess
import textwrap
import time
import uuid

import pytest
import yaml

from kindlike.load import import_archive
from kindlike.runtime import cluster_labels, control_planes, list_nodes, load_balancer, network_name
from tests.e2e.test_cluster import busybox_archive, http_from_pod, kindlike, kubectl_bin, retry, workloads  # noqa: F401
from tests.engine_fixtures import connect, install_user_venv, restart_engine, user_dir

pytestmark = pytest.mark.e2e

BUSYBOX = "kindlike/e2e-busybox:1"


@pytest.fixture
def cluster(engine, engine_kind, node_image):
    """(name, scratch dir, env for the CLI); the cluster is deleted afterwards."""
    if engine_kind.startswith("rootless"):
        install_user_venv()
    d = user_dir()
    name = f"lc{uuid.uuid4().hex[:6]}"
    env = {"KINDLIKE_PROVIDER": engine.name}
    if engine_kind == "rootful-docker":
        env["DOCKER_HOST"] = engine.host
    yield name, d, env
    kindlike(engine_kind, "delete", "cluster", "--name", name, "--kubeconfig", str(d / "kubeconfig"), env=env)
    eng = connect(engine_kind)  # the fixture's client may predate an engine restart
    left = eng.list_containers(cluster_labels(name)), eng.list_volumes(cluster_labels(name))
    eng.close()
    shutil.rmtree(d, ignore_errors=True)
    assert left == ([], []), f"left behind: {left}"


def create(engine_kind, name, d, env, nodes: list[str]):
    cfg = d / "cluster.yaml"
    cfg.write_text("kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nnodes:\n"
                   + "".join(f"- role: {r}\n" for r in nodes))
    shutil.chown(cfg, d.owner(), d.group())
    # --retain: a failed create leaves the nodes for the journals printed
    # below; the fixture deletes the cluster either way.
    res = kindlike(engine_kind, "create", "cluster", "--name", name, "--config", str(cfg), "--wait", "5m",
                   "--kubeconfig", str(d / "kubeconfig"), "--retain", env=env)
    if res.returncode != 0:
        eng = connect(engine_kind)
        for n in list_nodes(eng, name):
            log = n.exec("sh", "-c", "journalctl -u kubelet --no-pager -o cat | grep -E '^[EW][0-9]{4}' | tail -n 15",
                         check=False)
            print(f"--- {n.name}: kubelet errors\n{log.stdout}")
        eng.close()
    assert res.returncode == 0, res.stderr
    return res


def kubectl_for(engine, name, d, tmp_path):
    kubectl = kubectl_bin(control_planes(engine, name)[0], tmp_path)

    def k(*args, stdin=None, check=True, timeout=120):
        r = subprocess.run([str(kubectl), f"--kubeconfig={d / 'kubeconfig'}", *args], input=stdin,
                           capture_output=True, text=True, timeout=timeout)
        if check:
            assert r.returncode == 0, f"kubectl {' '.join(args)}: {r.stderr}"
        return r.stdout
    return k


def ready_nodes(k) -> dict[str, str]:
    items = json.loads(k("get", "nodes", "-o", "json"))["items"]
    return {i["metadata"]["name"]: next(c["status"] for c in i["status"]["conditions"] if c["type"] == "Ready")
            for i in items}


def test_three_control_planes_behind_the_load_balancer(engine, engine_kind, cluster, busybox_archive, tmp_path):
    name, d, env = cluster
    res = create(engine_kind, name, d, env, ["control-plane", "control-plane", "control-plane", "worker"])
    assert "✓ Joining more control-plane nodes" in res.stderr and "✓ Joining worker nodes" in res.stderr

    lb = load_balancer(engine, name)
    assert lb is not None and lb.name == f"{name}-external-load-balancer"
    nodes = list_nodes(engine, name)
    assert [n.role for n in nodes] == ["control-plane"] * 3 + ["worker"]
    # The kubeconfig goes through the load balancer's published port.
    server = yaml.safe_load((d / "kubeconfig").read_text())["clusters"][0]["cluster"]["server"]
    host, port = engine.published_port(lb.name, 6443)
    assert server.endswith(f":{port}"), (server, host, port)
    k = kubectl_for(engine, name, d, tmp_path)
    assert ready_nodes(k) == {n.name: "True" for n in nodes}
    etcd = json.loads(k("-n", "kube-system", "get", "pods", "-l", "component=etcd", "-o", "json"))["items"]
    assert sorted(p["spec"]["nodeName"] for p in etcd) == sorted(n.name for n in nodes[:3])

    import_archive(nodes, busybox_archive)
    k("apply", "-f", "-", stdin=workloads(nodes[3].name))
    k("wait", "--for=condition=Ready", "pod/web", "--timeout=180s")

    # The first control plane (kubeadm init's) goes away: the API still
    # answers through the load balancer, and the workload keeps running.
    engine.stop_containers([nodes[0].name], timeout=30)
    retry(lambda: k("get", "--raw", "/readyz", timeout=10), attempts=15, delay=1)
    for _ in range(10):
        k("get", "nodes", timeout=10)
        time.sleep(0.3)
    phase = k("get", "pod", "web", "-o", "jsonpath={.status.phase}")
    assert phase == "Running"
    out = k("exec", "web", "--", "cat", "/www/index.html")
    assert out.strip() == "web"
    # kindlike itself reads the kubeconfig from a control plane that runs.
    res = kindlike(engine_kind, "get", "kubeconfig", "--name", name, env=env)
    assert res.returncode == 0 and f":{port}" in res.stdout, res.stderr


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


def test_restart_survival_and_stop_start(engine, engine_kind, cluster, busybox_archive, tmp_path):
    from kindlike.lifecycle import wait_fresh_ready

    name, d, env = cluster
    create(engine_kind, name, d, env, ["control-plane", "worker", "worker"])
    nodes = list_nodes(engine, name)
    addresses = {n.name: n.ip for n in nodes}
    k = kubectl_for(engine, name, d, tmp_path)
    import_archive(nodes, busybox_archive)
    k("apply", "-f", "-", stdin=workloads(nodes[2].name))
    k("apply", "-f", "-", stdin=PVC)
    k("wait", "--for=condition=Ready", "pod/web", "pod/keeper", "--timeout=180s")
    k("rollout", "status", "daemonset/probe", "--timeout=180s")
    token = k("exec", "keeper", "--", "cat", "/data/token").strip()
    assert len(token) == 36

    def still_serving(eng):
        nodes_now = list_nodes(eng, name)
        assert {n.name: n.ip for n in nodes_now} == addresses, "a node's address changed"
        wait_fresh_ready(nodes_now[0], since, 240)
        assert set(ready_nodes(k).values()) == {"True"}
        k("wait", "--for=condition=Ready", "pod/web", "pod/keeper", "--timeout=180s")
        k("rollout", "status", "daemonset/probe", "--timeout=180s")
        assert retry(lambda: k("exec", "keeper", "--", "cat", "/data/token")).strip() == token
        # A Service backed by a pod on the last worker, from the probe pod on
        # the first one: kube-proxy and Flannel's VXLAN work again.
        pods = json.loads(k("get", "pods", "-l", "app=probe", "-o", "json"))["items"]
        client = next(p["metadata"]["name"] for p in pods if p["spec"]["nodeName"] == nodes[1].name)
        svc_ip = k("get", "service", "web", "-o", "jsonpath={.spec.clusterIP}")
        assert retry(lambda: http_from_pod(k, client, svc_ip, 80)).strip() == "web"

    # 1. The engine restarts: the cluster comes back by itself.
    since = time.time()
    restart_engine(engine_kind, engine, name)
    eng = connect(engine_kind)
    try:
        retry(lambda: k("get", "--raw", "/readyz", timeout=10), attempts=60, delay=2)
        still_serving(eng)

        # 2. stop: every container stopped, the state says so; start: back.
        res = kindlike(engine_kind, "stop", "cluster", "--name", name, env=env)
        assert res.returncode == 0, res.stderr
        assert {c.state for c in eng.list_containers(cluster_labels(name))} == {"exited"}
        res = kindlike(engine_kind, "get", "clusters", "-o", "wide", env=env)
        assert any(line.split()[:3] == [name, "stopped", "3"] for line in res.stdout.splitlines()), res.stdout
        assert eng.network_exists(network_name(name))
        since = time.time()
        res = kindlike(engine_kind, "start", "cluster", "--name", name, "--wait", "4m",
                       "--kubeconfig", str(d / "kubeconfig"), env=env)
        assert res.returncode == 0, res.stderr
        assert "nodes Ready" in res.stderr
        res = kindlike(engine_kind, "get", "clusters", "-o", "wide", env=env)
        assert any(line.split()[:2] == [name, "running"] for line in res.stdout.splitlines()), res.stdout
        still_serving(eng)
    finally:
        eng.close()
