"""The end of the journey, destructive, last: the engine restarts and the
cluster comes back by itself; a node stopped behind kindlike's back makes
the cluster "partly running"; `stop cluster --timeout` and `start cluster
--wait` bring it back with the same addresses, a pod's data on a PVC intact,
a Service routed across nodes, an `expose` mapping answering again and the
local registry's image pulled again on every node; then `delete cluster`
leaves nothing, not even its kubeconfig entries, and the registry running
until `registry delete` removes it with its volume and network."""
from __future__ import annotations

import json
import time

import pytest
import yaml

from kindlike import registry as reg
from kindlike.cluster.nodes import cluster_labels, list_nodes, network_name
from kindlike.cluster.usable import wait_usable
from tests.e2e.helpers import http_from_pod, ready_nodes, retry, wait_until
from tests.e2e.journey.test_4_ports import answers, get
from tests.e2e.journey.test_4_registry import PULLED
from tests.e2e.test_registry import runs_everywhere
from tests.engine_fixtures import connect, restart_engine

pytestmark = pytest.mark.e2e


def still_serving(journey, eng, since: float, token: str) -> None:
    k = journey.k
    nodes_now = list_nodes(eng, journey.name)
    assert {n.name: n.ip for n in nodes_now} == {n.name: n.ip for n in journey.nodes}, "a node's address changed"
    wait_usable(nodes_now[0], None, 240, since=since, storage=False)
    assert set(ready_nodes(k).values()) == {"True"}
    k("wait", "--for=condition=Ready", "pod/web", "pod/keeper", "--timeout=180s")
    k("rollout", "status", "daemonset/probe", "--timeout=180s")
    assert retry(lambda: k("exec", "keeper", "--", "cat", "/data/token")).strip() == token
    # A Service backed by a pod on the last worker, from the probe pod on
    # the first one: kube-proxy and Flannel's VXLAN work again.
    pods = json.loads(k("get", "pods", "-l", "app=probe", "-o", "json"))["items"]
    client = next(p["metadata"]["name"] for p in pods if p["spec"]["nodeName"] == journey.nodes[1].name)
    svc_ip = k("get", "service", "web", "-o", "jsonpath={.spec.clusterIP}")
    assert retry(lambda: http_from_pod(k, client, svc_ip, 80)).strip() == "web"


@pytest.fixture(scope="module")
def token(journey):
    token = journey.k("exec", "keeper", "--", "cat", "/data/token").strip()
    assert len(token) == 36
    return token


def state_of(journey) -> list[str]:
    res = journey.cli("get", "clusters", "-o", "wide")
    assert res.returncode == 0, res.stderr
    return next((line.split() for line in res.stdout.splitlines() if line.split()[:1] == [journey.name]), [])


def test_engine_restart(journey, engine, engine_kind, token):
    since = time.time()
    restart_engine(engine_kind, engine, journey.name)
    eng = connect(engine_kind)
    try:
        retry(lambda: journey.k("get", "--raw", "/readyz", timeout=10), attempts=120, delay=1)
        still_serving(journey, eng, since, token)
    finally:
        eng.close()


def test_partly_running_then_stop_and_start(journey, engine_kind, token):
    eng = connect(engine_kind)
    try:
        res = journey.cli("expose", "add", "--name", journey.name, "0:30080")
        assert res.returncode == 0, res.stderr
        port = int(res.stdout.strip())
        assert retry(lambda: get(port), attempts=15, delay=1) == "web"

        # A node stopped behind kindlike's back.
        eng.stop_containers([journey.nodes[2].name], timeout=2)
        assert state_of(journey)[:2] == [journey.name, "partly"], state_of(journey)

        res = journey.cli("stop", "cluster", "--name", journey.name, "--timeout", "5")
        assert res.returncode == 0, res.stderr
        assert {c.state for c in eng.list_containers(cluster_labels(journey.name))} == {"exited"}
        assert state_of(journey)[:3] == [journey.name, "stopped", "3"]
        assert eng.network_exists(network_name(journey.name))
        assert not answers(port)

        since = time.time()
        res = journey.cli("start", "cluster", "--name", journey.name, "--wait", "4m",
                          "--kubeconfig", str(journey.kubeconfig))
        assert res.returncode == 0, res.stderr
        assert "nodes Ready" in res.stderr
        assert state_of(journey)[:2] == [journey.name, "running"]
        still_serving(journey, eng, since, token)
        assert retry(lambda: get(port), attempts=60, delay=1) == "web"
        # New pods, each pulling from the registry again (imagePullPolicy: Always).
        journey.k("rollout", "restart", f"daemonset/{PULLED}")
        wait_until(lambda: runs_everywhere(journey.k, PULLED, len(journey.nodes)),
                   "the registry's image pulled again on every node after stop/start", timeout=180)
    finally:
        eng.close()


def test_delete_leaves_nothing(journey, engine_kind):
    res = journey.cli("delete", "cluster", "--name", journey.name, "--kubeconfig", str(journey.kubeconfig))
    assert res.returncode == 0, res.stderr
    eng = connect(engine_kind)
    try:
        assert eng.list_containers(cluster_labels(journey.name)) == []
        assert eng.list_volumes(cluster_labels(journey.name)) == []
        assert not eng.network_exists(network_name(journey.name))
    finally:
        eng.close()
    doc = yaml.safe_load(journey.kubeconfig.read_text())
    assert all(f"kindlike-{journey.name}" != e["name"] for key in ("clusters", "users", "contexts") for e in doc[key])
    res = journey.cli("delete", "cluster", "--name", journey.name, "--kubeconfig", str(journey.kubeconfig))
    assert res.returncode == 0 and "does not exist" in res.stderr

    # The registry outlives the cluster, off its network, until deleted.
    eng = connect(engine_kind)
    try:
        r = reg.get(eng, journey.registry)
        assert (r.state, r.clusters) == ("running", []), r
        res = journey.cli("registry", "delete", journey.registry)
        assert res.returncode == 0, res.stderr
        assert [r.name for r in reg.list_registries(eng) if r.name == journey.registry] == []
        assert eng.list_volumes(reg.labels_of(journey.registry)) == []
        assert not eng.network_exists(reg.network_of(journey.registry))
    finally:
        eng.close()
