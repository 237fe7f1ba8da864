"""The pure parts of local registries and per-node resources: names, the
containerd files and patches, the ConfigMap, the kindlike-only config
keys and flags, sizes, reservations, the files the kubelet is shown, and
the refusal where an engine cannot enforce limits."""
from __future__ import annotations

import tomllib

import pytest
import yaml

from kindlike import noderesources as nr
from kindlike import registry, registryconnect
from kindlike.cluster import containerd
from kindlike.config import load_config_text
from kindlike.create import extras
from kindlike.engines.base import EngineInfo
from kindlike.errors import ConfigError, KindlikeError

HEAD = "kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\n"
REG = registry.Registry("dev", 5001, "running", ("dev_net", "kindlike-a", "kindlike-b.c"))

V3 = """version = 3
[plugins."io.containerd.cri.v1.images"]
  snapshotter = "overlayfs"
"""
V2 = """version = 2
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "k8s.gcr.io/pause:3.2"
"""


@pytest.mark.parametrize("name, ok", [("kindlike-registry", True), ("a", True), ("r1-x", True), ("Bad", False),
                                      ("-x", False), ("x-", False), ("a_b", False), ("a.b", False),
                                      ("x" * 64, False), ("", False)])
def test_registry_names_are_dns_labels(name, ok):
    assert registry.valid_name(name) is ok


def test_a_registry_lists_the_clusters_on_whose_networks_it_is_not_its_own():
    assert REG.clusters == ["a", "b.c"]
    assert (REG.address, REG.in_cluster) == ("localhost:5001", "dev:5000")
    # Its own network cannot be a cluster's: cluster names have no "_".
    assert registry.network_of("kindlike-x") == "kindlike-x_net"


@pytest.mark.parametrize("config", [V2, V3])
def test_the_containerd_patch_sets_config_path_for_either_config_version(config):
    assert not registryconnect._config_path_set(config)
    patched = containerd.apply_patches(config, registryconnect.containerd_patches(), [])
    assert registryconnect._config_path_set(patched)
    # The patch for the other version is skipped, as kind skips it.
    assert tomllib.loads(patched)["version"] == tomllib.loads(config)["version"]
    assert patched.count("config_path") == 1


def test_hosts_toml_sends_both_names_to_the_registry_over_http():
    doc = tomllib.loads(registryconnect.hosts_toml(REG))
    assert doc == {"server": "http://dev:5000", "host": {"http://dev:5000": {"capabilities": ["pull", "resolve"]}}}


def test_the_configmap_is_the_local_registry_hosting_of_kep_1755():
    doc = yaml.safe_load(registryconnect.configmap(REG))
    assert doc["metadata"] == {"name": "local-registry-hosting", "namespace": "kube-public"}
    assert yaml.safe_load(doc["data"]["localRegistryHosting.v1"]) == {
        "host": "localhost:5001", "hostFromContainerRuntime": "dev:5000"}


def test_kindlike_only_keys_load_and_are_checked():
    cfg = load_config_text(HEAD + "kindlike: {registry: dev}\nnodes:\n- role: control-plane\n"
                                  "  kindlike: {cpus: 1.5, memory: 2Gi}\n").cluster
    assert (cfg.registry, cfg.nodes[0].cpus, cfg.nodes[0].memory) == ("dev", "1.5", "2Gi")
    with pytest.raises(ConfigError) as e:
        load_config_text(HEAD + "kindlike: {registry: Dev, cpu: 1}\nnodes:\n- kindlike: {cpus: lots, memory: 1}\n")
    assert e.value.problems == [
        'kindlike.cpu: unknown field (valid fields: registry)',
        'kindlike.registry: "Dev" is not a registry name (a-z, 0-9 and \'-\', at most 63 characters)',
        'nodes[0].kindlike.cpus: "lots" is not a CPU count (write e.g. 1, 1.5 or 500m)',
        'nodes[0].kindlike.memory: "1" is below 512Mi, too little for a node to run the kubelet',
    ]


