"""The Python API end to end: kindlike.Cluster.get/create, facts, kubeconfig,
the cluster's own kubectl, image loading, log export, errors a caller can
catch, and the context manager's create-use-stop-start-delete lifecycle.

Most tests use the session's shared 2-node cluster (tests/e2e/test_day2.py);
the lifecycle test makes (and always removes) a 1-node cluster of its own."""
from __future__ import annotations

import json
import stat
import subprocess
import uuid

import pytest
import yaml

import kindlike
from kindlike.runtime import cluster_labels, delete_cluster, network_name
from tests.e2e.test_day2 import BUSYBOX, BUSYBOX_DIR, ensure_image, run_pods, shared_cluster

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def cluster(request, engine, engine_kind, node_image) -> kindlike.Cluster:
    return shared_cluster(request, engine, engine_kind, node_image)


@pytest.fixture
def api(cluster, engine):
    """A fresh API object for the shared cluster, closed afterwards."""
    c = kindlike.Cluster.get(cluster.name, engine=engine)
    yield c
    c.close()


@pytest.fixture(scope="module")
def api_image(engine, tmp_path_factory):
    """An image no other test loads (its own ID), removed afterwards."""
    ensure_image(engine, BUSYBOX, BUSYBOX_DIR)
    ctx = tmp_path_factory.mktemp("apiimg")
    (ctx / "Dockerfile").write_text(f"FROM {BUSYBOX}\nLABEL io.kindlike.test=api\n")
    tag = "kindlike/e2e-busybox:api"
    engine.remove_image(tag)
    engine.build_image(ctx, tag)
    yield tag
    engine.remove_image(tag)


def test_get_facts(api, cluster, engine):
    assert isinstance(api, kindlike.Cluster)
    assert api.name == cluster.name and api.provider == engine.name
    assert [(n.name, n.role) for n in api.nodes] == [(f"{api.name}-control-plane", "control-plane"),
                                                      (f"{api.name}-worker", "worker")]
    assert api.control_plane.name == f"{api.name}-control-plane"
    assert [n.name for n in api.workers] == [f"{api.name}-worker"]
    assert api.exists()
    assert api.name in kindlike.clusters(engine=engine)
    assert api.control_plane.output("cat", "/kind/version").startswith("v")
    assert repr(api) == f"<kindlike.Cluster {api.name!r} provider={engine.name}>"


def test_kubeconfig_and_kubectl(api, tmp_path, monkeypatch):
    doc = yaml.safe_load(api.kubeconfig)
    assert doc["current-context"] == f"kindlike-{api.name}"
    assert doc["clusters"][0]["cluster"]["server"].startswith("https://127.0.0.1:")
    internal = yaml.safe_load(api.internal_kubeconfig)
    assert internal["clusters"][0]["cluster"]["server"] == f"https://{api.name}-control-plane:6443"

    # The cluster's own kubectl, copied once into the cache directory.
    monkeypatch.setenv("KINDLIKE_CACHE_DIR", str(tmp_path / "cache"))
    c = kindlike.Cluster.get(api.name, engine=api.engine)
    try:
        binary = c.kubectl_binary()
        assert binary is not None and binary.is_relative_to(tmp_path / "cache")
        version = subprocess.run([str(binary), "version", "--client"], capture_output=True, text=True)
        assert api.control_plane.output("cat", "/kind/version").strip() in version.stdout

        path = c.kubeconfig_path
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert yaml.safe_load(path.read_text())["current-context"] == f"kindlike-{api.name}"
        # The file works for any kubectl a test starts itself.
        res = subprocess.run([str(binary), f"--kubeconfig={path}", "get", "nodes", "-o", "name"],
                             capture_output=True, text=True, timeout=120)
        assert res.returncode == 0 and f"node/{api.name}-worker" in res.stdout.split()
    finally:
        c.close()
    assert not path.exists(), "close() removes the object's temporary kubeconfig"

    nodes = json.loads(api.kubectl("get", "nodes", "-o", "json").stdout)["items"]
    assert len(nodes) == 2
    for item in nodes:
        ready = {x["type"]: x["status"] for x in item["status"]["conditions"]}["Ready"]
        assert ready == "True", item["metadata"]["name"]

    # input= feeds stdin; apply() takes YAML text.
    cm = f"cm-{uuid.uuid4().hex[:6]}"
    api.kubectl("create", "-f", "-", input=f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {cm}}}\n"
                                           "data: {k: v1}\n")
    api.apply(f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {cm}}}\ndata: {{k: v2}}\n")
    assert api.kubectl("get", "configmap", cm, "-o", "jsonpath={.data.k}").stdout == "v2"
    api.kubectl("delete", "configmap", cm)

    # Failures: KubectlError (a KindlikeError) with the exit code and output; or check=False.
    with pytest.raises(kindlike.KubectlError) as err:
        api.kubectl("get", "configmap", cm)
    assert err.value.returncode != 0 and "not found" in err.value.stderr
    assert isinstance(err.value, kindlike.KindlikeError)
    res = api.kubectl("get", "configmap", cm, check=False)
    assert res.returncode != 0 and "not found" in res.stderr


def test_load_image_and_run_it(api, api_image):
    first = api.load_image(api_image)
    assert first.nodes_loaded == sorted(n.name for n in api.nodes)
    again = api.load_image(api_image)
    assert again.nodes_loaded == [] and all(v == [api_image] for v in again.skipped.values())
    run_pods(api, api_image, "api")


def test_errors_a_caller_can_catch(api, engine):
    with pytest.raises(kindlike.ImageNotFoundError):
        api.load_image(f"kindlike/not-here:{uuid.uuid4().hex[:6]}")
    with pytest.raises(kindlike.NodeNotFoundError) as err:
        api.load_image(BUSYBOX, nodes=["nope"])
    assert f"{api.name}-worker" in (err.value.fix or "")
    with pytest.raises(kindlike.ImageArchiveError):
        api.load_image_archive("/nonexistent/images.tar")
    missing = f"missing{uuid.uuid4().hex[:6]}"
    with pytest.raises(kindlike.ClusterNotFoundError) as err:
        kindlike.Cluster.get(missing, engine=engine)
    assert isinstance(err.value, kindlike.ClusterError)
    with pytest.raises(kindlike.ClusterNotFoundError):
        kindlike.Cluster(missing, engine=engine).export_logs()
    # Creating over an existing cluster is refused before anything is touched.
    with pytest.raises(kindlike.ClusterError, match="already exists"):
        kindlike.Cluster.create(api.name, engine=engine)
    assert len(api.nodes) == 2
    with pytest.raises(kindlike.ConfigError):
        kindlike.Cluster.create(f"x{uuid.uuid4().hex[:6]}", engine=engine, config={"kind": "Cluster", "bogus": 1})


def test_export_logs(api, tmp_path):
    path = api.export_logs(tmp_path / "logs")
    assert path == tmp_path / "logs"
    for n in api.nodes:
        assert "kubelet" in (path / n.name / "kubelet.log").read_text()
    tgz = api.export_logs(tmp_path / "logs.tar.gz")
    assert tgz == tmp_path / "logs.tar.gz" and tgz.stat().st_size > 0


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
