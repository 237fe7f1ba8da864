"""Three control planes behind the load balancer, under each engine, through
the CLI: the API answers with the first one stopped. (Restarts and
stop/start are tested on the journey's cluster, tests/e2e/journey.)"""
from __future__ import annotations

import json
import shutil
import uuid

import pytest
import yaml

from kindlike.cluster.nodes import cluster_labels, control_planes, list_nodes, load_balancer
from kindlike.load import import_archive
from tests.e2e.helpers import (
    cli_env,
    kindlike,
    kubectl_bin,
    kubectl_for,
    print_kubelet_errors,
    ready_nodes,
    retry,
    workloads,
)
from tests.engine_fixtures import connect, install_user_venv, user_dir

pytestmark = pytest.mark.e2e


@pytest.fixture
def cluster(engine, engine_kind, node_image):
    """(name, scratch dir, env for the CLI); the cluster is deleted afterwards."""
    if engine_kind.startswith("rootless"):
        install_user_venv()
    d = user_dir()
    name = f"lc{uuid.uuid4().hex[:6]}"
    env = cli_env(engine, engine_kind)
    yield name, d, env
    kindlike(engine_kind, "delete", "cluster", "--name", name, "--kubeconfig", str(d / "kubeconfig"), env=env)
    eng = connect(engine_kind)
    left = eng.list_containers(cluster_labels(name)), eng.list_volumes(cluster_labels(name))
    eng.close()
    shutil.rmtree(d, ignore_errors=True)
    assert left == ([], []), f"left behind: {left}"


def create(engine_kind, name, d, env, nodes: list[str], image: str):
    """Through `--config -` (the config on stdin) and an explicit --image."""
    cfg = "kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nnodes:\n" + "".join(f"- role: {r}\n" for r in nodes)
    # --retain: a failed create leaves the nodes for the journals printed
    # below; the fixture deletes the cluster either way.
    res = kindlike(engine_kind, "create", "cluster", "--name", name, "--config", "-", "--image", image,
                   "--wait", "5m", "--kubeconfig", str(d / "kubeconfig"), "--retain", env=env, stdin=cfg)
    if res.returncode != 0:
        eng = connect(engine_kind)
        print_kubelet_errors(eng, name)
        eng.close()
    assert res.returncode == 0, res.stderr
    return res


# The load balancer is a container like any other to an engine: one Docker
# and one Podman, the rootful and the rootless ends, cover what the engines
# do differently (its published port, its address on the network).
@pytest.mark.engines("rootful-docker", "rootless-podman")
def test_three_control_planes_behind_the_load_balancer(engine, engine_kind, cluster, busybox_archive, node_image,
                                                        tmp_path):
    name, d, env = cluster
    res = create(engine_kind, name, d, env, ["control-plane", "control-plane", "control-plane", "worker"], node_image)
    assert "✓ Joining more control-plane nodes" in res.stderr and "✓ Joining worker nodes" in res.stderr

    lb = load_balancer(engine, name)
    assert lb is not None and lb.name == f"{name}-external-load-balancer"
    nodes = list_nodes(engine, name)
    assert [n.role for n in nodes] == ["control-plane"] * 3 + ["worker"]
    # The kubeconfig goes through the load balancer's published port.
    server = yaml.safe_load((d / "kubeconfig").read_text())["clusters"][0]["cluster"]["server"]
    host, port = engine.published_port(lb.name, 6443)
    assert server.endswith(f":{port}"), (server, host, port)
    k = kubectl_for(kubectl_bin(control_planes(engine, name)[0], tmp_path), d / "kubeconfig")
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
    for _ in range(10):  # each a new connection, balanced over what is left
        k("get", "nodes", timeout=10)
    phase = k("get", "pod", "web", "-o", "jsonpath={.status.phase}")
    assert phase == "Running"
    out = k("exec", "web", "--", "cat", "/www/index.html")
    assert out.strip() == "web"
    # kindlike itself reads the kubeconfig from a control plane that runs.
    res = kindlike(engine_kind, "get", "kubeconfig", "--name", name, env=env)
    assert res.returncode == 0 and f":{port}" in res.stdout, res.stderr

    # The worker leaves (drained through a control plane that runs): its Node
    # and its container go, the control planes stay.
    res = kindlike(engine_kind, "delete", "node", nodes[3].name, "--name", name, env=env)
    assert res.returncode == 0, res.stderr
    assert [n.name for n in list_nodes(engine, name)] == [n.name for n in nodes[:3]]
    assert nodes[3].name not in ready_nodes(k)