def test_flags_fill_the_nodes_without_their_own_values_and_point_containerd_at_hosts():
    cfg = load_config_text(HEAD + "nodes:\n- role: control-plane\n- role: worker\n  kindlike: {memory: 2Gi}\n").cluster
    got = extras.apply(cfg, registry="dev", cpus="2", memory="1Gi")
    assert [(n.cpus, n.memory) for n in got.nodes] == [("2", "1Gi"), ("2", "2Gi")]
    assert got.registry == "dev"
    assert got.containerd_config_patches[:2] == registryconnect.containerd_patches()
    with pytest.raises(ConfigError) as e:
        extras.apply(cfg, cpus="0", memory="lots")
    assert e.value.problems == ['--node-cpus: "0" is not a CPU count (write e.g. 1, 1.5 or 500m)',
                                '--node-memory: "lots" is not a size (write e.g. 1Gi, 1536Mi or 2G)']
    with pytest.raises(KindlikeError, match="not a valid registry name"):
        extras.apply(cfg, registry="No")


@pytest.mark.parametrize("text, cpus", [("1", 1.0), ("1.5", 1.5), ("500m", 0.5)])
def test_cpu_counts(text, cpus):
    assert nr.parse_cpus(text) == cpus


@pytest.mark.parametrize("text, size", [("1Gi", 1 << 30), ("1536Mi", 1536 << 20), ("2G", 2 * 10**9),
                                        ("1073741824", 1 << 30), ("0.5Gi", 1 << 29)])
def test_memory_sizes(text, size):
    assert nr.parse_memory(text) == size


@pytest.mark.parametrize("cpus, memory, want", [
    (1, 1 << 30, {"cpu": "60m", "memory": "256Mi"}),
    (2, 8 << 30, {"cpu": "70m", "memory": "1843Mi"}),
    (0, 0, {}),
])
def test_the_reservation_grows_with_the_node(cpus, memory, want):
    assert nr.reserved(cpus, memory) == want


def test_the_kubelet_is_shown_the_nodes_size():
    host = "MemTotal:       16000000 kB\nMemFree:         9000000 kB\nMemAvailable:   100000 kB\nBuffers: 1 kB\n"
    assert [line.split() for line in nr.meminfo(host, 1 << 30).splitlines()] == [
        ["MemTotal:", "1048576", "kB"], ["MemFree:", "1048576", "kB"], ["MemAvailable:", "100000", "kB"],
        ["Buffers:", "1", "kB"]]
    assert (nr.online(1), nr.online(1.5), nr.online(4)) == ("0", "0-1", "0-3")
    unit = nr.dropin(1, 1 << 30)
    assert "mount --bind /kind/resources/meminfo /proc/meminfo" in unit
    assert "mount --bind /kind/resources/cpu-online /sys/devices/system/cpu/online" in unit
    assert "cpu-online" not in nr.dropin(0, 1 << 30)


def _info(rootless, cpu, memory, cgroup=1):
    return EngineInfo("podman", "5", rootless, cgroup, "cgroupfs", memory, True, cpu)


def test_limits_are_refused_where_the_engine_cannot_enforce_them():
    cfg = load_config_text(HEAD + "nodes:\n- kindlike: {cpus: 1, memory: 1Gi}\n").cluster
    with pytest.raises(nr.ResourceError) as e:
        nr.refuse_unenforceable(_info(True, False, False), cfg)
    assert e.value.message == ("CPU and memory limits for nodes cannot be enforced by podman (rootless): cgroup v1 "
                               "without the cpu and memory controller delegated to the user")
    nr.refuse_unenforceable(_info(False, True, True), cfg)
    memory_only = load_config_text(HEAD + "nodes:\n- kindlike: {memory: 1Gi}\n").cluster
    nr.refuse_unenforceable(_info(True, False, True, 2), memory_only)
