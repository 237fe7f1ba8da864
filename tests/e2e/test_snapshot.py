"""Warm starts through the CLI, one shape under each of two engines: a 1+2 cluster
saved as a snapshot, or a 1-node cluster saved to an archive (save -o,
delete, load, export); two copies of each started at once under other
names, each Ready with Flannel, DNS and the snapshot's workload answering,
and independent of the other (its own API port, its own objects, alive after
the other is deleted)."""
from __future__ import annotations

import json
import shutil
import subprocess
import tarfile
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from kindlike.cluster.nodes import cluster_labels, control_planes, list_nodes
from kindlike.load import import_archive
from tests.e2e.cluster_checks import wait_for
from tests.e2e.helpers import cli_env, http_from_pod, kindlike, kubectl_bin, retry, workloads
from tests.engine_fixtures import connect, install_user_venv, user_dir

pytestmark = pytest.mark.e2e


@pytest.fixture
def scratch(engine, engine_kind, node_image):
    """(id, scratch dir, env for the CLI, names made); every cluster and
    snapshot named in `made` is deleted afterwards."""
    if engine_kind.startswith("rootless"):
        install_user_venv()
    d = user_dir()
    env = cli_env(engine, engine_kind)
    made = {"clusters": [], "snapshots": []}
    yield uuid.uuid4().hex[:5], d, env, made
    for c in made["clusters"]:
        kindlike(engine_kind, "delete", "cluster", "--name", c, "--kubeconfig", str(d / "kubeconfig"), env=env)
    if made["snapshots"]:
        kindlike(engine_kind, "snapshot", "delete", *made["snapshots"], env=env)
    eng = connect(engine_kind)
    from kindlike.snapshot import list_snapshots

    left = ([c.name for n in made["clusters"] for c in eng.list_containers(cluster_labels(n))],
            [s.name for s in list_snapshots(eng) if s.name in made["snapshots"]])
    eng.close()
    shutil.rmtree(d, ignore_errors=True)
    assert left == ([], []), f"left behind: {left}"


def kubectl(kubectl_path, d, context):
    def k(*args, stdin=None, check=True, timeout=120):
        r = subprocess.run([str(kubectl_path), f"--kubeconfig={d / 'kubeconfig'}", f"--context=kindlike-{context}",
                            *args], input=stdin, capture_output=True, text=True, timeout=timeout)
        if check:
            assert r.returncode == 0, f"kubectl {' '.join(args)} ({context}): {r.stderr}"
        return r.stdout
    return k


def make_source(engine_kind, engine, name, d, env, made, roles, busybox_archive):
    cfg = d / f"{name}.yaml"
    cfg.write_text("kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nnodes:\n" + "".join(f"- role: {r}\n" for r in roles))
    shutil.chown(cfg, d.owner(), d.group())
    made["clusters"].append(name)
    res = kindlike(engine_kind, "create", "cluster", "--name", name, "--config", str(cfg), "--wait", "5m",
                   "--kubeconfig", str(d / "kubeconfig"), env=env)
    assert res.returncode == 0, res.stderr
    nodes = list_nodes(engine, name)
    import_archive(nodes, busybox_archive)
    return nodes


# One shape per engine, every code path but the node count shared by both:
# a 1+2 snapshot under rootless Docker, a 1-node one through archives under
# rootless Podman; rootful Docker saves and loads one through the pytest
# plugin (tests/e2e/test_pytest_plugin.py). Rootful Podman differs from
# rootless Podman only in where its store is.
@pytest.mark.engines("rootless-docker")
def test_snapshots_copied_twice_at_once(engine, engine_kind, scratch, busybox_archive, tmp_path):
    """A 1+2 cluster saved (and running again after), copied twice at once."""
    copied_twice(engine, engine_kind, scratch, busybox_archive, tmp_path, ["control-plane", "worker", "worker"])


@pytest.mark.engines("rootless-podman")
def test_one_node_snapshot_through_archives(engine, engine_kind, scratch, busybox_archive, tmp_path):
    """save -o FILE --leave-stopped, delete, load FILE, export: the copies
    start from the snapshot as loaded back from its archive."""
    copied_twice(engine, engine_kind, scratch, busybox_archive, tmp_path, ["control-plane"], through_archive=True)


