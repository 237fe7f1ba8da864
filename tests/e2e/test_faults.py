"""Faults during and after `create cluster`, under rootful Docker through the
CLI a user runs. Every case ends with no container, volume or network
carrying the cluster's labels, and the user's kubeconfig intact:

* SIGKILL at the start of each step in turn, then `delete cluster`;
* SIGINT and SIGTERM mid-create: the run cleans up by itself;
* three clusters created at once by separate processes into one kubeconfig;
* a node container removed behind kindlike's back: `get nodes` and
  `delete cluster` still work."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import yaml

from kindlike.cluster.nodes import cluster_labels, delete_cluster, network_name
from kindlike.create.steps import STEPS
from tests.engine_fixtures import connect, ensure_node_image, start_engine

pytestmark = pytest.mark.e2e

OTHER = {"apiVersion": "v1", "kind": "Config", "current-context": "mine",
         "clusters": [{"name": "mine", "cluster": {"server": "https://10.1.2.3:6443"}}],
         "users": [{"name": "mine", "user": {"token": "secret"}}],
         "contexts": [{"name": "mine", "context": {"cluster": "mine", "user": "mine"}}]}
ENV = {**os.environ, "DOCKER_HOST": "unix:///var/run/docker.sock"}


@pytest.fixture(scope="module")
def docker_engine(tmp_path_factory):
    start_engine("rootful-docker")
    eng = connect("rootful-docker")
    ensure_node_image(eng, "rootful-docker", tmp_path_factory.mktemp("img"))
    yield eng
    eng.close()


@pytest.fixture
def kubeconfig(tmp_path):
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(OTHER))
    path.chmod(0o600)
    return path


@pytest.fixture
def names(docker_engine):
    made: list[str] = []

    def new() -> str:
        made.append(f"flt{uuid.uuid4().hex[:6]}")
        return made[-1]

    yield new
    for n in made:
        delete_cluster(docker_engine, n)


def kindlike(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "kindlike.cli.main", "--provider", "docker", *args],
                          capture_output=True, text=True, env=ENV, timeout=timeout)


def start_create(name: str, kubeconfig, *extra: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "kindlike.cli.main", "--provider", "docker", "create", "cluster",
                             "--name", name, "--kubeconfig", str(kubeconfig), *extra],
                            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=ENV)


def wait_for_line(proc: subprocess.Popen, marker: str, timeout: float = 300) -> list[str]:
    """Read the create's status lines until one contains `marker`."""
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    assert proc.stderr is not None
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        seen.append(line)
        if marker in line:
            return seen
    raise AssertionError(f"no {marker!r} in the create's output:\n{''.join(seen)}")


def assert_nothing_left(engine, name: str, kubeconfig) -> None:
    assert engine.list_containers(cluster_labels(name)) == []
    assert engine.list_volumes(cluster_labels(name)) == []
    assert not engine.network_exists(network_name(name))
    doc = yaml.safe_load(kubeconfig.read_text())
    for key in ("clusters", "users", "contexts"):
        assert OTHER[key][0] in doc[key], f"the user's own {key} entry is gone"
        assert all(name not in e["name"] for e in doc[key])
    assert not (kubeconfig.parent / (kubeconfig.name + ".lock")).exists()


# The status line that ends step k-1 is the moment step k begins. Only the
# steps a one-node create with no registry, no node sizes and --wait 0 runs:
# a skipped step prints no line to wait for.
RUNNING = [s.title for s in STEPS if s.title.split()[0] not in ("Joining", "Waiting", "Sizing", "Connecting")]


@pytest.mark.parametrize("step", RUNNING[1:], ids=lambda t: t.split()[0].lower())
def test_sigkill_at_each_step_then_delete_cleans_everything(docker_engine, names, kubeconfig, step):
    name = names()
    before = RUNNING[RUNNING.index(step) - 1]
    proc = start_create(name, kubeconfig, "--wait", "0")
    try:
        wait_for_line(proc, f"✓ {before}")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    res = kindlike("delete", "cluster", "--name", name, "--kubeconfig", str(kubeconfig))
    assert res.returncode == 0, res.stderr
    assert_nothing_left(docker_engine, name, kubeconfig)


