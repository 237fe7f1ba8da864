"""Day-2 commands on a real 2-node cluster, through the CLI a user runs:
get clusters/nodes, load docker-image (skip, --nodes, errors) and a pod run
from the loaded image with imagePullPolicy: Never, load image-archive,
export logs (directory, tarball, default temporary directory), delete of a
missing cluster.

The cluster is shared with tests/e2e/test_api.py (one per engine, made with
the Python API) and deleted at the end of the session or when the next
engine's is made; see shared_cluster()."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import tarfile
import textwrap
import uuid
from pathlib import Path

import pytest

import kindlike
from kindlike.runtime import cluster_labels, delete_cluster
from tests.conftest import REPO
from tests.e2e.test_cluster import kindlike as run_cli
from tests.engine_fixtures import connect, install_user_venv, user_dir

pytestmark = pytest.mark.e2e

BUSYBOX = "kindlike/e2e-busybox:1"
BUSYBOX_DIR = REPO / "tests" / "e2e" / "images" / "busybox"
TWO_NODES = {"kind": "Cluster", "apiVersion": "kind.x-k8s.io/v1alpha4",
             "nodes": [{"role": "control-plane"}, {"role": "worker"}]}

_SHARED = pytest.StashKey[dict]()


def shared_cluster(request: pytest.FixtureRequest, engine, engine_kind: str, node_image: str) -> kindlike.Cluster:
    """The session's 2-node cluster for this engine, made once with the
    Python API and shared by the day-2 and API test modules. At most one
    exists at a time: asking for another engine's deletes the previous one;
    the last is deleted when the session ends (pass or fail)."""
    shared = request.config.stash.setdefault(_SHARED, {})
    if shared.get("kind") == engine_kind:
        if "error" in shared:
            pytest.fail(f"creating the shared cluster {shared['name']} failed: {shared['error']}", pytrace=False)
        return shared["cluster"]
    _drop_shared(shared)
    if not shared.get("cleanup"):
        request.config.add_cleanup(lambda: _drop_shared(shared))
        shared["cleanup"] = True
    name = f"d2{uuid.uuid4().hex[:6]}"
    shared.update(kind=engine_kind, name=name)
    try:
        c = kindlike.Cluster.create(name, config=TWO_NODES, image=node_image, wait="5m", engine=engine, verbose=True)
    except Exception as e:
        shared["error"] = (getattr(e, "message", None) or str(e)).splitlines()[0]
        raise
    shared["cluster"] = c
    return c


def _drop_shared(shared: dict) -> None:
    kind, name = shared.pop("kind", None), shared.pop("name", None)
    c = shared.pop("cluster", None)
    shared.pop("error", None)
    if c is not None:
        c.close()
    if kind and name:
        # The session's engine fixture may be closed already: own connection.
        eng = connect(kind)
        try:
            delete_cluster(eng, name)
        finally:
            eng.close()


@pytest.fixture(scope="module")
def cluster(request, engine, engine_kind, node_image) -> kindlike.Cluster:
    return shared_cluster(request, engine, engine_kind, node_image)


@pytest.fixture(scope="module")
def cli(engine, engine_kind):
    """The CLI as its user runs it (root for rootful Docker, the rootless
    user for rootless engines), pointed at the test's engine."""
    if engine_kind.startswith("rootless"):
        install_user_venv()
    env = {"KINDLIKE_PROVIDER": engine.name}
    if engine_kind == "rootful-docker":
        env["DOCKER_HOST"] = engine.host

    def run(*args: str) -> subprocess.CompletedProcess:
        return run_cli(engine_kind, *args, env=env)

    return run


@pytest.fixture(scope="module")
def scratch():
    """A directory the CLI's user can write to; removed afterwards."""
    d = user_dir()
    yield d
    shutil.rmtree(d, ignore_errors=True)


def ensure_image(engine, tag: str, context: Path) -> str:
    if not engine.image_exists(tag):
        engine.build_image(context, tag)
    return tag