def copied_twice(engine, engine_kind, scratch, busybox_archive, tmp_path, roles, through_archive=False):
    sid, d, env, made = scratch
    src = f"src{len(roles)}{sid}"
    nodes = make_source(engine_kind, engine, src, d, env, made, roles, busybox_archive)
    kube = kubectl_bin(control_planes(engine, src)[0], tmp_path)
    k = kubectl(kube, d, src)
    # The controller manager makes the default ServiceAccount a moment after create.
    retry(lambda: k("apply", "-f", "-", stdin=workloads(nodes[-1].name)), attempts=30, delay=1)
    k("wait", "--for=condition=Ready", "pod/web", "--timeout=180s")
    k("rollout", "status", "daemonset/probe", "--timeout=180s")

    snap = f"snap{len(roles)}-{sid}"
    made["snapshots"].append(snap)
    archive = d / f"{snap}.tar"
    # The 1+2 source runs again after the save; the 1-node one is left stopped.
    again = not through_archive
    res = kindlike(engine_kind, "snapshot", "save", "--name", src, snap,
                   *([] if again else ["--leave-stopped", "-o", str(archive)]), env=env)
    assert res.returncode == 0, res.stderr
    if again:
        assert retry(lambda: k("get", "--raw", "/readyz", timeout=10), attempts=30, delay=2).strip() == "ok"
    else:
        assert {c.state for c in engine.list_containers(cluster_labels(src))} == {"exited"}
    # A second save of the name is refused.
    res = kindlike(engine_kind, "snapshot", "save", "--name", src, snap, env=env)
    assert res.returncode != 0 and "already exists" in res.stderr and "Traceback" not in res.stderr
    res = kindlike(engine_kind, "snapshot", "list", env=env)
    assert any(line.split()[:3] == [snap, str(len(roles)), "v1.37.2"] for line in res.stdout.splitlines()), \
        res.stdout
    if through_archive:
        # Gone from the engine, back from the file `save -o` wrote.
        res = kindlike(engine_kind, "snapshot", "delete", snap, env=env)
        assert res.returncode == 0, res.stderr
        assert snap not in kindlike(engine_kind, "snapshot", "list", env=env).stdout.split()
        res = kindlike(engine_kind, "snapshot", "load", str(archive), env=env)
        assert res.returncode == 0, res.stderr
        assert snap in kindlike(engine_kind, "snapshot", "list", env=env).stdout.split()
        exported = d / "exported.tar"
        res = kindlike(engine_kind, "snapshot", "export", snap, str(exported), env=env)
        assert res.returncode == 0, res.stderr
        with tarfile.open(exported) as tar:
            assert "manifest.json" in tar.getnames()
        archive.unlink()
        exported.unlink()
    # The copies must not lean on the source: it is gone before they start.
    res = kindlike(engine_kind, "delete", "cluster", "--name", src, "--kubeconfig", str(d / "kubeconfig"), env=env)
    assert res.returncode == 0, res.stderr

    copies = [f"cp{len(roles)}a{sid}", f"cp{len(roles)}b{sid}"]
    made["clusters"] += copies
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda c: kindlike(
            engine_kind, "create", "cluster", "--from-snapshot", snap, "--name", c, "--wait", "3m",
            "--kubeconfig", str(d / "kubeconfig"), env=env), copies))
    for r in results:
        assert r.returncode == 0, r.stderr
        assert "✓ Starting from snapshot" in r.stderr
    ks = {c: kubectl(kube, d, c) for c in copies}
    ports = set()
    for c in copies:
        check_copy(engine, c, ks[c], [n.name for n in nodes], roles)
        ports.add(engine.published_port(f"{c}-control-plane", 6443)[1])
    assert len(ports) == 2, "both copies published the same API port"

    # Independent: an object made in one is not in the other, and one
    # keeps working when the other is deleted.
    a, b = copies
    ks[a]("create", "configmap", "only-in-a", "--from-literal=x=1")
    assert "NotFound" in subprocess.run(
        [str(kube), f"--kubeconfig={d / 'kubeconfig'}", f"--context=kindlike-{b}", "get", "configmap",
         "only-in-a"], capture_output=True, text=True).stderr
    res = kindlike(engine_kind, "delete", "cluster", "--name", a, "--kubeconfig", str(d / "kubeconfig"), env=env)
    assert res.returncode == 0, res.stderr
    check_serving(ks[b], roles)
    res = kindlike(engine_kind, "delete", "cluster", "--name", b, "--kubeconfig", str(d / "kubeconfig"), env=env)
    assert res.returncode == 0, res.stderr


