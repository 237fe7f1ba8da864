"""kind's validation rules (and the create-time checks kindlike does early), with their wording."""
from __future__ import annotations

import textwrap

import pytest

from kindlike.config import load_config_text, validate_cluster, validate_cluster_name
from kindlike.config.types import ClusterConfig, NodeConfig
from kindlike.errors import ConfigError

HEADER = "kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\n"
CP = "nodes:\n- role: control-plane\n"


def check(body: str) -> tuple[list[str], tuple[str, ...]]:
    """(problems, warnings) of a config body."""
    try:
        loaded = load_config_text(HEADER + textwrap.dedent(body), "t")
    except ConfigError as e:
        return e.problems, ()
    return [], loaded.warnings


def problems(body: str) -> list[str]:
    return check(body)[0]


def warnings(body: str) -> tuple[str, ...]:
    got, warned = check(body)
    assert got == [], got
    return warned


def ports(*mappings: str, family: str = "ipv4") -> str:
    body = f"networking:\n  ipFamily: {family}\nnodes:\n- role: control-plane\n  extraPortMappings:\n"
    for m in mappings:
        body += "  - " + m.replace(", ", "\n    ") + "\n"
    return body


# -- cluster name ---------------------------------------------------------------------


@pytest.mark.parametrize("name", ["kind", "my-cluster", "a.b", "0", "x1-2.3"])
def test_valid_names(name):
    assert validate_cluster_name(name) == []


@pytest.mark.parametrize("name", ["Kind", "my_cluster", "a b", "ünï", "", "a/b"])
def test_invalid_names_match_kinds_regexp(name):
    assert validate_cluster_name(name) == [
        f'name: "{name}" is not a valid cluster name (use only a-z, 0-9, "." and "-"; '
        "cluster names must match ^[a-z0-9.-]+$)"
    ]


@pytest.mark.parametrize("name", ["-x", ".x"])
def test_names_must_start_alphanumeric_for_container_names(name):
    assert validate_cluster_name(name, "--name") == [
        f'--name: "{name}" must start with a letter or digit '
        f'(node containers would be named "{name}-control-plane", which engines refuse)'
    ]


def test_config_name_is_validated():
    assert problems("name: Bad\n")[0].startswith('name: "Bad" is not a valid cluster name')


def test_every_node_name_must_fit_a_hostname():
    # kind only warns past 50 characters; "-control-plane" makes 51 a 65-character hostname.
    assert problems(f"name: {'a' * 49}\n") == []
    assert problems(f"name: {'a' * 50}\n") == [
        f'name: "{"a" * 50}" is too long: node "{"a" * 50}-control-plane" would get a 64-character hostname '
        "(at most 63); use a cluster name of at most 49 characters"
    ]
    two_cps = "nodes:\n- role: control-plane\n- role: control-plane\n- role: worker\n"
    assert problems(f"name: {'a' * 41}\n" + two_cps) == [
        f'name: "{"a" * 41}" is too long: node "{"a" * 41}-external-load-balancer" would get a 64-character '
        "hostname (at most 63); use a cluster name of at most 40 characters"
    ]


def test_names_and_labels_match_the_whole_string():
    # re.match with "$" accepted a trailing newline.
    assert validate_cluster_name("ok\n") != []
    assert problems('nodes:\n- labels: {"a\\n": "b"}\n') != []
    assert problems('nodes:\n- labels: {a: "b\\n"}\n') != []
    assert problems('nodes:\n- labels: {"example.com\\n/a": b}\n') != []


# -- api server ------------------------------------------------------------------------


@pytest.mark.parametrize("port", [0, -1, 1, 6443, 65535])
def test_api_server_port_range(port):
    assert problems(f"networking:\n  apiServerPort: {port}\n") == []


@pytest.mark.parametrize("port", [-2, 65536, 99999999999])
def test_api_server_port_out_of_range(port):
    assert problems(f"networking:\n  apiServerPort: {port}\n") == [
        f"networking.apiServerPort: {port} is not a valid port (0-65535, or -1)"
    ]


def test_api_server_address_must_be_an_ip():
    assert problems("networking:\n  apiServerAddress: localhost\n") == [
        'networking.apiServerAddress: "localhost" is not an IP address'
    ]


