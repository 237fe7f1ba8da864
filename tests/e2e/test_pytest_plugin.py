"""kindlike's pytest plugin, used by a separate test project
(tests/e2e/plugin_project, copied to a temporary directory and run in a
subprocess with `pytest -p kindlike.pytest_plugin`), on rootful Docker:

- with two pytest-xdist workers: both get the same cluster, created once,
  and the cluster is gone when the run ends;
- with --kindlike-keep and a failing test: the failing test's cluster logs
  land under <rootdir>/kindlike-logs/<nodeid>/, the cluster stays; a second
  run naming it reuses it and leaves it alone (and, with
  --kindlike-loadbalancer, gives its LoadBalancer Services an address);
  the test deletes it;
- with --kindlike-snapshot and --kindlike-snapshot-archive: the first
  session makes the snapshot (and its archive) once and runs on a copy; a
  session on an engine without the snapshot loads it from the archive.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import pytest

from kindlike.cluster.nodes import cluster_labels, delete_cluster
from tests.conftest import REPO
from tests.engine_fixtures import connect, ensure_node_image, start_engine

pytestmark = pytest.mark.e2e

PROJECT = REPO / "tests" / "e2e" / "plugin_project"


@pytest.fixture(scope="module")
def docker(tmp_path_factory):
    """Rootful Docker and its node image (the plugin is engine-neutral; the
    engines themselves are covered by the other e2e tests)."""
    start_engine("rootful-docker")
    eng = connect("rootful-docker")
    image = ensure_node_image(eng, "rootful-docker", tmp_path_factory.mktemp("nodeimage"))
    yield eng, image
    eng.close()


@pytest.fixture
def project(tmp_path):
    dest = tmp_path / "project"
    shutil.copytree(PROJECT, dest)
    return dest


@pytest.fixture
def cluster_name(docker):
    """A unique name; whatever a run left behind under it is deleted."""
    eng, _ = docker
    name = f"plug{uuid.uuid4().hex[:6]}"
    yield name
    delete_cluster(eng, name)
    assert eng.list_containers(cluster_labels(name)) == []


def run_project(project, docker, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    eng, image = docker
    clean = {k: v for k, v in os.environ.items()
             if not k.startswith(("PYTEST_", "KINDLIKE_PLUGIN_")) and k != "KINDLIKE_CLUSTER_NAME"}
    cmd = [sys.executable, "-m", "pytest", "-p", "kindlike.pytest_plugin", "--kindlike-provider", "docker",
           "--kindlike-image", image, "-v", *args]
    res = subprocess.run(cmd, cwd=project, capture_output=True, text=True, timeout=1200,
                         env={**clean, "DOCKER_HOST": eng.host, **(env or {})})
    print(f"$ {' '.join(cmd)}\n{res.stdout[-6000:]}\n{res.stderr[-3000:]}")
    return res


def state_dir(name: str) -> Path:
    return Path(tempfile.gettempdir()) / f"kindlike-pytest-{os.getuid()}" / name


def records(path) -> list[tuple[str, int]]:
    return [(n, int(p)) for n, p in (line.split() for line in path.read_text().splitlines())]


def test_xdist_workers_share_one_cluster_deleted_at_the_end(project, docker, cluster_name, tmp_path):
    eng, _ = docker
    rec = tmp_path / "record"
    res = run_project(project, docker, "-n", "2", "--kindlike-name", cluster_name,
                      env={"KINDLIKE_PLUGIN_RECORD": str(rec)})
    assert res.returncode == 0, res.stdout[-3000:]
    assert "6 passed" in res.stdout
    seen = records(rec)
    assert {n for n, _ in seen} == {cluster_name}
    assert len({pid for _, pid in seen}) == 2, f"both workers used the cluster: {seen}"
    # Created once (its nodes are the first and only ones), deleted by the last one out.
    assert eng.list_containers(cluster_labels(cluster_name)) == []
    assert f"kindlike: cluster {cluster_name!r} deleted" in res.stdout
    assert not (project / "kindlike-logs").exists(), "no failures, no logs"
    assert not state_dir(cluster_name).exists(), "the session's lock/users files are gone"


def test_keep_failing_test_logs_then_reuse(project, docker, cluster_name, tmp_path):
    eng, _ = docker
    rec = tmp_path / "record"
    res = run_project(project, docker, "--kindlike-name", cluster_name, "--kindlike-keep",
                      env={"KINDLIKE_PLUGIN_RECORD": str(rec), "KINDLIKE_PLUGIN_FAIL": "1"})
    assert res.returncode == 1, res.stdout[-3000:]
    assert "5 passed" in res.stdout and "1 failed" in res.stdout
    assert f"kindlike: creating cluster {cluster_name!r}" in res.stdout
    assert "kept (--kindlike-keep)" in res.stdout
    # The failing test's logs, next to the report; the passing tests have none.
    logs = project / "kindlike-logs" / "check_cluster.py" / "test_fails_on_purpose"
    assert f"logs exported to {logs}" in res.stdout
    cp = f"{cluster_name}-control-plane"
    assert "kubelet" in (logs / cp / "kubelet.log").read_text()
    assert [p.name for p in (project / "kindlike-logs" / "check_cluster.py").iterdir()] == ["test_fails_on_purpose"]
    # Kept.
    assert [c.name for c in eng.list_containers(cluster_labels(cluster_name))] == [cp]

    # A second session naming it reuses it and, not having made it, leaves
    # it; with --kindlike-loadbalancer its LoadBalancer Services get an address.
    rec.unlink()
    res = run_project(project, docker, "--kindlike-name", cluster_name, "--kindlike-loadbalancer",
                      "check_cluster.py", "lb_check.py", env={"KINDLIKE_PLUGIN_RECORD": str(rec)})
    assert res.returncode == 0, res.stdout[-3000:]
    assert "7 passed" in res.stdout
    assert f"kindlike: reusing existing cluster {cluster_name!r}" in res.stdout
    assert {n for n, _ in records(rec)} == {cluster_name}
    # The node is left alone, and the deleted Service's host port is gone too.
    assert [c.name for c in eng.list_containers(cluster_labels(cluster_name))] == [cp]
    # (the cluster_name fixture's finalizer deletes it)


def test_snapshot_made_once_then_loaded_from_the_ci_archive(project, docker, cluster_name, tmp_path):
    from kindlike import snapshot

    eng, _ = docker
    snap = f"plug-{uuid.uuid4().hex[:6]}"
    archive = tmp_path / "cache" / f"{snap}.tar"
    try:
        res = run_project(project, docker, "--kindlike-name", cluster_name, "--kindlike-snapshot", snap,
                          "--kindlike-snapshot-archive", str(archive), "check_cluster.py")
        assert res.returncode == 0, res.stdout[-3000:]
        assert "6 passed" in res.stdout
        assert snapshot.find(eng, snap) is not None and archive.is_file()
        assert eng.list_containers(cluster_labels(cluster_name)) == [], "the session's copy is deleted"
        assert not [c for c in eng.list_containers({"io.kindlike.cluster": None})
                    if c.labels["io.kindlike.cluster"].startswith("snapshot-")], "the cluster it was saved from is gone"
        # Another machine: the engine lacks the snapshot, the CI cache has the file.
        snapshot.delete(eng, snap)
        res = run_project(project, docker, "--kindlike-name", cluster_name, "--kindlike-snapshot", snap,
                          "--kindlike-snapshot-archive", str(archive), "check_cluster.py")
        assert res.returncode == 0, res.stdout[-3000:]
        assert "6 passed" in res.stdout
        assert snapshot.find(eng, snap) is not None
    finally:
        if snapshot.find(eng, snap) is not None:
            snapshot.delete(eng, snap)


def test_session_registry_is_pushed_to_and_removed_at_the_end(project, docker, cluster_name):
    from kindlike import registry as reg
    from tests.e2e.helpers import BUSYBOX, BUSYBOX_DIR, ensure_image

    eng, _ = docker
    name = f"plugreg-{uuid.uuid4().hex[:6]}"
    ensure_image(eng, BUSYBOX, BUSYBOX_DIR)
    res = None
    try:
        res = run_project(project, docker, "--kindlike-name", cluster_name, "--kindlike-registry", name,
                          "registry_check.py", env={"KINDLIKE_PLUGIN_IMAGE": BUSYBOX})
        assert res.returncode == 0, res.stdout[-3000:]
        assert "1 passed" in res.stdout
        assert f"kindlike: registry {name!r} created at localhost:" in res.stdout
        # Made by the session: deleted with the cluster, its volume too.
        assert [r for r in reg.list_registries(eng) if r.name == name] == []
        assert eng.list_volumes(reg.labels_of(name)) == []
    finally:
        reg.delete(eng, name)
        # push() left the pushed name on the image in the engine's store.
        for address in re.findall(r"created at (localhost:\d+)", res.stdout if res else ""):
            eng.remove_image(f"{address}/e2e/plugin:1")