@pytest.fixture(scope="module")
def busybox(engine) -> str:
    return ensure_image(engine, BUSYBOX, BUSYBOX_DIR)


@pytest.fixture(scope="module")
def second_image(engine, busybox, tmp_path_factory) -> str:
    """Another small image (a different ID), for the archive test."""
    ctx = tmp_path_factory.mktemp("img2")
    (ctx / "Dockerfile").write_text(f"FROM {BUSYBOX}\nLABEL io.kindlike.test=archive\n")
    tag = "kindlike/e2e-busybox:archive"
    if engine.image_exists(tag):
        engine.remove_image(tag)
    engine.build_image(ctx, tag)
    yield tag
    engine.remove_image(tag)


def pod(name: str, image: str, node: str) -> str:
    return textwrap.dedent(f"""\
        apiVersion: v1
        kind: Pod
        metadata: {{name: {name}}}
        spec:
          nodeName: {node}
          tolerations: [{{operator: Exists}}]
          containers:
          - name: main
            image: {image}
            imagePullPolicy: Never
            command: ["sh", "-c", "echo ran on $(hostname); sleep 3600"]
        """)


def run_pods(cluster: kindlike.Cluster, image: str, prefix: str) -> None:
    """A pod from `image` on every node, Ready, its output as expected; the
    pods are deleted afterwards."""
    names = {n.name: f"{prefix}-{i}" for i, n in enumerate(cluster.nodes)}
    try:
        for node, pname in names.items():
            cluster.apply(pod(pname, image, node))
        for pname in names.values():
            cluster.kubectl("wait", "--for=condition=Ready", f"pod/{pname}", "--timeout=120s", timeout=180)
        for pname in names.values():
            assert "ran on" in cluster.kubectl("logs", pname).stdout
    finally:
        cluster.kubectl("delete", "pod", "--wait=false", "--ignore-not-found", *names.values(), check=False)


def test_get_clusters_and_nodes(cluster, cli):
    res = cli("get", "clusters")
    assert res.returncode == 0 and cluster.name in res.stdout.split()
    res = cli("get", "nodes", "--name", cluster.name)
    assert res.returncode == 0
    assert res.stdout.split() == [f"{cluster.name}-control-plane", f"{cluster.name}-worker"]
    res = cli("get", "nodes", "-A")
    assert res.returncode == 0 and {f"{cluster.name}-control-plane", f"{cluster.name}-worker"} <= set(res.stdout.split())
    res = cli("get", "nodes", "--name", f"missing{uuid.uuid4().hex[:6]}")
    assert res.returncode == 0 and "No nodes found" in res.stderr


def test_load_docker_image_then_run_it(cluster, cli, busybox):
    cp, worker = (n.name for n in cluster.nodes)
    # Only the worker first: the control plane is not touched.
    res = cli("load", "docker-image", busybox, "--name", cluster.name, "--nodes", worker)
    assert res.returncode == 0, res.stderr
    assert f'not yet present on node "{worker}"' in res.stderr and cp not in res.stderr
    # Then all nodes: the worker holds the same image ID and is skipped.
    res = cli("load", "docker-image", busybox, "--name", cluster.name)
    assert res.returncode == 0, res.stderr
    assert f'not yet present on node "{cp}"' in res.stderr
    assert f'not yet present on node "{worker}"' not in res.stderr
    # Again: nothing to do anywhere.
    res = cli("load", "docker-image", busybox, "--name", cluster.name)
    assert res.returncode == 0 and "already present on all nodes" in res.stderr
    # The pod spec's plain name finds it on every node, whichever engine saved it.
    run_pods(cluster, busybox, "loaded")


