"""Nodes on several hosts: three test hosts made on this machine by
hack/test-hosts.sh (network namespaces on a bridge, each with its own
Docker engine, rootful or run by the rootless test user, and its own address;
nothing leaves the machine). A control plane on host 1 (the cluster's
engine), a worker on each of hosts 2 and 3, placed by the config's
kindlike.host / kindlike.hostAddress; kindlike copies the node image from
host 1 to hosts 2 and 3 itself."""
from __future__ import annotations

import json
import shutil
import subprocess
import uuid

import pytest

from kindlike.engines.docker import DockerEngine
from tests.conftest import REPO
from tests.e2e.helpers import NODEPORT, http_from_pod, kindlike, kubectl_for, wait_until, workloads
from tests.engine_fixtures import install_user_venv, user_dir

pytestmark = [pytest.mark.e2e, pytest.mark.engines("rootful-docker", "rootless-docker")]

HOSTS = REPO / "hack" / "test-hosts.sh"
ADDRESS = {i: f"10.213.0.{10 + i}" for i in (1, 2, 3)}
# Each test host's rootful engine, and the rootless one beside it.
SOCKETS = {"rootful-docker": {i: f"unix:///run/kindlike-hosts/h{i}/docker.sock" for i in (1, 2, 3)},
           "rootless-docker": {i: f"unix:///run/kindlike-hosts/r{i}/docker.sock" for i in (1, 2, 3)}}


def _hosts(*args: str) -> str:
    res = subprocess.run([str(HOSTS), *args], capture_output=True, text=True, timeout=900)
    print(f"$ test-hosts.sh {' '.join(args)}\n{res.stdout}{res.stderr}")
    assert res.returncode == 0, res.stderr
    return res.stdout


@pytest.fixture
def hosts(engine_kind, node_image):
    """Three test hosts, host 1's engine holding the node image; taken down
    after (their data roots stay, caching the image for the next run)."""
    rootless = engine_kind.startswith("rootless")
    if rootless:
        install_user_venv()
    try:
        _hosts("up-rootless" if rootless else "up", "3")
        _hosts("image", node_image, *(["--rootless"] if rootless else []), "1")
        yield SOCKETS[engine_kind]
    finally:
        _hosts("down")


def config(socket: dict[int, str]) -> str:
    return f"""\
kind: Cluster
apiVersion: kind.x-k8s.io/v1alpha4
nodes:
- role: control-plane
  kindlike: {{hostAddress: {ADDRESS[1]}}}
- role: worker
  kindlike: {{host: "{socket[2]}", hostAddress: {ADDRESS[2]}}}
  extraPortMappings: [{{containerPort: {NODEPORT}, hostPort: {NODEPORT}}}]
- role: worker
  kindlike: {{host: "{socket[3]}", hostAddress: {ADDRESS[3]}}}
"""


def test_a_cluster_across_three_hosts(engine_kind, hosts, busybox_archive, node_image):
    name = f"mh{uuid.uuid4().hex[:6]}"
    d = user_dir()
    kc = d / "kubeconfig"
    socket = hosts
    env = {"KINDLIKE_PROVIDER": "docker", "DOCKER_HOST": socket[1]}
    engines = {i: DockerEngine.connect(socket[i]) for i in (1, 2, 3)}
    try:
        res = kindlike(engine_kind, "create", "cluster", "--name", name, "--config", "-", "--image", node_image,
                       "--wait", "5m", "--kubeconfig", str(kc), env=env, stdin=config(socket))
        assert res.returncode == 0, res.stderr
        cp, w1, w2 = f"{name}-control-plane", f"{name}-worker", f"{name}-worker2"
        # Each node in its own host's engine, Kubernetes knowing it by that host's address.
        assert [c.name for c in engines[2].list_containers({"io.kindlike.cluster": name})] == [w1]
        assert [c.name for c in engines[3].list_containers({"io.kindlike.cluster": name})] == [w2]
        kubectl = d / "kubectl"
        engines[1].copy_from(cp, "/usr/bin/kubectl", kubectl)
        kubectl.chmod(0o755)
        k = kubectl_for(kubectl, kc)
        nodes = json.loads(k("get", "nodes", "-o", "json"))["items"]
        internal = {n["metadata"]["name"]: next(a["address"] for a in n["status"]["addresses"]
                                                if a["type"] == "InternalIP") for n in nodes}
        assert internal == {cp: ADDRESS[1], w1: ADDRESS[2], w2: ADDRESS[3]}
        # The day-2 commands find every host's node through the cluster's engine.
        assert kindlike(engine_kind, "get", "nodes", "--name", name, env=env).stdout.split() == [cp, w1, w2]
        archive = d / "busybox.tar"  # where the rootless user can read it
        shutil.copy(busybox_archive, archive)
        archive.chmod(0o644)
        res = kindlike(engine_kind, "load", "image-archive", str(archive), "--name", name, env=env)
        assert res.returncode == 0, res.stderr

        k("apply", "-f", "-", stdin=workloads(w1))
        k("rollout", "status", "daemonset/probe", "--timeout=180s")
        k("wait", "--for=condition=Ready", "pod/web", "--timeout=180s")
        probes = {p["spec"]["nodeName"]: (p["metadata"]["name"], p["status"]["podIP"])
                  for p in json.loads(k("get", "pods", "-l", "app=probe", "-o", "json"))["items"]}
        # Pod to pod across hosts (Flannel's VXLAN between the hosts'
        # addresses), both ways, and DNS and a Service from every host.
        for src in (cp, w2):
            for dst in (cp, w1, w2):
                if dst != src:
                    assert http_from_pod(k, probes[src][0], probes[dst][1], 8080).strip() == dst
            out = k("exec", probes[src][0], "--", "nslookup", "web.default.svc.cluster.local")
            assert "Address" in out.split("web.default.svc.cluster.local", 1)[-1], out
            assert http_from_pod(k, probes[src][0], "web.default.svc.cluster.local", 80).strip() == "web"
        # A NodePort at the address of the worker host that publishes it.
        assert http_from_pod(k, probes[cp][0], ADDRESS[2], NODEPORT).strip() == "web"

        # Removing host 3's node leaves the rest working.
        res = kindlike(engine_kind, "delete", "node", w2, "--name", name, env=env)
        assert res.returncode == 0, res.stderr
        assert engines[3].list_containers({"io.kindlike.cluster": name}) == []
        assert engines[3].list_volumes({"io.kindlike.cluster": name}) == []
        wait_until(lambda: w2 not in k("get", "nodes", "-o", "name"), "the node to go", timeout=60)
        assert http_from_pod(k, probes[cp][0], probes[w1][1], 8080).strip() == w1
        assert http_from_pod(k, probes[cp][0], "web.default.svc.cluster.local", 80).strip() == "web"
    finally:
        res = kindlike(engine_kind, "delete", "cluster", "--name", name, "--kubeconfig", str(kc), env=env)
        left = {i: (e.list_containers({"io.kindlike.cluster": name}), e.list_volumes({"io.kindlike.cluster": name}))
                for i, e in engines.items()}
        for e in engines.values():
            e.close()
        shutil.rmtree(d, ignore_errors=True)
    assert res.returncode == 0, res.stderr
    assert left == {i: ([], []) for i in (1, 2, 3)}, f"left behind: {left}"