def test_non_loopback_api_server_address_warns():
    assert warnings("networking:\n  apiServerAddress: 0.0.0.0\n") == (
        "networking.apiServerAddress: 0.0.0.0 exposes the API server beyond this machine; "
        "kind strongly recommends keeping it on loopback",
    )
    assert warnings("networking:\n  ipFamily: ipv6\n  apiServerAddress: '::1'\n") == ()


# -- ip family and subnets ------------------------------------------------------------


def test_ip_family_must_be_known():
    assert problems("networking:\n  ipFamily: IPv4\n") == [
        'networking.ipFamily: "IPv4" is not valid (one of ipv4, ipv6, dual)'
    ]


def test_unknown_family_skips_family_checks_of_subnets():
    # One problem, not a cascade of "expected IPv4" for subnets the user may have meant.
    assert problems("networking:\n  ipFamily: ipv5\n  podSubnet: fd00::/56\n") == [
        'networking.ipFamily: "ipv5" is not valid (one of ipv4, ipv6, dual)'
    ]


@pytest.mark.parametrize("field", ["podSubnet", "serviceSubnet"])
@pytest.mark.parametrize("value", ["10.244.0.0/33", "10.244.0.0", "banana", "10.244.0.0/16 ", "010.0.0.0/8", ""])
def test_subnets_must_parse(field, value):
    if value == "":
        # Empty means unset: kind defaults it.
        assert problems(f"networking:\n  {field}: ''\n") == []
        return
    assert problems(f"networking:\n  {field}: '{value}'\n") == [
        f'networking.{field}: "{value.split(",")[0]}" is not a valid CIDR'
    ]


def test_host_bits_in_a_cidr_are_accepted_like_go():
    assert problems("networking:\n  podSubnet: 10.244.1.0/16\n") == []


def test_each_cidr_of_a_list_must_parse():
    assert problems("networking:\n  ipFamily: dual\n  podSubnet: 10.0.0.0/16,nope\n") == [
        'networking.podSubnet: "nope" is not a valid CIDR'
    ]


def test_ipv4_family_needs_ipv4_cidrs():
    assert problems("networking:\n  podSubnet: fd00::/56\n") == [
        'networking.podSubnet: "fd00::/56" is not an IPv4 CIDR (ipFamily is ipv4)'
    ]


def test_ipv6_family_needs_ipv6_cidrs():
    assert problems("networking:\n  ipFamily: ipv6\n  serviceSubnet: 10.96.0.0/16\n") == [
        'networking.serviceSubnet: "10.96.0.0/16" is not an IPv6 CIDR (ipFamily is ipv6)'
    ]


def test_single_stack_allows_one_cidr():
    assert problems("networking:\n  podSubnet: 10.1.0.0/16,10.2.0.0/16\n") == [
        'networking.podSubnet: "10.1.0.0/16,10.2.0.0/16": only one CIDR allowed for single-stack '
        "networking (ipFamily ipv4)"
    ]


@pytest.mark.parametrize("value", ["10.1.0.0/16,10.2.0.0/16", "fd00:1::/56,fd00:2::/56", "10.1.0.0/16,fd00::/56,10.3.0.0/16"])
def test_dual_stack_needs_one_of_each_family(value):
    assert problems(f"networking:\n  ipFamily: dual\n  podSubnet: '{value}'\n") == [
        f'networking.podSubnet: "{value}": expected one CIDR, or two CIDRs (one IPv4 and one IPv6) '
        "for dual-stack networking"
    ]


def test_dual_stack_accepts_both_orders():
    assert problems("networking:\n  ipFamily: dual\n  podSubnet: fd00::/56,10.1.0.0/16\n") == []


def test_dual_stack_single_cidr_is_accepted_with_a_warning():
    # kind's validateSubnets accepts one CIDR for dual stack.
    assert warnings("networking:\n  ipFamily: dual\n  serviceSubnet: 10.96.0.0/16\n") == (
        'networking.serviceSubnet: "10.96.0.0/16" is a single CIDR, so with ipFamily dual this network '
        "is single-stack",
    )


def test_overlapping_pod_and_service_subnets_warn():
    assert warnings("networking:\n  podSubnet: 10.0.0.0/8\n  serviceSubnet: 10.96.0.0/16\n") == (
        'networking.serviceSubnet: "10.96.0.0/16" overlaps networking.podSubnet "10.0.0.0/8"; '
        "pod and service addresses may collide",
    )


# -- kube-proxy --------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["iptables", "ipvs", "nftables", "none"])
def test_kube_proxy_modes(mode):
    assert problems(f"networking:\n  kubeProxyMode: {mode}\n") == []