def test_load_errors_are_clear(cluster, cli, busybox):
    missing_img = f"kindlike/not-here:{uuid.uuid4().hex[:6]}"
    res = cli("load", "docker-image", missing_img, "--name", cluster.name)
    assert res.returncode == 1
    assert f"not present in" in res.stderr and missing_img in res.stderr and "Traceback" not in res.stderr
    res = cli("load", "docker-image", busybox, "--name", cluster.name, "--nodes", "nope-worker")
    assert res.returncode == 1 and "has no node named nope-worker" in res.stderr
    assert f"{cluster.name}-worker" in res.stderr  # lists the real ones
    res = cli("load", "docker-image", busybox, "--name", f"missing{uuid.uuid4().hex[:6]}")
    assert res.returncode == 1 and "no cluster named" in res.stderr
    res = cli("load", "image-archive", "/nonexistent/images.tar", "--name", cluster.name)
    assert res.returncode == 1 and "does not exist" in res.stderr


def test_load_image_archive(cluster, cli, engine, second_image, scratch):
    archive = scratch / "second.tar"
    engine.save_images([second_image], archive)
    os.chown(archive, scratch.stat().st_uid, scratch.stat().st_gid)
    res = cli("load", "image-archive", str(archive), "--name", cluster.name)
    assert res.returncode == 0, res.stderr
    assert "Loaded" in res.stderr and all(n.name in res.stderr for n in cluster.nodes)
    res = cli("load", "image-archive", str(archive), "--name", cluster.name)
    assert res.returncode == 0 and "Nothing to load" in res.stderr
    run_pods(cluster, second_image, "archived")


def test_export_logs(cluster, cli, scratch):
    nodes = [n.name for n in cluster.nodes]
    # Into a directory.
    out = scratch / "logs"
    res = cli("export", "logs", str(out), "--name", cluster.name)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == str(out)
    for n in nodes:
        kubelet = (out / n / "kubelet.log").read_text()
        assert "kubelet" in kubelet and len(kubelet.splitlines()) > 10, n
        assert json.loads((out / n / "inspect.json").read_text())["Name"].lstrip("/") == n
        for f in ("journal.log", "containerd.log", "images.log", "containers.log", "kubeadm.conf",
                  "containerd-config.toml", "kubelet-config.yaml", "serial.log"):
            assert (out / n / f).stat().st_size > 0, f"{n}/{f}"
        assert "pause" in (out / n / "images.log").read_text()
        assert list((out / n / "pods").glob("kube-system_kube-proxy-*/kube-proxy/*.log")), n
    assert "kube-apiserver" in " ".join(p.name for p in (out / nodes[0] / "pods").iterdir())
    # Into a tarball.
    tgz = scratch / "logs.tar.gz"
    res = cli("export", "logs", str(tgz), "--name", cluster.name)
    assert res.returncode == 0, res.stderr
    with tarfile.open(tgz) as tar:
        names = tar.getnames()
    assert all(f"logs/{n}/kubelet.log" in names for n in nodes)
    # Default: a new temporary directory, printed.
    res = cli("export", "logs", "--name", cluster.name)
    assert res.returncode == 0, res.stderr
    printed = Path(res.stdout.strip())
    try:
        assert printed.is_dir() and all((printed / n / "kubelet.log").is_file() for n in nodes)
    finally:
        shutil.rmtree(printed, ignore_errors=True)


def test_delete_missing_cluster_succeeds_with_a_note(cli):
    name = f"missing{uuid.uuid4().hex[:6]}"
    res = cli("delete", "cluster", "--name", name)
    assert res.returncode == 0 and "does not exist" in res.stderr
    res = cli("delete", "clusters", name, f"{name}b")
    assert res.returncode == 0 and res.stderr.count("does not exist") == 2
    res = cli("delete", "clusters")
    assert res.returncode == 2 and "--all" in res.stderr


def test_shared_cluster_is_labelled(cluster, engine):
    """Sanity: the cluster state the CLI read is only the engine's labels."""
    assert len(engine.list_containers(cluster_labels(cluster.name))) == 2
