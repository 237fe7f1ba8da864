"""kind's defaults, field by field."""
from __future__ import annotations

import textwrap

import pytest

import kindlike.constants as project_defaults
from kindlike.config import apply_defaults, default_cluster, load_config_text
from kindlike.config.types import ClusterConfig

HEADER = "kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\n"


def cluster(body: str = "") -> ClusterConfig:
    return load_config_text(HEADER + textwrap.dedent(body), "t").cluster


def test_default_cluster_is_one_control_plane_with_the_default_image():
    c = default_cluster()
    assert len(c.nodes) == 1
    node = c.nodes[0]
    assert node.role == "control-plane"
    assert node.image == project_defaults.DEFAULT_NODE_IMAGE
    assert node.image_defaulted is True
    assert c.name == ""  # the name is resolved separately (flag > env > config > default)


def test_minimal_file_equals_no_file():
    assert cluster() == default_cluster()


def test_explicit_empty_nodes_list_also_defaults():
    assert [n.role for n in cluster("nodes: []\n").nodes] == ["control-plane"]


def test_node_role_defaults_to_control_plane():
    assert cluster("nodes:\n- image: x\n").nodes[0].role == "control-plane"


def test_image_default_follows_the_project_default(monkeypatch):
    monkeypatch.setattr(project_defaults, "DEFAULT_NODE_IMAGE", "example/node:test")
    assert default_cluster().nodes[0].image == "example/node:test"


def test_empty_image_string_is_defaulted_and_marked():
    node = cluster('nodes:\n- image: ""\n').nodes[0]
    assert (node.image, node.image_defaulted) == (project_defaults.DEFAULT_NODE_IMAGE, True)


def test_explicit_image_is_not_marked_defaulted():
    node = cluster("nodes:\n- image: kindest/node:v1.31.0\n").nodes[0]
    assert (node.image, node.image_defaulted) == ("kindest/node:v1.31.0", False)


def test_with_node_image_replaces_every_image_like_kinds_image_flag():
    c = cluster("nodes:\n- image: a\n- role: worker\n").with_node_image("b")
    assert [(n.image, n.image_defaulted) for n in c.nodes] == [("b", False), ("b", False)]


@pytest.mark.parametrize(
    "family,address,pods,services",
    [
        ("ipv4", "127.0.0.1", "10.244.0.0/16", "10.96.0.0/16"),
        ("ipv6", "::1", "fd00:10:244::/56", "fd00:10:96::/112"),
        ("dual", "127.0.0.1", "10.244.0.0/16,fd00:10:244::/56", "10.96.0.0/16,fd00:10:96::/112"),
    ],
)
def test_networking_defaults_per_family(family, address, pods, services):
    net = cluster(f"networking:\n  ipFamily: {family}\n").networking
    assert (net.ip_family, net.api_server_address, net.pod_subnet, net.service_subnet) == (
        family, address, pods, services
    )
    assert net.kube_proxy_mode == "iptables"
    assert net.api_server_port == 0
    assert net.disable_default_cni is False
    assert net.dns_search is None
    assert net.defaulted == {"apiServerAddress", "apiServerPort", "podSubnet", "serviceSubnet", "kubeProxyMode"}


def test_ip_family_defaults_to_ipv4_and_is_marked():
    net = cluster().networking
    assert net.ip_family == "ipv4"
    assert "ipFamily" in net.defaulted


def test_pod_subnet_is_defaulted_even_without_the_default_cni():
    # kind's v1alpha4 defaulting runs before the internal "unless disableDefaultCNI" rule.
    assert cluster("networking:\n  disableDefaultCNI: true\n").networking.pod_subnet == "10.244.0.0/16"


def test_set_fields_are_not_marked_defaulted():
    net = cluster("networking:\n  podSubnet: 10.1.0.0/16\n  apiServerPort: 0\n").networking
    assert net.pod_subnet == "10.1.0.0/16"
    assert "podSubnet" not in net.defaulted
    assert "apiServerPort" not in net.defaulted


@pytest.mark.parametrize("family,listen", [("ipv4", "0.0.0.0"), ("dual", "0.0.0.0"), ("ipv6", "::")])
def test_port_mapping_defaults_follow_the_providers(family, listen):
    pm = cluster(
        f"networking:\n  ipFamily: {family}\nnodes:\n- extraPortMappings:\n  - containerPort: 80\n"
    ).nodes[0].extra_port_mappings[0]
    assert (pm.host_port, pm.listen_address, pm.protocol) == (0, listen, "TCP")


def test_mount_defaults():
    m = cluster("nodes:\n- extraMounts:\n  - hostPath: /a\n    containerPath: /b\n").nodes[0].extra_mounts[0]
    assert (m.read_only, m.selinux_relabel, m.propagation) == (False, False, "None")


def test_empty_collections_default_to_empty():
    c = default_cluster()
    assert (c.feature_gates, c.runtime_config) == ({}, {})
    assert c.kubeadm_config_patches == c.containerd_config_patches == ()
    assert c.kubeadm_config_patches_json6902 == c.containerd_config_patches_json6902 == ()
    node = c.nodes[0]
    assert node.labels == {}
    assert node.extra_mounts == node.extra_port_mappings == ()
    assert node.kubeadm_config_patches == node.kubeadm_config_patches_json6902 == ()


def test_apply_defaults_takes_kind_field_names():
    c = apply_defaults({"name": "x", "networking": {"ipFamily": "ipv6"}, "nodes": [{"role": "worker"}, {}]})
    assert c.name == "x"
    assert c.networking.api_server_address == "::1"
    assert [n.role for n in c.nodes] == ["worker", "control-plane"]


def test_relative_host_path_resolves_against_the_working_directory(tmp_path):
    m = cluster("nodes:\n- extraMounts:\n  - hostPath: ./foo\n    containerPath: /bar\n").nodes[0].extra_mounts[0]
    assert m.host_path == "./foo"  # kept as written
    assert m.absolute_host_path(cwd=str(tmp_path)) == str(tmp_path / "foo")
    assert m.absolute_host_path(cwd="/x") == "/x/foo"
