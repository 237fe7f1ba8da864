"""A cluster of the oldest release kindlike supports, Kubernetes v1.20.2
(its node image built from Debian's source package; hack/build-test-images.sh),
through `create cluster --image` under rootful Docker: a 1.20 kubelet has no
KubeletInUserNamespace gate, so rootless engines are the doctor's to refuse
(tests/engine/test_doctor.py), not this test's. The node is Ready, the API
server says v1.20.2, and the CNI and DNS pods run."""
from __future__ import annotations

import json
import shutil
import uuid

import pytest

from kindlike.runtime import cluster_labels, control_planes, delete_cluster
from tests.e2e.helpers import cli_env, kindlike, kubectl_bin, kubectl_for, print_kubelet_errors, ready_nodes
from tests.e2e.cluster_checks import wait_for
from tests.engine_fixtures import user_dir

pytestmark = pytest.mark.e2e

IMAGE = "kindlike/node:v1.20.2-offline"


@pytest.mark.engines("rootful-docker")
def test_create_a_v1_20_cluster(engine, engine_kind, tmp_path):
    assert engine.image_exists(IMAGE), f"{IMAGE} is missing: hack/build-test-images.sh builds it"
    name = f"old{uuid.uuid4().hex[:6]}"
    d = user_dir()
    try:
        res = kindlike(engine_kind, "create", "cluster", "--name", name, "--image", IMAGE, "--wait", "5m",
                       "--kubeconfig", str(d / "kubeconfig"), "--retain", env=cli_env(engine, engine_kind))
        if res.returncode != 0:
            print_kubelet_errors(engine, name)
        assert res.returncode == 0, res.stderr
        k = kubectl_for(kubectl_bin(control_planes(engine, name)[0], tmp_path), d / "kubeconfig")
        assert ready_nodes(k) == {f"{name}-control-plane": "True"}
        assert json.loads(k("version", "-o", "json"))["serverVersion"]["gitVersion"] == "v1.20.2"

        def every_pod_running() -> list[str]:
            pods = json.loads(k("get", "pods", "-A", "-o", "json"))["items"]
            if all(p["status"].get("phase") == "Running" for p in pods):
                return [p["metadata"]["name"] for p in pods]
            return []
        names = " ".join(wait_for(every_pod_running, "every pod Running"))
        for part in ("flannel", "coredns", "kube-proxy", "kube-apiserver"):
            assert part in names, names
    finally:
        delete_cluster(engine, name)
        shutil.rmtree(d, ignore_errors=True)
    assert engine.list_containers(cluster_labels(name)) == []
