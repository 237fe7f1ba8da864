"""Pure logic of snapshots: names, the config and node plans of a copy, the
labels a snapshot's images carry, and reading an archive's snapshot names."""
from __future__ import annotations

import io
import json
import tarfile

import pytest

from kindlike import snapshot
from kindlike.constants import LABEL_NODE_NAME, LABEL_SNAPSHOT, LABEL_SNAPSHOT_INFO
from kindlike.create.provision import node_plans, node_spec
from kindlike.engines.base import EngineInfo, ImageRecord
from kindlike.errors import SnapshotError


def _snap(roles=("control-plane", "worker", "worker")) -> snapshot.Snapshot:
    s = snapshot.Snapshot("ci-1", "src", "2026-12-02T00:00:00Z", "v1.37.2", "docker (rootful)", len(roles))
    names = ["src-control-plane", "src-worker", "src-worker2"]
    for i, role in enumerate(roles):
        s.nodes.append(snapshot.SnapshotNode(i, role, names[i], names[i][4:], f"172.18.0.{i + 2}", f"sha256:{i}",
                                             "127.0.0.1" if i == 0 else "",
                                             [{"hostPath": "/srv", "containerPath": "/srv", "readOnly": True}]))
    return s


@pytest.mark.parametrize("name", ["ci", "ci-1node", "a.b_c-9", "x" * 63])
def test_valid_names(name):
    snapshot.check_name(name)


@pytest.mark.parametrize("name", ["", "CI", "-a", "a-", "a b", "a/b", "a:b", "x" * 64, "a..b"])
def test_invalid_names_say_what_is_allowed(name):
    with pytest.raises(SnapshotError, match="lowercase letters, digits"):
        snapshot.check_name(name)


def test_copy_config_has_the_snapshot_nodes_on_its_images_and_a_free_api_port():
    cfg = snapshot.copy_config(_snap())
    assert [n.role for n in cfg.nodes] == ["control-plane", "worker", "worker"]
    assert [n.image for n in cfg.nodes] == ["sha256:0", "sha256:1", "sha256:2"]
    assert cfg.networking.api_server_address == "127.0.0.1" and cfg.networking.api_server_port == 0
    assert cfg.nodes[1].extra_mounts[0].host_path == "/srv" and cfg.nodes[1].extra_mounts[0].read_only


def test_copy_plans_keep_the_snapshot_node_names_inside_the_new_containers():
    snap = _snap()
    for n in snap.nodes:
        n.entrypoint = ["/usr/local/bin/entrypoint", "/sbin/init"]
    plans = node_plans("job", snapshot.copy_config(snap))
    snapshot.copy_plans(snap, plans)
    assert [p.name for p in plans] == ["job-control-plane", "job-worker", "job-worker2"]
    assert [p.hostname for p in plans] == ["src-control-plane", "src-worker", "src-worker2"]
    assert all(p.labels[LABEL_SNAPSHOT] == "ci-1" for p in plans)
    assert plans[2].labels[LABEL_NODE_NAME] == "src-worker2"
    # The control plane's certificate, made again at boot, names the new container too.
    assert plans[0].env["KINDLIKE_CERT_SANS"] == "job-control-plane" and "KINDLIKE_CERT_SANS" not in plans[1].env

    class Eng:
        def info(self):
            return EngineInfo("docker", "20.10", False, 1, "cgroupfs", True, True, True)

    spec = node_spec(Eng(), "job", plans[1])
    assert spec.hostname == "src-worker" and spec.aliases == ["src-worker"] and spec.name == "job-worker"
    # Given again at create: Podman's commit does not keep an ENTRYPOINT change as given.
    assert spec.entrypoint == ["/usr/local/bin/entrypoint", "/sbin/init"] and spec.command is None


def test_listing_groups_node_images_by_snapshot_and_tells_incomplete_ones():
    snap = _snap()

    class Eng:
        def list_images(self, labels):
            assert labels == {LABEL_SNAPSHOT: None}
            return [ImageRecord(n.image, [f"kindlike-snapshot/ci-1:{n.suffix}"],
                                {LABEL_SNAPSHOT: "ci-1", LABEL_SNAPSHOT_INFO: json.dumps(n.info(snap))}, 10)
                    for n in snap.nodes[:2]]

    [found] = snapshot.list_snapshots(Eng())
    assert found.name == "ci-1" and found.node_count == 3 and not found.complete
    assert [n.node_name for n in found.nodes] == ["src-control-plane", "src-worker"]
    assert found.refs == ["kindlike-snapshot/ci-1:control-plane", "kindlike-snapshot/ci-1:worker"]
    assert found.size == 20 and found.kubernetes == "v1.37.2"


def _archive(tmp_path, tags) -> str:
    path = tmp_path / "a.tar"
    with tarfile.open(path, "w") as tar:
        data = json.dumps([{"Config": "x.json", "RepoTags": tags, "Layers": []}]).encode()
        info = tarfile.TarInfo("manifest.json")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return str(path)


def test_archive_names_come_from_the_manifest_under_either_engine(tmp_path):
    tags = ["kindlike-snapshot/ci-1:control-plane", "localhost/kindlike-snapshot/ci-2:worker", "busybox:1"]
    assert snapshot.archive_snapshots(_archive(tmp_path, tags)) == ["ci-1", "ci-2"]


def test_an_archive_without_snapshots_or_not_an_archive_is_refused(tmp_path):
    with pytest.raises(SnapshotError, match="holds no kindlike snapshot"):
        snapshot.load_archive(None, _archive(tmp_path, ["busybox:1"]))
    bad = tmp_path / "bad.tar"
    bad.write_text("not a tar")
    with pytest.raises(SnapshotError, match="is not an image archive"):
        snapshot.load_archive(None, bad)
    with pytest.raises(SnapshotError, match="does not exist"):
        snapshot.load_archive(None, tmp_path / "missing.tar")