@pytest.mark.parametrize("sig,code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["sigint", "sigterm"])
def test_interrupted_create_cleans_up_by_itself(docker_engine, names, kubeconfig, sig, code):
    name = names()
    proc = start_create(name, kubeconfig, "--wait", "0")
    wait_for_line(proc, "✓ Writing configuration")  # mid-way: nodes exist, kubeadm init starts
    proc.send_signal(sig)
    rest = proc.stderr.read() if proc.stderr else ""
    assert proc.wait(120) == code, rest
    assert "Traceback" not in rest
    assert_nothing_left(docker_engine, name, kubeconfig)


def test_three_concurrent_creates_share_one_kubeconfig(docker_engine, names, kubeconfig):
    todo = [names() for _ in range(3)]
    with ThreadPoolExecutor(max_workers=3) as pool:
        results = list(pool.map(lambda n: kindlike("create", "cluster", "--name", n, "--kubeconfig", str(kubeconfig),
                                                   "--wait", "5m", timeout=900), todo))
    for n, res in zip(todo, results):
        assert res.returncode == 0, f"{n}: {res.stderr}"
        assert "lock" not in res.stderr.lower()
    doc = yaml.safe_load(kubeconfig.read_text())
    contexts = {c["name"] for c in doc["contexts"]}
    assert contexts == {"mine"} | {f"kindlike-{n}" for n in todo}
    # One command for all three, as a CI job's clean-up does.
    assert kindlike("delete", "clusters", *todo, "--kubeconfig", str(kubeconfig)).returncode == 0
    for n in todo:
        assert_nothing_left(docker_engine, n, kubeconfig)
    assert yaml.safe_load(kubeconfig.read_text())["contexts"] == OTHER["contexts"]


def test_node_removed_behind_kindlikes_back(docker_engine, names, kubeconfig, tmp_path):
    name = names()
    cfg = tmp_path / "two.yaml"
    cfg.write_text("kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nnodes:\n- role: control-plane\n- role: worker\n")
    res = kindlike("create", "cluster", "--name", name, "--config", str(cfg), "--kubeconfig", str(kubeconfig))
    assert res.returncode == 0, res.stderr
    subprocess.run(["docker", "-H", ENV["DOCKER_HOST"], "rm", "-f", f"{name}-worker"], check=True,
                   capture_output=True)
    res = kindlike("get", "nodes", "--name", name)
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == [f"{name}-control-plane"]
    res = kindlike("delete", "cluster", "--name", name, "--kubeconfig", str(kubeconfig))
    assert res.returncode == 0, res.stderr
    assert_nothing_left(docker_engine, name, kubeconfig)


def test_engine_stopped_mid_create_then_cleaned_once_back(docker_engine, names, kubeconfig):
    """dockerd goes away while kubeadm init runs: one clear error naming the
    engine and how to clean up, then `delete cluster` once it is back."""
    name = names()
    proc = start_create(name, kubeconfig, "--wait", "0")
    wait_for_line(proc, "✓ Writing configuration")
    pid = int(open("/var/run/docker.pid").read().strip())
    os.kill(pid, signal.SIGTERM)
    rest = proc.stderr.read() if proc.stderr else ""
    try:
        assert proc.wait(300) == 1, rest
        assert "Traceback" not in rest and "step 'Starting control-plane" in rest, rest
        assert "docker" in rest and f"kindlike delete cluster --name {name}" in rest, rest
    finally:
        for _ in range(100):  # dockerd exits, then it is started again
            try:
                os.kill(pid, 0)
                time.sleep(0.2)
            except ProcessLookupError:
                break
        start_engine("rootful-docker", again=True)
    res = kindlike("delete", "cluster", "--name", name, "--kubeconfig", str(kubeconfig))
    assert res.returncode == 0, res.stderr
    assert_nothing_left(connect("rootful-docker"), name, kubeconfig)