def test_unknown_kube_proxy_mode():
    assert problems("networking:\n  kubeProxyMode: IPVS\n") == [
        'networking.kubeProxyMode: "IPVS" is not valid (one of iptables, ipvs, nftables, none)'
    ]


# -- nodes -------------------------------------------------------------------------------


def test_roles_must_be_known():
    assert problems("nodes:\n- role: control-plane\n- role: master\n") == [
        'nodes[1].role: "master" is not a valid node role (control-plane or worker)'
    ]


def test_at_least_one_control_plane():
    assert problems("nodes:\n- role: worker\n- role: worker\n") == [
        "nodes: must have at least one control-plane node"
    ]


def test_several_control_planes_are_valid_config():
    assert problems("nodes:\n- role: control-plane\n- role: control-plane\n- role: worker\n") == []


def test_validate_cluster_directly_on_a_dataclass():
    bad = ClusterConfig(nodes=(NodeConfig(role="worker", image="x"),))
    assert validate_cluster(bad) == (["nodes: must have at least one control-plane node"], [])


# -- labels ------------------------------------------------------------------------------


@pytest.mark.parametrize("key,value", [("tier", "frontend"), ("example.com/zone", "a"), ("a_b.c-d", ""), ("x", "A-1.b_2")])
def test_valid_labels(key, value):
    assert problems(CP + f"  labels:\n    '{key}': '{value}'\n") == []


def test_invalid_label_key():
    assert problems(CP + "  labels:\n    'bad key': x\n") == [
        'nodes[0].labels["bad key"]: invalid label key (at most 63 characters: letters, digits, "-", "_" '
        'and ".", starting and ending with a letter or digit)'
    ]


def test_invalid_label_prefix():
    assert problems(CP + "  labels:\n    'Example.COM/x': y\n") == [
        'nodes[0].labels["Example.COM/x"]: label key prefix "Example.COM" must be a DNS subdomain (e.g. example.com)'
    ]


def test_invalid_label_value():
    assert problems(CP + "  labels:\n    tier: '-front'\n") == [
        'nodes[0].labels["tier"]: "-front" is not a valid label value (at most 63 characters: letters, '
        'digits, "-", "_" and ".", starting and ending with a letter or digit)'
    ]


def test_label_value_too_long():
    assert len(problems(CP + f"  labels:\n    tier: {'a' * 64}\n")) == 1


def test_restricted_kubernetes_io_label_warns():
    assert warnings(CP + "  labels:\n    node-role.kubernetes.io/worker: ''\n") == (
        'nodes[0].labels["node-role.kubernetes.io/worker"]: kubelet refuses most labels under '
        "kubernetes.io and k8s.io (node-role.kubernetes.io among them); this node may fail to start",
    )
    assert warnings(CP + "  labels:\n    topology.kubernetes.io/zone: a\n    node.kubernetes.io/x: y\n") == ()


# -- mounts ------------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["hostPath", "containerPath"])
def test_mount_paths_with_a_colon_are_refused(field):
    paths = {"hostPath": "/a", "containerPath": "/b"}
    paths[field] = "/x:y"
    body = CP + f"  extraMounts:\n  - hostPath: {paths['hostPath']}\n    containerPath: {paths['containerPath']}\n"
    assert problems(body) == [
        f'nodes[0].extraMounts[0].{field}: "/x:y" contains ":", which container engines cannot bind '
        "(rename the file or directory, or bind a parent without it)"
    ]


def test_mount_paths_with_control_characters_are_refused():
    body = CP + '  extraMounts:\n  - hostPath: "/a\\0"\n    containerPath: /b\n'
    assert problems(body) == ['nodes[0].extraMounts[0].hostPath: "/a\\x00" contains a control character']


def test_mount_paths_are_required():
    assert problems(CP + "  extraMounts:\n  - readOnly: true\n") == [
        "nodes[0].extraMounts[0].hostPath: required (the file or directory on this machine)",
        "nodes[0].extraMounts[0].containerPath: required (where it appears in the node)",
    ]


def test_container_path_must_be_absolute():
    assert problems(CP + "  extraMounts:\n  - hostPath: /a\n    containerPath: b\n") == [
        'nodes[0].extraMounts[0].containerPath: "b" must be an absolute path'
    ]


