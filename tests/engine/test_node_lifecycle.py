"""Node lifecycle against real engines: a 3-node cluster's containers from a
locally built systemd image, exec, copies, published ports reachable from the
host, node-to-node traffic, and a delete that leaves nothing behind."""
from __future__ import annotations

import pathlib
import shutil
import socket
import tempfile
import urllib.request

import pytest

from kindlike import constants
from kindlike.cluster.nodes import (
    cluster_labels,
    control_planes,
    delete_cluster,
    list_clusters,
    list_nodes,
    network_name,
)
from kindlike.create.provision import NodePlan, provision
from kindlike.engines.base import MountSpec, PortSpec
from kindlike.errors import ClusterError, EngineError
from kindlike.lifecycle import remove_node

pytestmark = pytest.mark.engine


@pytest.fixture
def share_dir():
    """A host directory a rootless engine's user can read too (pytest's own
    tmp_path lives under a root-only directory)."""
    d = pathlib.Path(tempfile.mkdtemp(prefix="kindlike-share-", dir="/tmp"))
    d.chmod(0o755)
    (d / "hello.txt").write_text("from the host\n")
    yield d
    shutil.rmtree(d, ignore_errors=True)


def three_nodes(name: str, image: str, share) -> list[NodePlan]:
    return [
        NodePlan(f"{name}-control-plane", "control-plane", image,
                 ports=[PortSpec(constants.API_SERVER_CONTAINER_PORT, -1, "127.0.0.1"),
                        PortSpec(8080, 0, "127.0.0.1")],
                 mounts=[MountSpec(str(share), "/mnt/share", read_only=True)]),
        NodePlan(f"{name}-worker", "worker", image,
                 ports=[PortSpec(8080, -1, "127.0.0.1"), PortSpec(9999, 0, "127.0.0.1", "UDP")]),
        NodePlan(f"{name}-worker2", "worker", image),
    ]


def http_get(host: str, port: int) -> str:
    with urllib.request.urlopen(f"http://{host}:{port}/", timeout=10) as r:
        return r.read().decode()


def udp_echo(host: str, port: int, payload: bytes) -> bytes:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(2)
        for _ in range(10):  # the forwarder may need a moment after boot
            s.sendto(payload, (host, port))
            try:
                return s.recv(100)
            except socket.timeout:
                continue
    raise AssertionError(f"no UDP echo from {host}:{port}")


