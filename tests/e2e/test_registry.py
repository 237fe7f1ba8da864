"""A local registry given at create time (issue 22), through the CLI: an
image built on the host and pushed to localhost:PORT runs on every node;
`delete cluster` leaves the registry running, `registry delete` removes it
with its volume. On the same cluster, per-node CPU/memory under the rootful
engines (the rootless ones on this cgroup v1 host refuse it). A registry
connected to a running cluster, and pulled from again after its stop/start,
is in tests/e2e/journey/test_4_registry.py."""
from __future__ import annotations

import json
import shutil
import textwrap
import uuid

import pytest

from kindlike import registry as reg
from kindlike.cluster.nodes import cluster_labels, list_nodes
from tests.e2e.helpers import (
    cli_env,
    derived_image,
    kindlike,
    kubectl_bin,
    kubectl_for,
    print_kubelet_errors,
    wait_until,
)
from tests.engine_fixtures import connect, install_user_venv, user_dir

pytestmark = pytest.mark.e2e


def daemonset(name: str, image: str) -> str:
    # Always: every start of a pod asks the registry, so a pod running after
    # the stop/start proves the pull path, not a cached image.
    return textwrap.dedent(f"""\
        apiVersion: apps/v1
        kind: DaemonSet
        metadata: {{name: {name}}}
        spec:
          selector: {{matchLabels: {{app: {name}}}}}
          template:
            metadata: {{labels: {{app: {name}}}}}
            spec:
              tolerations: [{{operator: Exists}}]
              terminationGracePeriodSeconds: 1  # sleep as PID 1 ignores SIGTERM
              containers:
              - name: app
                image: {image}
                imagePullPolicy: Always
                command: ["sleep", "1000000"]
        """)


def runs_everywhere(k, name: str, nodes: int) -> bool:
    st = json.loads(k("get", "daemonset", name, "-o", "json"))["status"]
    return st.get("desiredNumberScheduled") == nodes and st.get("numberReady") == nodes \
        and st.get("updatedNumberScheduled") == nodes


@pytest.fixture
def setup(engine, engine_kind, node_image):
    """(cluster name, registry names, scratch dir, CLI env); the cluster and
    every registry are deleted afterwards, whatever happened."""
    if engine_kind.startswith("rootless"):
        install_user_venv()
    d = user_dir()
    tag = uuid.uuid4().hex[:6]
    names = (f"rg{tag}", [f"reg-{tag}"])
    env = cli_env(engine, engine_kind)
    yield names[0], names[1], d, env
    kindlike(engine_kind, "delete", "cluster", "--name", names[0], "--kubeconfig", str(d / "kubeconfig"), env=env)
    for r in names[1]:
        kindlike(engine_kind, "registry", "delete", r, env=env)
    eng = connect(engine_kind)
    left = (eng.list_containers(cluster_labels(names[0])),
            [c.name for c in eng.list_containers() if c.name in names[1]],
            [v for r in names[1] for v in eng.list_volumes(reg.labels_of(r))])
    eng.close()
    shutil.rmtree(d, ignore_errors=True)
    assert left == ([], [], []), f"left behind: {left}"


def push(engine, address: str, what: str, scratch) -> str:
    """An image built on the host (busybox plus a label), pushed to the registry."""
    ref = f"{address}/e2e/{what}:{uuid.uuid4().hex[:8]}"
    derived_image(engine, ref, what, scratch)
    engine.push_image(ref)
    engine.remove_image(ref)  # what runs must come from the registry
    return ref