def test_relative_host_path_is_fine():
    assert problems(CP + "  extraMounts:\n  - hostPath: ./a\n    containerPath: /b\n") == []


@pytest.mark.parametrize("value", ["None", "HostToContainer", "Bidirectional"])
def test_propagation_values(value):
    assert problems(CP + f"  extraMounts:\n  - hostPath: /a\n    containerPath: /b\n    propagation: {value}\n") == []


def test_unknown_propagation():
    assert problems(CP + "  extraMounts:\n  - hostPath: /a\n    containerPath: /b\n    propagation: rshared\n") == [
        'nodes[0].extraMounts[0].propagation: "rshared" is not valid (one of None, HostToContainer, Bidirectional)'
    ]


# -- port mappings --------------------------------------------------------------------------


@pytest.mark.parametrize("host_port", [-1, 0, 1, 80, 65535])
def test_host_port_range(host_port):
    assert problems(ports(f"containerPort: 80, hostPort: {host_port}")) == []


@pytest.mark.parametrize("host_port", [-2, 65536, 70000])
def test_host_port_out_of_range(host_port):
    assert problems(ports(f"containerPort: 80, hostPort: {host_port}")) == [
        f"nodes[0].extraPortMappings[0].hostPort: {host_port} is not a valid port (0-65535, or -1)"
    ]


def test_container_port_is_required():
    assert problems(ports("hostPort: 80")) == [
        "nodes[0].extraPortMappings[0].containerPort: required (the port inside the node, 1-65535)"
    ]


@pytest.mark.parametrize("container_port", [-1, 65536])
def test_container_port_range(container_port):
    assert problems(ports(f"containerPort: {container_port}")) == [
        f"nodes[0].extraPortMappings[0].containerPort: {container_port} is not a valid container port (1-65535)"
    ]


@pytest.mark.parametrize("protocol", ["TCP", "UDP", "SCTP"])
def test_protocols(protocol):
    assert problems(ports(f"containerPort: 80, protocol: {protocol}")) == []


@pytest.mark.parametrize("protocol", ["tcp", "udp", "Sctp"])
def test_protocol_in_any_case_is_upper_cased_like_kind(protocol):
    cfg = load_config_text(HEADER + "nodes:\n- extraPortMappings:\n  - {containerPort: 80, protocol: %s}\n" % protocol)
    assert cfg.cluster.nodes[0].extra_port_mappings[0].protocol == protocol.upper()
    assert problems(ports("containerPort: 80, protocol: icmp")) == [
        'nodes[0].extraPortMappings[0].protocol: "ICMP" is not valid (one of TCP, UDP, SCTP)'
    ]


def test_listen_address_must_be_an_ip():
    assert problems(ports("containerPort: 80, listenAddress: localhost")) == [
        'nodes[0].extraPortMappings[0].listenAddress: "localhost" is not an IP address'
    ]


def test_same_address_port_protocol_twice_is_an_error():
    assert problems(ports("containerPort: 80, hostPort: 8080", "containerPort: 81, hostPort: 8080")) == [
        "nodes[0].extraPortMappings[1]: 0.0.0.0:8080/TCP is already bound by nodes[0].extraPortMappings[0] "
        "(port mapping with same listen address, port and protocol)"
    ]


def test_same_port_different_protocol_is_fine():
    assert problems(ports("containerPort: 80, hostPort: 8080", "containerPort: 80, hostPort: 8080, protocol: UDP")) == []


def test_same_port_different_specific_addresses_is_fine():
    assert problems(ports(
        "containerPort: 80, hostPort: 8080, listenAddress: 127.0.0.1",
        "containerPort: 80, hostPort: 8080, listenAddress: 127.0.0.2",
    )) == []


@pytest.mark.parametrize(
    "first,second",
    [("0.0.0.0", "127.0.0.1"), ("127.0.0.1", "0.0.0.0"), ("::", "127.0.0.1"), ("127.0.0.1", "::"), ("::", "0.0.0.0")],
)
def test_wildcard_addresses_clash_with_any_address(first, second):
    got = problems(ports(
        f"containerPort: 80, hostPort: 8080, listenAddress: '{first}'",
        f"containerPort: 81, hostPort: 8080, listenAddress: '{second}'",
    ))
    assert len(got) == 1
    assert got[0].startswith("nodes[0].extraPortMappings[1]: ")
    assert "is already bound by nodes[0].extraPortMappings[0]" in got[0]


