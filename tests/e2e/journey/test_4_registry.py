"""A local registry connected to the journey's running cluster, made
without one (the path where each node's containerd has no hosts directory
yet: connect writes it and restarts containerd under the running kubelet):
an image pushed from the host runs on every node, then `registry
disconnect` takes the registry and its ConfigMap away again. The rest of
the registry's life (create --registry, stop/start, delete) is in
tests/e2e/test_registry.py."""
from __future__ import annotations

import uuid

import pytest

from kindlike import registry as reg
from kindlike.engines.common import pick_free_port
from tests.e2e.helpers import wait_until
from tests.e2e.test_registry import daemonset, push, runs_everywhere

pytestmark = pytest.mark.e2e


@pytest.fixture
def registry(journey):
    name = f"reg-{uuid.uuid4().hex[:6]}"
    yield name
    journey.cli("registry", "delete", name)


def test_a_registry_connected_to_the_running_cluster(journey, engine, registry, tmp_path):
    port = pick_free_port("127.0.0.1")
    res = journey.cli("registry", "create", registry, "--port", str(port))
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == f"localhost:{port}"
    image = push(engine, res.stdout.strip(), "late", tmp_path)
    res = journey.cli("registry", "connect", registry, "--name", journey.name)
    assert res.returncode == 0, res.stderr
    k = journey.k
    k("apply", "-f", "-", stdin=daemonset("late", image))
    try:
        wait_until(lambda: runs_everywhere(k, "late", len(journey.nodes)), "the pushed image on every node",
                   timeout=180)
    finally:
        k("delete", "daemonset", "late", "--ignore-not-found", "--wait=false")
    res = journey.cli("registry", "disconnect", registry, "--name", journey.name)
    assert res.returncode == 0, res.stderr
    assert reg.get(engine, registry).clusters == []
    assert k("-n", "kube-public", "get", "configmap", "local-registry-hosting", "--ignore-not-found", "-o",
             "name").strip() == ""
