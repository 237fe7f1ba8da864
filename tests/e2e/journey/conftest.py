"""One cluster per engine for the whole journey of this package: created
through the CLI (1 control plane + 2 workers, a NodePort on a host port,
--wait), used by every module here in file order, and deleted when the
package ends for that engine (pass or fail), before the next engine's is
made:

  test_1_create     what create made: nodes, pod network, Services, DNS,
                    storage, the seed's rootless settings (reads only)
  test_2_day2       get, load, export, kubeconfig commands through the CLI
  test_3_api        the same cluster through the Python API
  test_4_ports      expose add/list/remove, the LoadBalancer publisher
  test_4_registry   a local registry connected to the running cluster
  test_5_lifecycle  engine restart, stop (whole and partial), start (the
                    registry's image pulled again), delete

A bootstrap costs most of an e2e test's time; one per engine replaces the
four each engine used to make."""
from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
import textwrap
import uuid
from pathlib import Path

import pytest

import kindlike as kl
from kindlike import registry as reg
from kindlike.cluster.nodes import Node, cluster_labels, control_planes, delete_cluster, list_nodes, network_name
from kindlike.load import import_archive
from tests.e2e import cluster_checks as checks
from tests.e2e.helpers import (
    NODEPORT,
    PVC,
    cli_env,
    kindlike,
    kubectl_bin,
    kubectl_for,
    print_kubelet_errors,
    workloads,
)
from tests.engine_fixtures import connect, install_user_venv, user_dir


@dataclasses.dataclass
class Journey:
    name: str
    engine_kind: str
    env: dict[str, str]        # points the CLI at the engine
    dir: Path                  # owned by the CLI's user: config, kubeconfig
    kubeconfig: Path
    host_port: int             # the NodePort's extraPortMappings host port
    created: subprocess.CompletedProcess  # `create cluster`'s output
    nodes: list[Node]
    k: object                  # kubectl with the exported kubeconfig
    registry: str              # made by test_4_registry, deleted by test_5_lifecycle or at the end

    def cli(self, *args: str) -> subprocess.CompletedProcess:
        return kindlike(self.engine_kind, *args, env=self.env)


# On every node, from an image every node holds (local-path's helper, a
# static busybox): its address and one DNS question, asked once at start;
# a failure is in its log, never retried (restartPolicy does not matter:
# the container does not exit).
FIRST_PODS = textwrap.dedent("""\
    apiVersion: apps/v1
    kind: DaemonSet
    metadata: {name: first}
    spec:
      selector: {matchLabels: {app: first}}
      template:
        metadata: {labels: {app: first}}
        spec:
          tolerations: [{operator: Exists}]
          containers:
          - name: first
            image: docker.io/kindlike/local-path-helper:bookworm
            imagePullPolicy: Never
            command:
            - sh
            - -c
            - |
              out=$(busybox nslookup kubernetes.default.svc.cluster.local 2>&1)
              echo rc=$?
              echo "$out"
              exec sleep 1000000
    """)


@pytest.fixture(scope="package")
def journey(engine, engine_kind, node_image, busybox_archive, tmp_path_factory):
    if engine_kind.startswith("rootless"):
        install_user_venv()
    d = user_dir()
    name = f"j{uuid.uuid4().hex[:6]}"
    env = cli_env(engine, engine_kind)
    cfg = d / "cluster.yaml"
    cfg.write_text(textwrap.dedent(f"""\
        kind: Cluster
        apiVersion: kind.x-k8s.io/v1alpha4
        networking:
          dnsSearch: [{checks.DNS_SEARCH}]
        nodes:
        - role: control-plane
        - role: worker
          extraPortMappings:
          - containerPort: {NODEPORT}
            hostPort: -1  # the engine picks a free one
            listenAddress: 127.0.0.1
        - role: worker
        """))
    shutil.chown(cfg, d.owner(), d.group())
    kubeconfig = d / "kubeconfig"
    # The plan of the same create, as a user checks it first: printed, and
    # nothing made (no node, no network, no kubeconfig).
    res = kindlike(engine_kind, "create", "cluster", "--name", name, "--config", str(cfg), "--dry-run",
                   "-o", "json", "--kubeconfig", str(kubeconfig), env=env)
    assert res.returncode == 0, res.stderr
    plan = json.loads(res.stdout)
    assert [n["name"] for n in plan["nodes"]] == [f"{name}-control-plane", f"{name}-worker", f"{name}-worker2"]
    assert engine.list_containers(cluster_labels(name)) == [] and not kubeconfig.exists()
    assert not engine.network_exists(network_name(name))
    try:
        # --retain: a failed create leaves the nodes for the journals printed
        # below; the cleanup deletes the cluster either way.
        res = kindlike(engine_kind, "create", "cluster", "--name", name, "--config", str(cfg), "--wait", "5m",
                       "--kubeconfig", str(kubeconfig), "--retain", env=env)
        if res.returncode != 0:
            print_kubelet_errors(engine, name)
        assert res.returncode == 0, res.stderr
        nodes = list_nodes(engine, name)
        k = kubectl_for(kubectl_bin(control_planes(engine, name)[0], tmp_path_factory.mktemp("kubectl")), kubeconfig)
        # First thing after create --wait returns: pods that ask DNS once
        # (tests/e2e/journey/test_1_create.py reads their answers).
        k("apply", "-f", "-", stdin=FIRST_PODS)
        host_port = engine.published_port(nodes[1].name, NODEPORT)[1]
        import_archive(nodes, busybox_archive)
        k("apply", "-f", "-", stdin=workloads(nodes[2].name) + "---\n" + PVC)
        k("rollout", "status", "daemonset/probe", "--timeout=180s")
        k("wait", "--for=condition=Ready", "pod/web", "pod/keeper", "--timeout=180s")
        yield Journey(name, engine_kind, env, d, kubeconfig, host_port, res, nodes, k, f"reg-{name}")
    finally:
        # The session's engine client may predate an engine restart.
        eng = connect(engine_kind)
        try:
            delete_cluster(eng, name)
            reg.delete(eng, f"reg-{name}")
            left = (eng.list_containers(cluster_labels(name)), eng.list_volumes(cluster_labels(name)),
                    eng.list_volumes(reg.labels_of(f"reg-{name}")))
        finally:
            eng.close()
        shutil.rmtree(d, ignore_errors=True)
        assert left == ([], [], []), f"left behind: {left}"


@pytest.fixture(scope="package")
def cluster(journey, engine_kind):
    """The journey's cluster as the Python API sees it."""
    eng = connect(engine_kind)
    c = kl.Cluster.get(journey.name, engine=eng)
    yield c
    c.close()
    eng.close()
