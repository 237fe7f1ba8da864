"""A create that fails mid-way: the message names the step, the node and the
failing command's output; everything the run created is removed, unless
--retain asks to keep it."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import uuid

import pytest

from kindlike.cluster.nodes import cluster_labels, delete_cluster, network_name
from tests.engine_fixtures import connect, ensure_node_image, start_engine

pytestmark = pytest.mark.e2e

# containerd refuses to start with this, so "Writing configuration" fails
# after the nodes exist: the worst moment to leave things behind.
BAD_CONFIG = textwrap.dedent("""\
    kind: Cluster
    apiVersion: kind.x-k8s.io/v1alpha4
    nodes:
    - role: control-plane
    - role: worker
    containerdConfigPatches:
    - |-
      oom_score = "not a number"
    """)


@pytest.fixture
def docker_engine(tmp_path):
    start_engine("rootful-docker")
    eng = connect("rootful-docker")
    ensure_node_image(eng, "rootful-docker", tmp_path)
    yield eng
    eng.close()


@pytest.fixture
def name(docker_engine):
    n = f"fail{uuid.uuid4().hex[:6]}"
    yield n
    delete_cluster(docker_engine, n)


def create(name: str, tmp_path, *extra: str) -> subprocess.CompletedProcess:
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(BAD_CONFIG)
    env = {**os.environ, "DOCKER_HOST": "unix:///var/run/docker.sock"}
    return subprocess.run([sys.executable, "-m", "kindlike.cli.main", "--provider", "docker", "create", "cluster",
                           "--name", name, "--config", str(cfg), "--kubeconfig", str(tmp_path / "kc"), *extra],
                          capture_output=True, text=True, env=env, timeout=600)


def test_failure_names_step_and_node_and_cleans_up(docker_engine, name, tmp_path):
    res = create(name, tmp_path)
    assert res.returncode == 1
    assert "Traceback" not in res.stderr
    assert f"ERROR: step 'Writing configuration 📜' failed on node {name}-" in res.stderr
    assert "systemctl restart containerd" in res.stderr and "containerd.service" in res.stderr
    assert docker_engine.list_containers(cluster_labels(name)) == []
    assert docker_engine.list_volumes(cluster_labels(name)) == []
    assert not docker_engine.network_exists(network_name(name))
    assert not (tmp_path / "kc").exists() or name not in (tmp_path / "kc").read_text()


def test_retain_keeps_the_nodes_and_says_how_to_remove_them(docker_engine, name, tmp_path):
    res = create(name, tmp_path, "--retain")
    assert res.returncode == 1
    assert f"kindlike delete cluster --name {name}" in res.stderr
    kept = sorted(c.name for c in docker_engine.list_containers(cluster_labels(name)))
    assert kept == [f"{name}-control-plane", f"{name}-worker"]
