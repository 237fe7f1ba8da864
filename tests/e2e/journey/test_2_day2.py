"""Day-2 commands on the journey's cluster, through the CLI its user runs:
get clusters/nodes/kubeconfig (--internal), export kubeconfig into a file
that holds another entry, load docker-image (--nodes, skips, errors) and a
pod run from the loaded image with imagePullPolicy: Never, load
image-archive, export logs (directory, tarball, default temporary
directory), delete of missing clusters."""
from __future__ import annotations

import json
import shutil
import tarfile
import textwrap
import uuid
from pathlib import Path

import pytest
import yaml

import kindlike
from kindlike.cluster.nodes import cluster_labels
from tests.e2e.helpers import derived_image

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def scratch(journey):
    """A directory the CLI's user can write to; removed afterwards."""
    d = journey.dir / "day2"
    d.mkdir()
    shutil.chown(d, journey.dir.owner(), journey.dir.group())
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="module")
def fresh_image(engine, tmp_path_factory):
    """An image no node holds yet (an ID of its own), removed afterwards."""
    tag = derived_image(engine, "kindlike/e2e-busybox:day2", "day2", tmp_path_factory.mktemp("img"))
    yield tag
    engine.remove_image(tag)


@pytest.fixture(scope="module")
def archived_image(engine, tmp_path_factory):
    tag = derived_image(engine, "kindlike/e2e-busybox:archive", "archive", tmp_path_factory.mktemp("img"))
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


def node_names(journey) -> list[str]:
    return [n.name for n in journey.nodes]


def test_get_clusters_and_nodes(journey):
    res = journey.cli("get", "clusters")
    assert res.returncode == 0 and journey.name in res.stdout.split()  # piped: names only
    res = journey.cli("get", "clusters", "-o", "wide")
    assert res.returncode == 0
    assert any(line.split()[:3] == [journey.name, "running", "3"] for line in res.stdout.splitlines()), res.stdout
    res = journey.cli("get", "nodes", "--name", journey.name)
    assert res.returncode == 0 and res.stdout.split() == node_names(journey)
    res = journey.cli("get", "nodes", "-A")
    assert res.returncode == 0 and set(node_names(journey)) <= set(res.stdout.split())
    res = journey.cli("get", "nodes", "--name", f"missing{uuid.uuid4().hex[:6]}")
    assert res.returncode == 0 and "No nodes found" in res.stderr
    res = journey.cli("get", "clusters", "-o", "name")
    assert res.returncode == 0 and journey.name in res.stdout.split()
    assert not any(line.split()[1:2] == ["running"] for line in res.stdout.splitlines()), res.stdout


def test_version_and_completion(journey, engine, engine_kind):
    res = journey.cli("version")
    assert res.returncode == 0 and res.stdout.startswith("kindlike "), res.stdout
    res = journey.cli("version", "--engine")
    assert res.returncode == 0, res.stderr
    facts = json.loads(res.stdout.split("\n", 1)[1])
    assert facts["name"] == engine.name and facts["rootless"] == engine_kind.startswith("rootless")
    res = journey.cli("completion", "bash")
    # The script bash sources: it defines the completion function and binds it.
    assert res.returncode == 0 and "complete " in res.stdout and "_kindlike_completion" in res.stdout, res.stdout


def test_get_kubeconfig_external_and_internal(journey):
    res = journey.cli("get", "kubeconfig", "--name", journey.name)
    assert res.returncode == 0, res.stderr
    external = yaml.safe_load(res.stdout)
    assert external["clusters"][0]["cluster"]["server"] == \
        yaml.safe_load(journey.kubeconfig.read_text())["clusters"][0]["cluster"]["server"]
    res = journey.cli("get", "kubeconfig", "--name", journey.name, "--internal")
    assert res.returncode == 0, res.stderr
    internal = yaml.safe_load(res.stdout)
    assert internal["clusters"][0]["cluster"]["server"] == f"https://{journey.name}-control-plane:6443"
    # The internal one is what a pod or a node of the cluster uses: it answers there.
    cp = journey.nodes[0]
    cp.exec("sh", "-c", "umask 077 && cat > /tmp/internal.kubeconfig", stdin=res.stdout)
    out = cp.exec("kubectl", "--kubeconfig=/tmp/internal.kubeconfig", "get", "nodes", "-o", "name").stdout
    assert sorted(out.split()) == sorted(f"node/{n}" for n in node_names(journey))


def test_export_kubeconfig_keeps_other_entries(journey, scratch):
    path = scratch / "config"
    other = {"apiVersion": "v1", "kind": "Config", "current-context": "mine",
             "clusters": [{"name": "mine", "cluster": {"server": "https://10.1.2.3:6443"}}],
             "users": [{"name": "mine", "user": {"token": "secret"}}],
             "contexts": [{"name": "mine", "context": {"cluster": "mine", "user": "mine"}}]}
    path.write_text(yaml.safe_dump(other))
    shutil.chown(path, scratch.owner(), scratch.group())
    res = journey.cli("export", "kubeconfig", "--name", journey.name, "--kubeconfig", str(path))
    assert res.returncode == 0, res.stderr
    doc = yaml.safe_load(path.read_text())
    assert doc["current-context"] == f"kindlike-{journey.name}"
    for key in ("clusters", "users", "contexts"):
        names = [e["name"] for e in doc[key]]
        assert "mine" in names and f"kindlike-{journey.name}" in names, (key, names)
    assert next(u for u in doc["users"] if u["name"] == "mine")["user"] == {"token": "secret"}
    # The exported entry works.
    out = journey.k("--kubeconfig", str(path), "get", "nodes", "-o", "name")
    assert len(out.split()) == 3