def test_a_missing_snapshot_is_one_line_and_leaves_nothing(engine, engine_kind, scratch):
    sid, d, env, made = scratch
    name = f"none{sid}"
    made["clusters"].append(name)
    res = kindlike(engine_kind, "create", "cluster", "--from-snapshot", f"missing-{sid}", "--name", name,
                   "--kubeconfig", str(d / "kubeconfig"), env=env)
    errors = [line for line in res.stderr.splitlines() if line.startswith("ERROR")]
    assert res.returncode == 1 and errors == [f"ERROR: no snapshot named 'missing-{sid}' in the "
                                              f"{engine.name} ({engine_kind.split('-')[0]}) engine"], res.stderr
    assert "Traceback" not in res.stderr
    assert not engine.network_exists(f"kindlike-{name}") and not (d / "kubeconfig").exists()


def check_copy(engine, cluster, k, node_names, roles) -> None:
    nodes = list_nodes(engine, cluster)
    assert [n.role for n in nodes] == roles
    items = json.loads(k("get", "nodes", "-o", "json"))["items"]
    # The snapshot's node names, each at its container's new address.
    by_name = {i["metadata"]["name"]: i for i in items}
    assert sorted(by_name) == sorted(node_names)
    ips = sorted(n.ip for n in nodes)
    assert sorted(next(a["address"] for a in i["status"]["addresses"] if a["type"] == "InternalIP")
                  for i in items) == ips
    for i in items:
        ready = next(c for c in i["status"]["conditions"] if c["type"] == "Ready")
        assert ready["status"] == "True", (cluster, i["metadata"]["name"], ready)

    # Flannel's lease of each node (its annotations) names the new address.
    def leases_moved():
        now = json.loads(k("get", "nodes", "-o", "json"))["items"]
        return all(i["metadata"].get("annotations", {}).get("flannel.alpha.coreos.com/public-ip") ==
                   next(a["address"] for a in i["status"]["addresses"] if a["type"] == "InternalIP") for i in now)
    wait_for(leases_moved, f"Flannel's public-ip annotations at the new addresses in {cluster}", timeout=90)
    # Flannel: a Running flanneld per node and its VXLAN device in each node.
    def flannel_running():
        pods = json.loads(k("-n", "kube-flannel", "get", "pods", "-o", "json"))["items"]
        return {p["spec"]["nodeName"] for p in pods if p["status"].get("phase") == "Running"} >= set(node_names)
    wait_for(flannel_running, f"Flannel Running on every node of {cluster}")
    for n in nodes:
        # flanneld makes the device a moment after its pod is Running.
        link = wait_for(lambda: n.exec("ip", "-d", "link", "show", "flannel.1", check=False).stdout,
                        f"flannel.1 in {n.name}", timeout=60, delay=1)
        assert "vxlan id 1 " in link, f"{n.name}: {link}"
    check_serving(k, roles)


def check_serving(k, roles) -> None:
    """The snapshot's workload: the web pod answers through its Service from
    the probe pod on another node (across Flannel's VXLAN when there is
    one), and cluster DNS resolves the Service."""
    k("wait", "--for=condition=Ready", "pod/web", "--timeout=180s")
    k("rollout", "status", "daemonset/probe", "--timeout=180s")
    pods = json.loads(k("get", "pods", "-l", "app=probe", "-o", "json"))["items"]
    web_node = json.loads(k("get", "pod", "web", "-o", "json"))["spec"]["nodeName"]
    client = next(p["metadata"]["name"] for p in pods
                  if p["spec"]["nodeName"] != web_node or len(roles) == 1)
    svc_ip = k("get", "service", "web", "-o", "jsonpath={.spec.clusterIP}")
    assert retry(lambda: http_from_pod(k, client, svc_ip, 80)).strip() == "web"
    out = wait_for(lambda: (lambda o: o if "Address" in o.split("Name:", 1)[-1] and "Name:" in o else "")(
        k("exec", client, "--", "nslookup", "web.default.svc.cluster.local", check=False)),
        "DNS answer for the web Service", timeout=120)
    assert svc_ip in out, out