def test_three_node_cluster(engine, systemd_image, cluster_name, share_dir, tmp_path):
    plans = three_nodes(cluster_name, systemd_image, share_dir)
    nodes = provision(engine, cluster_name, plans)
    assert [n.name for n in nodes] == [p.name for p in plans]

    assert cluster_name in list_clusters(engine)
    assert [(n.name, n.role) for n in list_nodes(engine, cluster_name)] == [(p.name, p.role) for p in plans]
    for c in engine.list_containers(cluster_labels(cluster_name)):
        assert c.labels[constants.LABEL_CLUSTER] == cluster_name
        assert c.labels[constants.LABEL_ROLE] in ("control-plane", "worker")

    cp, w1, w2 = list_nodes(engine, cluster_name)
    # exec: hostname is the node name, systemd is PID 1 and up.
    for n in (cp, w1, w2):
        assert n.output("hostname").strip() == n.name
        assert n.output("cat", "/proc/1/comm").strip() == "systemd"
        assert n.output("systemctl", "is-system-running", check=False).strip() in ("running", "degraded")
    res = cp.exec("sh", "-c", "exit 3", check=False)
    assert res.code == 3
    assert cp.exec("cat", stdin=b"via stdin").stdout == "via stdin"

    # the read-only host mount
    assert cp.read_file("/mnt/share/hello.txt") == "from the host\n"
    assert cp.exec("touch", "/mnt/share/x", check=False).code != 0

    # copy in and out
    w1.write_file("/etc/kindlike-test", "copied in\n", mode=0o600)
    assert w1.read_file("/etc/kindlike-test") == "copied in\n"
    assert w1.output("stat", "-c", "%a", "/etc/kindlike-test").strip() == "600"
    out = tmp_path / "out.txt"
    w1.copy_from("/etc/kindlike-test", out)
    assert out.read_text() == "copied in\n"
    outdir = tmp_path / "outdir"
    w1.copy_from("/srv/www", outdir)
    assert (outdir / "index.html").read_text().startswith("hello from kindlike")

    # /var is a volume of the cluster, not the container's overlay root
    assert engine.list_volumes(cluster_labels(cluster_name))
    assert w2.output("sh", "-c", "awk '$2==\"/var\"{print $2}' /proc/mounts").strip() == "/var"

    # published ports: API server port (engine-picked), 8080 (kindlike-picked
    # on the control plane, engine-picked on the worker), UDP 9999.
    host, api_port = engine.published_port(cp.name, constants.API_SERVER_CONTAINER_PORT)
    assert host == "127.0.0.1" and api_port > 0
    for node in (cp, w1):
        h, p = engine.published_port(node.name, 8080)
        assert h == "127.0.0.1"
        assert http_get(h, p).startswith("hello from kindlike"), node.name
    h, p = engine.published_port(w1.name, 9999, "UDP")
    assert udp_echo(h, p, b"ping-udp") == b"ping-udp"

    # node to node, by name (the network's DNS) and by address
    assert cp.ip and w1.ip and w2.ip and len({cp.ip, w1.ip, w2.ip}) == 3
    for src, dst in ((cp, w1), (w1, w2), (w2, cp)):
        src.exec("ping", "-c", "1", "-W", "5", dst.name)
        body = src.output("python3", "-c",
                          f"import urllib.request;print(urllib.request.urlopen('http://{dst.ip}:8080/').read().decode())")
        assert body.startswith("hello from kindlike")

    # Fixed addresses, in plan order, kept when the nodes stop and start
    # again in the opposite order (engines would otherwise hand them out anew).
    from kindlike.cluster.nodes import node_addresses

    expected = node_addresses(engine.network_subnet(network_name(cluster_name)), 3)
    assert [cp.ip, w1.ip, w2.ip] == expected
    engine.stop_containers([cp.name, w1.name, w2.name], timeout=10)
    assert {c.state for c in engine.list_containers(cluster_labels(cluster_name))} == {"exited"}
    engine.start_containers([w2.name, w1.name, cp.name])
    assert [cp.ip, w1.ip, w2.ip] == expected
    w2.exec("ping", "-c", "1", "-W", "5", cp.name)
    assert w1.read_file("/etc/kindlike-test") == "copied in\n"  # the container's own filesystem stays

    # `delete node`'s removal (its drain finds no kubectl in this image and
    # goes on): the worker's container and /var volume go, the other nodes
    # and theirs stay. Podman 4 ORs a volume list's label filters: the whole
    # cluster's volumes went, forced, and their containers with them.
    volumes = set(engine.list_volumes(cluster_labels(cluster_name)))
    remove_node(engine, cluster_name, w2.name)
    assert [n.name for n in list_nodes(engine, cluster_name)] == [cp.name, w1.name]
    assert volumes - set(engine.list_volumes(cluster_labels(cluster_name))) == {w2.name + constants.VAR_VOLUME_SUFFIX}

    # delete leaves no container, volume or network behind
    removed = delete_cluster(engine, cluster_name)
    assert sorted(removed["containers"]) == sorted(p.name for p in plans[:2])
    assert engine.list_containers(cluster_labels(cluster_name)) == []
    assert engine.list_volumes(cluster_labels(cluster_name)) == []
    assert not engine.network_exists(network_name(cluster_name))
    assert cluster_name not in list_clusters(engine)
    with pytest.raises(ClusterError):
        control_planes(engine, cluster_name)


def test_existing_cluster_is_refused(engine, systemd_image, cluster_name, tmp_path):
    plans = [NodePlan(f"{cluster_name}-control-plane", "control-plane", systemd_image)]
    provision(engine, cluster_name, plans)
    with pytest.raises(ClusterError, match="already exists"):
        provision(engine, cluster_name, plans)


def test_missing_image_fails_and_cleanup_removes_everything(engine, systemd_image, cluster_name):
    plans = [NodePlan(f"{cluster_name}-control-plane", "control-plane", systemd_image),
             NodePlan(f"{cluster_name}-worker", "worker", "kindlike/does-not-exist:never")]
    with pytest.raises(EngineError, match="not found"):
        provision(engine, cluster_name, plans)
    delete_cluster(engine, cluster_name)
    assert engine.list_containers(cluster_labels(cluster_name)) == []
    assert engine.list_volumes(cluster_labels(cluster_name)) == []
    assert not engine.network_exists(network_name(cluster_name))


def test_engine_facts(engine, engine_kind):
    info = engine.info()
    assert info.name == engine_kind.split("-")[1]
    assert info.rootless == engine_kind.startswith("rootless")
    assert info.cgroup_version in (1, 2)
    assert info.cgroup_driver in ("cgroupfs", "systemd", "none")
    if engine_kind == "rootful-docker":
        # This machine's rootful Docker enforces limits; rootless ones cannot here.
        assert info.memory_limit and info.pids_limit
    assert info.version


def test_leftover_network_is_found_and_deleted(engine, cluster_name):
    # A cluster whose containers are gone but whose network leaked (e.g. an
    # engine crash mid-delete) is still listed for `delete clusters --all`.
    engine.ensure_network(network_name(cluster_name), cluster_labels(cluster_name))
    assert cluster_name not in list_clusters(engine)
    assert cluster_name in list_clusters(engine, include_leftovers=True)
    removed = delete_cluster(engine, cluster_name)
    assert removed["networks"] == [network_name(cluster_name)]
    assert not engine.network_exists(network_name(cluster_name))
