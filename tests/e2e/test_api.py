"""The Python API's own lifecycle: the context manager creates a 1-node
cluster, stop() and start() follow its state, and leaving the block deletes
everything. The API on a running cluster is tested on the journey's cluster
(tests/e2e/journey/test_3_api.py)."""
from __future__ import annotations

import uuid

import pytest
import yaml

import kindlike
from kindlike.cluster.nodes import cluster_labels, delete_cluster, network_name

pytestmark = pytest.mark.e2e


# The API's own code is the same whichever engine runs the nodes; the
# pytest plugin's tests create and delete through it under rootful Docker.
@pytest.mark.engines("rootless-podman")
def test_context_manager_creates_and_deletes(engine, node_image, tmp_path):
    name = f"api{uuid.uuid4().hex[:6]}"
    kubeconfig = tmp_path / "kubeconfig"
    try:
        with kindlike.Cluster.create(name, image=node_image, wait="5m", engine=engine,
                                     kubeconfig=kubeconfig) as c:
            assert [n.role for n in c.nodes] == ["control-plane"]
            out = c.kubectl("get", "nodes", "-o", "jsonpath={.items[*].status.conditions[?(@.type==\"Ready\")]"
                                                 ".status}").stdout
            assert out == "True"
            merged = yaml.safe_load(kubeconfig.read_text())
            assert f"kindlike-{name}" in [x["name"] for x in merged["contexts"]]
            private = c.kubeconfig_path
            assert private != kubeconfig and private.exists()
            # stop() and start(): the state follows, the cluster answers again.
            assert c.state == "running"
            c.stop()
            assert c.state == "stopped"
            c.start(wait="3m")
            assert c.state == "running"
            assert c.kubectl("get", "--raw", "/readyz").stdout == "ok"
        # Leaving the block deleted everything, kubeconfig entries included.
        assert engine.list_containers(cluster_labels(name)) == []
        assert engine.list_volumes(cluster_labels(name)) == []
        assert not engine.network_exists(network_name(name))
        merged = yaml.safe_load(kubeconfig.read_text())
        assert all(x["name"] != f"kindlike-{name}" for k in ("clusters", "users", "contexts") for x in merged[k])
        assert not private.exists()
        assert name not in kindlike.clusters(engine=engine)
        assert c.delete() is False  # deleting again is fine
    finally:
        delete_cluster(engine, name)