def test_load_docker_image_then_run_it(journey, cluster, fresh_image):
    cp, worker, worker2 = node_names(journey)
    # Only one worker first: the other nodes are not touched.
    res = journey.cli("load", "docker-image", fresh_image, "--name", journey.name, "--nodes", worker)
    assert res.returncode == 0, res.stderr
    assert f'not yet present on node "{worker}"' in res.stderr and f'"{cp}"' not in res.stderr
    # Then all nodes: the worker holds the same image ID and is skipped.
    res = journey.cli("load", "docker-image", fresh_image, "--name", journey.name)
    assert res.returncode == 0, res.stderr
    assert f'not yet present on node "{cp}"' in res.stderr and f'not yet present on node "{worker2}"' in res.stderr
    assert f'not yet present on node "{worker}"' not in res.stderr
    # Again: nothing to do anywhere.
    res = journey.cli("load", "docker-image", fresh_image, "--name", journey.name)
    assert res.returncode == 0 and "already present on all nodes" in res.stderr
    # The pod spec's plain name finds it on every node, whichever engine saved it.
    run_pods(cluster, fresh_image, "loaded")


def test_load_errors_are_clear(journey, fresh_image):
    missing_img = f"kindlike/not-here:{uuid.uuid4().hex[:6]}"
    res = journey.cli("load", "docker-image", missing_img, "--name", journey.name)
    assert res.returncode == 1
    assert "not present in" in res.stderr and missing_img in res.stderr and "Traceback" not in res.stderr
    res = journey.cli("load", "docker-image", fresh_image, "--name", journey.name, "--nodes", "nope-worker")
    assert res.returncode == 1 and "has no node named nope-worker" in res.stderr
    assert f"{journey.name}-worker" in res.stderr  # lists the real ones
    res = journey.cli("load", "docker-image", fresh_image, "--name", f"missing{uuid.uuid4().hex[:6]}")
    assert res.returncode == 1 and "no cluster named" in res.stderr
    res = journey.cli("load", "image-archive", "/nonexistent/images.tar", "--name", journey.name)
    assert res.returncode == 1 and "does not exist" in res.stderr


def loaded_into(stderr: str) -> list[str]:
    """The nodes of load's "Loaded ... into N nodes: a, b" line."""
    line = next(x for x in stderr.splitlines() if x.startswith("Loaded "))
    return line.rsplit(": ", 1)[1].split(", ")


def test_load_image_archive(journey, cluster, engine, archived_image, scratch):
    archive = scratch / "second.tar"
    engine.save_images([archived_image], archive)
    shutil.chown(archive, scratch.owner(), scratch.group())
    first, rest = node_names(journey)[0], node_names(journey)[1:]
    res = journey.cli("load", "image-archive", str(archive), "--name", journey.name, "--nodes", first)
    assert res.returncode == 0, res.stderr
    assert loaded_into(res.stderr) == [first]
    res = journey.cli("load", "image-archive", str(archive), "--name", journey.name)
    assert res.returncode == 0, res.stderr
    assert loaded_into(res.stderr) == rest, "the node that has the image is skipped"
    res = journey.cli("load", "image-archive", str(archive), "--name", journey.name)
    assert res.returncode == 0 and "Nothing to load" in res.stderr
    run_pods(cluster, archived_image, "archived")


def test_export_logs(journey, scratch):
    nodes = node_names(journey)
    out = scratch / "logs"
    res = journey.cli("export", "logs", str(out), "--name", journey.name)
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
    tgz = scratch / "logs.tar.gz"
    res = journey.cli("export", "logs", str(tgz), "--name", journey.name)
    assert res.returncode == 0, res.stderr
    with tarfile.open(tgz) as tar:
        names = tar.getnames()
    assert all(f"logs/{n}/kubelet.log" in names for n in nodes)
    # Default: a new temporary directory, printed.
    res = journey.cli("export", "logs", "--name", journey.name)
    assert res.returncode == 0, res.stderr
    printed = Path(res.stdout.strip())
    try:
        assert printed.is_dir() and all((printed / n / "kubelet.log").is_file() for n in nodes)
    finally:
        shutil.rmtree(printed, ignore_errors=True)


def test_delete_missing_clusters_succeeds_with_a_note(journey):
    name = f"missing{uuid.uuid4().hex[:6]}"
    res = journey.cli("delete", "cluster", "--name", name)
    assert res.returncode == 0 and "does not exist" in res.stderr
    res = journey.cli("delete", "clusters", name, f"{name}b")
    assert res.returncode == 0 and res.stderr.count("does not exist") == 2
    res = journey.cli("delete", "clusters")
    assert res.returncode == 2 and "--all" in res.stderr


def test_cluster_state_is_only_labels(journey, engine):
    assert sorted(c.name for c in engine.list_containers(cluster_labels(journey.name))) == sorted(node_names(journey))
