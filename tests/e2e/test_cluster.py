"""A real multi-node cluster, end to end, through the CLI a user runs:
1 control plane + 2 workers with --wait from the default image, then
workloads that prove the pod network (Flannel VXLAN across nodes),
kube-proxy (ClusterIP from another node), a NodePort reached from the host
through extraPortMappings, cluster DNS, default storage, the seed's rootless
settings and volume types (tests/e2e/cluster_checks.py), kubectl with the
exported kubeconfig, and a delete that leaves nothing behind."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
import urllib.request
import uuid

import shutil

import pytest
import yaml

from kindlike.runtime import Node, cluster_labels, control_planes, delete_cluster, list_nodes, network_name
from kindlike.engines.common import pick_free_port
from kindlike.load import import_archive
from tests.conftest import REPO
from tests.e2e import cluster_checks as checks
from tests.engine_fixtures import install_user_venv, user_dir

pytestmark = pytest.mark.e2e

BUSYBOX = "kindlike/e2e-busybox:1"
NODEPORT = 30080


def kindlike(engine_kind: str, *args: str, env: dict | None = None, timeout: float = 1800) -> subprocess.CompletedProcess:
    """Run the CLI as its user would: root for rootful Docker, the rootless
    user (in its delegated cgroups) for a rootless engine."""
    if engine_kind.startswith("rootless"):
        cmd = [str(REPO / "hack" / "as-rootless.sh"), "kindlike", *args]
    else:
        cmd = [sys.executable, "-m", "kindlike.cli.main", *args]
    res = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **(env or {})}, timeout=timeout)
    print(f"$ kindlike {' '.join(args)}\n{res.stdout}\n{res.stderr}")
    return res


@pytest.fixture(scope="session")
def busybox_archive(engine, tmp_path_factory):
    if not engine.image_exists(BUSYBOX):
        engine.build_image(REPO / "tests" / "e2e" / "images" / "busybox", BUSYBOX)
    path = tmp_path_factory.mktemp("img") / "busybox.tar"
    engine.save_images([BUSYBOX], path)
    return path


@pytest.fixture
def e2e_cluster(engine, engine_kind, node_image):
    """Name, config path and kubeconfig path of a cluster removed afterwards."""
    if engine_kind.startswith("rootless"):
        install_user_venv()
    tmp_path = user_dir()
    name = f"e2e{uuid.uuid4().hex[:6]}"
    host_port = pick_free_port("127.0.0.1")
    cfg = tmp_path / "cluster.yaml"
    cfg.write_text(textwrap.dedent(f"""\
        kind: Cluster
        apiVersion: kind.x-k8s.io/v1alpha4
        networking:
          dnsSearch: [{checks.DNS_SEARCH}]
        nodes:
        - role: control-plane
        - role: worker
          extraPortMappings:
          - containerPort: {NODEPORT}
            hostPort: {host_port}
            listenAddress: 127.0.0.1
        - role: worker
        """))
    kubeconfig = tmp_path / "kubeconfig"
    os.chown(cfg, tmp_path.stat().st_uid, tmp_path.stat().st_gid)
    yield name, cfg, kubeconfig, host_port
    delete_cluster(engine, name)
    shutil.rmtree(tmp_path, ignore_errors=True)


def kubectl_bin(cp: Node, tmp_path):
    """The cluster's own kubectl, copied out of the control plane (static)."""
    dest = tmp_path / "kubectl"
    cp.copy_from("/usr/bin/kubectl", dest)
    dest.chmod(0o755)
    return dest