# Sizes need a rootful engine on this cgroup v1 host (the rootless ones refuse
# them, below); the registry at create time is the same code under every
# engine, and the journey (tests/e2e/journey) connects one to a running
# cluster under all four, stop/start and `registry delete` included.
@pytest.mark.engines("rootful-docker", "rootful-podman")
def test_a_cluster_made_with_a_registry_and_sized_nodes(engine, engine_kind, setup, node_image, tmp_path):
    name, (r1,), d, env = setup
    res = kindlike(engine_kind, "registry", "create", r1, env=env)
    assert res.returncode == 0, res.stderr
    address = res.stdout.strip()
    assert address.startswith("localhost:"), address
    image = push(engine, address, "app", tmp_path)

    cfg = textwrap.dedent("""\
        kind: Cluster
        apiVersion: kind.x-k8s.io/v1alpha4
        nodes:
        - role: control-plane
        - role: worker
          kindlike: {cpus: 1, memory: 1Gi}
        """)
    # The flags size every node without its own size: here the control plane.
    res = kindlike(engine_kind, "create", "cluster", "--name", name, "--config", "-", "--image", node_image,
                   "--registry", r1, "--node-cpus", "2", "--node-memory", "3Gi",
                   "--wait", "5m", "--kubeconfig", str(d / "kubeconfig"), "--retain", env=env, stdin=cfg)
    if res.returncode != 0:
        print_kubelet_errors(engine, name)
    assert res.returncode == 0, res.stderr
    assert "Connecting registry" in res.stderr
    k = kubectl_for(kubectl_bin(list_nodes(engine, name)[0], d), d / "kubeconfig")
    hosting = json.loads(k("-n", "kube-public", "get", "configmap", "local-registry-hosting", "-o", "json"))
    assert f'host: "{address}"' in hosting["data"]["localRegistryHosting.v1"]
    k("apply", "-f", "-", stdin=daemonset("app", image))

    worker, cp = f"{name}-worker", f"{name}-control-plane"
    described = k("describe", "node", worker)
    capacity = described.split("Capacity:")[1].split("Allocatable:")[0]
    assert [line.split() for line in capacity.splitlines() if line.split()[:1] in (["cpu:"], ["memory:"])] == \
        [["cpu:", "1"], ["memory:", "1Gi"]], described
    node = json.loads(k("get", "node", worker, "-o", "json"))["status"]["allocatable"]
    assert node["cpu"] == "940m" and node["memory"] == "768Mi", node
    wide = kindlike(engine_kind, "get", "nodes", "--name", name, "-o", "wide", env=env).stdout
    assert [line.split()[-3:] for line in wide.splitlines() if line.startswith(worker)] == [["1", "CPU,", "1Gi"]]
    assert [line.split()[-3:] for line in wide.splitlines() if line.startswith(cp)] == [["2", "CPU,", "3Gi"]]
    assert json.loads(engine.inspect_text(worker))["HostConfig"]["Memory"] == 1 << 30
    assert json.loads(engine.inspect_text(cp))["HostConfig"]["Memory"] == 3 << 30
    capacity = json.loads(k("get", "node", cp, "-o", "json"))["status"]["capacity"]
    assert (capacity["cpu"], capacity["memory"]) == ("2", "3Gi"), capacity

    wait_until(lambda: runs_everywhere(k, "app", 2), "the pushed image running on both nodes", timeout=180)

    # Deleting the cluster leaves the registry running, off its network.
    assert kindlike(engine_kind, "delete", "cluster", "--name", name, "--kubeconfig", str(d / "kubeconfig"),
                    env=env).returncode == 0
    assert [(r.name, r.state, r.clusters) for r in reg.list_registries(engine) if r.name == r1] == \
        [(r1, "running", [])]
    res = kindlike(engine_kind, "registry", "delete", r1, env=env)
    assert res.returncode == 0, res.stderr
    assert [r.name for r in reg.list_registries(engine) if r.name == r1] == []
    assert engine.list_volumes(reg.labels_of(r1)) == []
    assert not engine.network_exists(reg.network_of(r1))


def test_a_missing_registry_is_refused_before_anything_is_created(engine, engine_kind, setup):
    name, (r1,), d, env = setup
    res = kindlike(engine_kind, "create", "cluster", "--name", name, "--registry", r1,
                   "--kubeconfig", str(d / "kubeconfig"), env=env)
    assert res.returncode == 1
    assert [line for line in res.stderr.splitlines() if line.startswith("ERROR")] == \
        [f"ERROR: no registry named {r1!r}"], res.stderr
    assert "Traceback" not in res.stderr
    assert engine.list_containers(cluster_labels(name)) == []


@pytest.mark.engines("rootless-docker", "rootless-podman")
def test_node_limits_are_refused_where_the_engine_cannot_enforce_them(engine, engine_kind, setup):
    name, _, d, env = setup
    if engine.info().cpu_limit and engine.info().memory_limit:
        pytest.fail(f"{engine_kind} enforces limits on this host: this test is for hosts where it does not")
    res = kindlike(engine_kind, "create", "cluster", "--name", name, "--node-cpus", "1", "--node-memory", "1Gi",
                   "--kubeconfig", str(d / "kubeconfig"), env=env)
    assert res.returncode == 1
    assert [line for line in res.stderr.splitlines() if line.startswith("ERROR")][0].startswith(
        "ERROR: CPU and memory limits for nodes cannot be enforced"), res.stderr
    assert engine.list_containers(cluster_labels(name)) == []
