"""What `create cluster --config --wait` made, read without changing it: its
steps, the nodes, the exported kubeconfig, the pod network (Flannel VXLAN
across nodes), kube-proxy, a NodePort reached from the host through
extraPortMappings, cluster DNS, default storage, the seed's rootless
settings and volume types (tests/e2e/cluster_checks.py)."""
from __future__ import annotations

import json
import urllib.request

import pytest
import yaml

from tests.e2e import cluster_checks as checks
from tests.e2e.helpers import http_from_pod, ready_nodes, retry

pytestmark = pytest.mark.e2e


def test_create_said_each_step(journey):
    err = journey.created.stderr
    for step in ("Preparing nodes", "Starting control-plane", "Installing CNI", "Installing StorageClass",
                 "Joining worker nodes"):
        assert f"✓ {step}" in err
    assert "(flannel v" in err


def test_pods_right_after_create_have_an_address_and_dns(journey):
    """Applied the moment `create --wait` returned (the fixture): a pod on
    every node, each with an address, whose one DNS question was answered
    the first time (no retry here, no container restart)."""
    k = journey.k
    k("rollout", "status", "daemonset/first", "--timeout=120s")
    pods = json.loads(k("get", "pods", "-l", "app=first", "-o", "json"))["items"]
    assert sorted(p["spec"]["nodeName"] for p in pods) == sorted(n.name for n in journey.nodes)
    for p in pods:
        name = p["metadata"]["name"]
        assert p["status"].get("podIP"), f"{name}: no address"
        assert p["status"]["containerStatuses"][0]["restartCount"] == 0, name
        log = k("logs", name)
        assert log.startswith("rc=0\n") and "Address" in log.split("kubernetes.default", 1)[-1], f"{name}: {log}"
    k("delete", "daemonset", "first")


def test_nodes_and_kubeconfig(journey):
    assert [n.role for n in journey.nodes] == ["control-plane", "worker", "worker"]
    assert [n.name for n in journey.nodes] == [f"{journey.name}-{s}" for s in ("control-plane", "worker", "worker2")]
    doc = yaml.safe_load(journey.kubeconfig.read_text())
    assert doc["current-context"] == f"kindlike-{journey.name}"
    assert ready_nodes(journey.k) == {n.name: "True" for n in journey.nodes}


def probes(k) -> dict[str, tuple[str, str]]:
    pods = json.loads(k("get", "pods", "-l", "app=probe", "-o", "json"))["items"]
    return {p["spec"]["nodeName"]: (p["metadata"]["name"], p["status"]["podIP"]) for p in pods}


def test_pod_to_pod_across_nodes(journey):
    by_node = probes(journey.k)
    assert sorted(by_node) == sorted(n.name for n in journey.nodes), "a probe pod on each node"
    for src_node, (src_pod, _) in by_node.items():
        for dst_node, (_, dst_ip) in by_node.items():
            if src_node != dst_node:
                out = retry(lambda: http_from_pod(journey.k, src_pod, dst_ip, 8080))
                assert out.strip() == dst_node, f"{src_node} -> {dst_node}"


def test_cluster_ip_from_another_node(journey):
    k = journey.k
    svc_ip = k("get", "service", "web", "-o", "jsonpath={.spec.clusterIP}")
    cp_pod = probes(k)[journey.nodes[0].name][0]
    assert retry(lambda: http_from_pod(k, cp_pod, svc_ip, 80)).strip() == "web"


def test_node_port_on_the_host(journey):
    url = f"http://127.0.0.1:{journey.host_port}/"
    body = retry(lambda: urllib.request.urlopen(url, timeout=5).read().decode())
    assert body.strip() == "web"


def test_flannel_versions_and_rootless_settings(journey, engine):
    checks.check_flannel(journey.k, journey.nodes)
    checks.check_versions_and_crictl(journey.k, journey.nodes)
    checks.check_userns_kubelet(journey.nodes, engine.info().rootless)


def test_preloaded_images_come_unpacked(journey):
    checks.check_images_unpacked(journey.nodes)


def test_dns(journey):
    checks.check_dns(journey.k)


def test_storage_and_volume_types(journey):
    checks.check_storage(journey.k)
    checks.check_volume_types(journey.k)
