"""A cluster of the oldest release kindlike supports, Kubernetes v1.20.2
(its node image built from Debian's source package; hack/build-test-images.sh),
through `create cluster --image` under rootful Docker: a 1.20 kubelet has no
KubeletInUserNamespace gate, so rootless engines are the doctor's to refuse
(tests/engine/test_doctor.py), not this test's. The image has neither a CNI
nor CoreDNS (neither is in Debian): `--wait` says it waits for the API
server only, which says v1.20.2, its control plane and kube-proxy run, and
the node registered, NotReady for want of a pod network."""
from __future__ import annotations

import json
import shutil
import uuid

import pytest

from kindlike.cluster.nodes import cluster_labels, control_planes, delete_cluster
from tests.e2e.cluster_checks import wait_for
from tests.e2e.helpers import cli_env, kindlike, kubectl_bin, kubectl_for, print_kubelet_errors, ready_nodes
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
        assert "API server only: no CNI installed" in res.stderr, res.stderr
        assert ready_nodes(k) == {f"{name}-control-plane": "False"}
        assert json.loads(k("version", "-o", "json"))["serverVersion"]["gitVersion"] == "v1.20.2"

        def control_plane_running() -> list[str]:
            pods = json.loads(k("-n", "kube-system", "get", "pods", "-o", "json"))["items"]
            names = [p["metadata"]["name"] for p in pods if p["status"].get("phase") == "Running"]
            return names if len(names) == len(pods) >= 5 else []
        names = " ".join(wait_for(control_plane_running, "the control plane and kube-proxy Running"))
        for part in ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kube-proxy"):
            assert part in names, names
    finally:
        delete_cluster(engine, name)
        shutil.rmtree(d, ignore_errors=True)
    assert engine.list_containers(cluster_labels(name)) == []