def test_ipv6_bindings_are_shown_bracketed():
    got = problems(ports("containerPort: 80, hostPort: 53", "containerPort: 80, hostPort: 53", family="ipv6"))
    assert got == [
        "nodes[0].extraPortMappings[1]: [::]:53/TCP is already bound by nodes[0].extraPortMappings[0] "
        "(port mapping with same listen address, port and protocol)"
    ]


@pytest.mark.parametrize("port", [0, -1])
def test_random_host_ports_never_clash(port):
    assert problems(ports(f"containerPort: 80, hostPort: {port}", f"containerPort: 81, hostPort: {port}")) == []


def test_bindings_clash_across_nodes():
    body = (
        "nodes:\n- role: control-plane\n  extraPortMappings:\n  - containerPort: 80\n    hostPort: 80\n"
        "- role: worker\n  extraPortMappings:\n  - containerPort: 80\n    hostPort: 80\n"
    )
    assert problems(body) == [
        "nodes[1].extraPortMappings[0]: 0.0.0.0:80/TCP is already bound by nodes[0].extraPortMappings[0] "
        "(port mapping with same listen address, port and protocol)"
    ]


def test_api_server_port_clashes_with_a_mapping():
    body = "networking:\n  apiServerPort: 6443\n" + CP + "  extraPortMappings:\n  - containerPort: 443\n    hostPort: 6443\n"
    assert problems(body) == [
        "nodes[0].extraPortMappings[0]: 0.0.0.0:6443/TCP is already bound by networking.apiServerPort "
        "(port mapping with same listen address, port and protocol)"
    ]


# -- patches ------------------------------------------------------------------------------


def test_kubeadm_patch_must_be_yaml():
    got = problems("kubeadmConfigPatches:\n- |\n  kind: X\n   bad: [\n")
    assert len(got) == 1
    assert got[0].startswith("kubeadmConfigPatches[0]: not valid YAML (line ")


def test_kubeadm_patch_must_be_a_mapping():
    assert problems(CP + "  kubeadmConfigPatches:\n  - |\n    - a\n") == [
        "nodes[0].kubeadmConfigPatches[0]: must be a mapping (a config object), got a list"
    ]


def test_kubeadm_patch_without_kind_warns():
    assert warnings("kubeadmConfigPatches:\n- |\n  apiServer: {}\n") == (
        "kubeadmConfigPatches[0]: has no kind, so it matches no kubeadm config object",
    )


def test_json6902_without_kind_warns():
    assert warnings("kubeadmConfigPatchesJSON6902:\n- group: a\n  version: b\n  patch: '[]'\n") == (
        "kubeadmConfigPatchesJSON6902[0].kind: empty, so this patch matches no kubeadm config object",
    )


@pytest.mark.parametrize(
    "patch,expected",
    [
        ("'[{op: ad, path: /a}]'", 'ops[0]: op "ad" is not valid (one of add, remove, replace, move, copy, test)'),
        ("'[{path: /a}]'", "ops[0]: op missing (one of add, remove, replace, move, copy, test)"),
        ("'[{op: add, path: a, value: 1}]'", 'ops[0] (add): path "a" must start with "/"'),
        ("'[{op: add, path: /a}]'", "ops[0] (add /a): value is missing"),
        ("'[{op: move, path: /a}]'", "ops[0] (move): from must be a JSON pointer string"),
        ("'{op: add}'", "must be a list of operations, got a mapping"),
        ("'[1]'", "ops[0]: must be a mapping with op and path, got int 1"),
        ("''", "is empty (expected a list of operations)"),
    ],
)
def test_json6902_patch_structure(patch, expected):
    assert problems(f"kubeadmConfigPatchesJSON6902:\n- kind: X\n  patch: {patch}\n") == [
        f"kubeadmConfigPatchesJSON6902[0].patch: {expected}"
    ]


def test_containerd_patch_must_be_toml():
    got = problems("containerdConfigPatches:\n- |\n  [plugins\n")
    assert len(got) == 1
    assert got[0].startswith("containerdConfigPatches[0]: not valid TOML (")


def test_containerd_json6902_patch_is_checked():
    assert problems("containerdConfigPatchesJSON6902:\n- '[{op: nope, path: /a}]'\n") == [
        'containerdConfigPatchesJSON6902[0]: ops[0]: op "nope" is not valid (one of add, remove, replace, move, copy, test)'
    ]
