"""The journey's cluster through the Python API: kindlike.Cluster.get,
facts, kubeconfig, the cluster's own kubectl, image loading, log export and
errors a caller can catch."""
from __future__ import annotations

import json
import stat
import subprocess
import uuid

import pytest
import yaml

import kindlike
from tests.e2e.helpers import BUSYBOX, derived_image
from tests.e2e.journey.test_2_day2 import run_pods

pytestmark = pytest.mark.e2e


@pytest.fixture
def api(journey, engine):
    """A fresh API object for the journey's cluster, closed afterwards."""
    c = kindlike.Cluster.get(journey.name, engine=engine)
    yield c
    c.close()


@pytest.fixture(scope="module")
def api_image(engine, tmp_path_factory):
    """An image no other test loads (its own ID), removed afterwards."""
    tag = derived_image(engine, "kindlike/e2e-busybox:api", "api", tmp_path_factory.mktemp("apiimg"))
    yield tag
    engine.remove_image(tag)


def test_get_facts(api, engine):
    n = api.name
    assert isinstance(api, kindlike.Cluster)
    assert api.provider == engine.name
    assert [(x.name, x.role) for x in api.nodes] == [(f"{n}-control-plane", "control-plane"),
                                                      (f"{n}-worker", "worker"), (f"{n}-worker2", "worker")]
    assert api.control_plane.name == f"{n}-control-plane"
    assert [x.name for x in api.workers] == [f"{n}-worker", f"{n}-worker2"]
    assert api.exists()
    assert n in kindlike.clusters(engine=engine)
    assert api.control_plane.output("cat", "/kind/version").startswith("v")
    assert repr(api) == f"<kindlike.Cluster {n!r} provider={engine.name}>"
    assert api.state == "running"


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
    assert len(nodes) == 3
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
    assert len(api.nodes) == 3
    with pytest.raises(kindlike.ConfigError):
        kindlike.Cluster.create(f"x{uuid.uuid4().hex[:6]}", engine=engine, config={"kind": "Cluster", "bogus": 1})


def test_export_logs(api, tmp_path):
    path = api.export_logs(tmp_path / "logs")
    assert path == tmp_path / "logs"
    for n in api.nodes:
        assert "kubelet" in (path / n.name / "kubelet.log").read_text()
    tgz = api.export_logs(tmp_path / "logs.tar.gz")
    assert tgz == tmp_path / "logs.tar.gz" and tgz.stat().st_size > 0
