"""Tests a user of the kindlike pytest plugin would write: every one gets
the session's cluster from the `kindlike_cluster` fixture.

KINDLIKE_PLUGIN_RECORD (a file): each test appends "cluster-name pid" so the
outer test can tell which processes (xdist workers) shared which cluster.
KINDLIKE_PLUGIN_FAIL=1 makes test_fails_on_purpose fail, to check that the
cluster's logs are exported next to the report."""
import json
import os

import pytest

import kindlike


def record(cluster):
    path = os.environ.get("KINDLIKE_PLUGIN_RECORD")
    if path:
        with open(path, "a") as f:
            f.write(f"{cluster.name} {os.getpid()}\n")


def test_fixture_is_a_working_cluster(kindlike_cluster):
    assert isinstance(kindlike_cluster, kindlike.Cluster)
    items = json.loads(kindlike_cluster.kubectl("get", "nodes", "-o", "json").stdout)["items"]
    # Each node's Kubernetes name is its hostname: its container's name, or in
    # a copy of a snapshot (--kindlike-snapshot) the saved cluster's node name.
    hostnames = [n.exec("hostname").stdout.strip() for n in kindlike_cluster.nodes]
    assert [i["metadata"]["name"] for i in items] == hostnames
    for item in items:
        assert {c["type"]: c["status"] for c in item["status"]["conditions"]}["Ready"] == "True"
    record(kindlike_cluster)


@pytest.mark.parametrize("i", range(4))
def test_api_server_answers(kindlike_cluster, i):
    ns = kindlike_cluster.kubectl("get", "namespaces", "-o", "name").stdout.split()
    assert "namespace/kube-system" in ns
    record(kindlike_cluster)


def test_fails_on_purpose(kindlike_cluster):
    record(kindlike_cluster)
    if os.environ.get("KINDLIKE_PLUGIN_FAIL") == "1":
        pytest.fail("failing on purpose: the plugin exports the cluster's logs")