def test_multi_node_cluster(engine, engine_kind, e2e_cluster, busybox_archive, tmp_path):
    name, cfg, kubeconfig, host_port = e2e_cluster
    env = {"KINDLIKE_PROVIDER": engine.name}
    if engine_kind == "rootful-docker":
        env["DOCKER_HOST"] = engine.host
    res = kindlike(engine_kind, "create", "cluster", "--name", name, "--config", str(cfg), "--wait", "5m",
                   "--kubeconfig", str(kubeconfig), env=env)
    assert res.returncode == 0, res.stderr
    for step in ("Preparing nodes", "Starting control-plane", "Installing CNI", "Installing StorageClass",
                 "Joining worker nodes"):
        assert f"✓ {step}" in res.stderr
    assert "(flannel v" in res.stderr

    nodes = list_nodes(engine, name)
    assert [n.role for n in nodes] == ["control-plane", "worker", "worker"]
    kubectl = kubectl_bin(control_planes(engine, name)[0], tmp_path)

    def k(*args, stdin=None, check=True):
        r = subprocess.run([str(kubectl), f"--kubeconfig={kubeconfig}", *args], input=stdin, capture_output=True,
                           text=True, timeout=300)
        if check:
            assert r.returncode == 0, f"kubectl {' '.join(args)}: {r.stderr}"
        return r.stdout

    # kubectl on the host with the exported kubeconfig; every node Ready.
    doc = yaml.safe_load(kubeconfig.read_text())
    assert doc["current-context"] == f"kindlike-{name}"
    ready = json.loads(k("get", "nodes", "-o", "json"))
    assert sorted(i["metadata"]["name"] for i in ready["items"]) == sorted(n.name for n in nodes)
    for item in ready["items"]:
        cond = {c["type"]: c["status"] for c in item["status"]["conditions"]}
        assert cond["Ready"] == "True", item["metadata"]["name"]

    import_archive(nodes, busybox_archive)
    k("apply", "-f", "-", stdin=workloads(nodes[2].name))
    k("rollout", "status", "daemonset/probe", "--timeout=180s")
    k("wait", "--for=condition=Ready", "pod/web", "--timeout=180s")

    pods = json.loads(k("get", "pods", "-l", "app=probe", "-o", "json"))["items"]
    by_node = {p["spec"]["nodeName"]: (p["metadata"]["name"], p["status"]["podIP"]) for p in pods}
    assert sorted(by_node) == sorted(n.name for n in nodes), "a probe pod on each node"

    # pod to pod across nodes, over the VXLAN: every pod reaches every other.
    for src_node, (src_pod, _) in by_node.items():
        for dst_node, (_, dst_ip) in by_node.items():
            if src_node == dst_node:
                continue
            out = retry(lambda: http_from_pod(k, src_pod, dst_ip, 8080))
            assert out.strip() == dst_node, f"{src_node} -> {dst_node}"

    # ClusterIP from a pod on another node than the backend (kube-proxy).
    svc_ip = k("get", "service", "web", "-o", "jsonpath={.spec.clusterIP}")
    cp_pod = by_node[nodes[0].name][0]
    out = retry(lambda: http_from_pod(k, cp_pod, svc_ip, 80))
    assert out.strip() == "web"

    # NodePort on the host through the extraPortMappings host port.
    body = retry(lambda: urllib.request.urlopen(f"http://127.0.0.1:{host_port}/", timeout=5).read().decode())
    assert body.strip() == "web"

    checks.check_flannel(k, nodes)
    checks.check_versions_and_crictl(k, nodes)
    checks.check_userns_kubelet(nodes, engine.info().rootless)
    checks.check_dns(k)
    checks.check_storage(k)
    checks.check_volume_types(k)

    # delete: nothing of the cluster remains, not even its kubeconfig entries.
    res = kindlike(engine_kind, "delete", "cluster", "--name", name, "--kubeconfig", str(kubeconfig), env=env)
    assert res.returncode == 0, res.stderr
    assert engine.list_containers(cluster_labels(name)) == []
    assert engine.list_volumes(cluster_labels(name)) == []
    assert not engine.network_exists(network_name(name))
    doc = yaml.safe_load(kubeconfig.read_text())
    assert all(f"kindlike-{name}" != e["name"] for key in ("clusters", "users", "contexts") for e in doc[key])
    # deleting again succeeds with a note
    res = kindlike(engine_kind, "delete", "cluster", "--name", name, "--kubeconfig", str(kubeconfig), env=env)
    assert res.returncode == 0 and "does not exist" in res.stderr


def http_from_pod(k, pod: str, ip: str, port: int) -> str:
    """HTTP GET from inside a pod with nc (static busybox's wget crashes in
    its resolver under the cluster's resolv.conf); returns the body."""
    raw = k("exec", pod, "--", "sh", "-c", f'printf "GET / HTTP/1.0\\r\\n\\r\\n" | nc -w 5 {ip} {port}')
    head, _, body = raw.replace("\r\n", "\n").partition("\n\n")
    assert head.startswith("HTTP/1."), f"no HTTP answer from {ip}:{port} in {pod}: {raw!r}"
    return body


def retry(fn, attempts: int = 30, delay: float = 2.0):
    for i in range(attempts):
        try:
            return fn()
        except Exception:
            if i == attempts - 1:
                raise
            time.sleep(delay)


def workloads(web_node: str) -> str:
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
