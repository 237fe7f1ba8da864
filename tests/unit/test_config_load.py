"""Strict loading: sources, every field, unknown fields, types, YAML errors."""
from __future__ import annotations

import io
import textwrap

import pytest

from kindlike.config import LoadedConfig, load_config, load_config_text
from kindlike.config.types import Mount, PatchJSON6902, PortMapping
from kindlike.errors import ConfigError

HEADER = "kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\n"


def load(body: str) -> LoadedConfig:
    return load_config_text(HEADER + textwrap.dedent(body), "test.yaml")


def problems(body: str, *, header: bool = True) -> list[str]:
    text = (HEADER if header else "") + textwrap.dedent(body)
    with pytest.raises(ConfigError) as err:
        load_config_text(text, "test.yaml")
    return err.value.problems


# -- sources -------------------------------------------------------------------


def test_no_source_gives_kinds_default_cluster():
    loaded = load_config(None)
    assert loaded.source == ""
    assert loaded.warnings == ()
    assert [n.role for n in loaded.cluster.nodes] == ["control-plane"]


def test_empty_path_means_no_file_like_kind():
    assert load_config("") == load_config(None)


def test_dash_reads_the_given_stdin():
    loaded = load_config("-", stdin=io.StringIO(HEADER + "name: from-stdin\n"))
    assert loaded.cluster.name == "from-stdin"
    assert loaded.source == "<stdin>"


def test_dash_defaults_to_sys_stdin(monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO(HEADER + "nodes:\n- role: worker\n- role: control-plane\n"))
    assert [n.role for n in load_config("-").cluster.nodes] == ["worker", "control-plane"]


def test_errors_from_stdin_name_stdin():
    with pytest.raises(ConfigError) as err:
        load_config("-", stdin=io.StringIO("kind: Cluster\n"))
    assert err.value.source == "<stdin>"
    assert err.value.message == "<stdin> is invalid (1 problem)"


def test_path_and_pathlike(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text(HEADER + "name: from-file\n")
    assert load_config(str(f)).cluster.name == "from-file"
    assert load_config(f).source == str(f)


def test_missing_file(tmp_path):
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError) as err:
        load_config(missing)
    assert err.value.problems == [f"{missing}: no such file"]


def test_directory_is_not_a_config(tmp_path):
    with pytest.raises(ConfigError) as err:
        load_config(tmp_path)
    assert err.value.problems == [f"{tmp_path}: is a directory, not a config file"]


def test_non_utf8_file(tmp_path):
    f = tmp_path / "latin1.yaml"
    f.write_bytes(HEADER.encode() + b"name: caf\xe9\n")
    with pytest.raises(ConfigError) as err:
        load_config(f)
    assert err.value.problems == [f"{f}: is not UTF-8 text (line 3, byte 59)"]


# -- type meta -----------------------------------------------------------------


def test_empty_document_lacks_apiversion_and_kind():
    assert problems("", header=False) == [
        "apiVersion: missing (set apiVersion: kind.x-k8s.io/v1alpha4)",
        "kind: missing (set kind: Cluster)",
    ]


def test_wrong_apiversion_and_kind():
    assert problems("kind: Pod\napiVersion: v1\n", header=False) == [
        'apiVersion: "v1" is not supported (use kind.x-k8s.io/v1alpha4)',
        'kind: "Pod" is not supported (use Cluster)',
    ]


def test_missing_kind_only():
    assert problems("apiVersion: kind.x-k8s.io/v1alpha4\n", header=False) == ["kind: missing (set kind: Cluster)"]


def test_type_meta_problems_come_first_and_the_body_is_still_checked():
    assert problems("nodes:\n- rol: worker\n", header=False) == [
        "apiVersion: missing (set apiVersion: kind.x-k8s.io/v1alpha4)",
        "kind: missing (set kind: Cluster)",
        'nodes[0].rol: unknown field (did you mean "role"?)',
    ]


def test_top_level_must_be_a_mapping():
    assert problems("- a\n- b\n", header=False) == ["(top level): must be a mapping, got a list"]


# -- YAML syntax -----------------------------------------------------------------


def test_yaml_syntax_error_reports_line_and_column():
    got = problems("nodes:\n- role: worker\n  image: [unclosed\n")
    assert len(got) == 1
    assert got[0].startswith("line 6, column 1: invalid YAML: ")


def test_yaml_bad_mapping_reports_position():
    got = problems("kind: Cluster\napiVersion: x\n  foo: bar\n", header=False)
    assert got == ["line 3, column 6: invalid YAML: mapping values are not allowed here"]


def test_tab_indentation_is_a_yaml_error():
    got = problems("nodes:\n\t- role: worker\n")
    assert got[0].startswith("line 4, column 1: invalid YAML: ")
    assert "\\t" in got[0] or "tab" in got[0]


def test_duplicate_keys_are_errors():
    assert problems("name: a\nname: b\n") == ["name: duplicate key (first set on line 3)"]


def test_duplicate_map_keys_are_errors():
    assert problems("featureGates:\n  A: true\n  A: false\n") == [
        'featureGates["A"]: duplicate key (first set on line 4)'
    ]


def test_only_the_first_document_is_read_with_a_warning():
    loaded = load("name: first\n---\nname: second\n")
    assert loaded.cluster.name == "first"
    assert loaded.warnings == ("only the first YAML document is read; 1 more document(s) ignored",)


def test_leading_document_marker_is_fine():
    loaded = load_config_text("---\n" + HEADER, "x")
    assert loaded.warnings == ()


def test_anchors_and_merge_keys_work():
    loaded = load(
        """\
        nodes:
        - role: control-plane
        - &base
          role: worker
          labels: {tier: a}
        - <<: *base
          labels: {tier: b}
        """
    )
    a, b = loaded.cluster.nodes[1], loaded.cluster.nodes[2]
    assert (a.role, a.labels) == ("worker", {"tier": "a"})
    assert (b.role, b.labels) == ("worker", {"tier": "b"})


def test_merged_keys_are_still_checked():
    assert problems(
        """\
        nodes:
        - role: control-plane
        - <<: {rol: worker}
        """
    ) == ['nodes[1].rol: unknown field (did you mean "role"?)']


def test_an_anchor_may_be_redefined_like_yaml_v3():
    loaded = load(
        """\
        nodes:
        - &n {role: control-plane}
        - &n {role: worker}
        - *n
        """
    )
    assert [n.role for n in loaded.cluster.nodes] == ["control-plane", "worker", "worker"]


def test_shared_mounts_within_the_alias_budget_are_fine():
    mounts = "[&m {hostPath: /a, containerPath: /b}" + ", *m" * 99 + "]"
    body = f"nodes:\n- role: control-plane\n  extraMounts: &ms {mounts}\n" + "- {role: worker, extraMounts: *ms}\n" * 20
    assert sum(len(n.extra_mounts) for n in load(body).cluster.nodes) == 2100


def test_integers_out_of_go_range_are_refused():
    assert problems("networking: {apiServerPort: 9223372036854775808}\n") == [
        "networking.apiServerPort: 9223372036854775808 is out of range for an integer"
    ]


def test_libyaml_is_used_when_present_and_agrees_with_pure_python(monkeypatch):
    import yaml

    from kindlike.config import load as load_module

    if hasattr(yaml, "CSafeLoader"):
        assert load_module._FAST_LOADER is yaml.CSafeLoader
    fast = load(FULL)
    monkeypatch.setattr(load_module, "_FAST_LOADER", yaml.SafeLoader)
    assert load(FULL) == fast


def test_a_big_config_is_parsed_by_libyaml(monkeypatch):
    # The pure-Python parser took about 13 s on 5 MB; libyaml a second. Which
    # one parses is the fact a test can hold (the time is a benchmark's).
    import yaml

    from kindlike.config import load as load_module

    assert load_module._FAST_LOADER is yaml.CSafeLoader
    used = []
    real = load_module._compose_with
    monkeypatch.setattr(load_module, "_compose_with", lambda cls, text: used.append(cls) or real(cls, text))
    node = "- role: worker\n  labels: {%s}\n" % ", ".join(f"l{j}: v{j}" for j in range(40))
    text = HEADER + "nodes:\n- role: control-plane\n" + node * (2_000_000 // len(node))
    cfg = load_config_text(text).cluster
    assert used == [yaml.CSafeLoader]
    assert len(cfg.nodes) == 1 + 2_000_000 // len(node)


# -- every field -----------------------------------------------------------------

FULL = """\
name: full
nodes:
- role: control-plane
  image: kindest/node:v1.31.0
  labels:
    tier: frontend
    example.com/zone: a
  extraMounts:
  - hostPath: /src
    containerPath: /dst
    readOnly: true
    selinuxRelabel: true
    propagation: HostToContainer
  extraPortMappings:
  - containerPort: 80
    hostPort: 8080
    listenAddress: 127.0.0.1
    protocol: UDP
  kubeadmConfigPatches:
  - |
    kind: InitConfiguration
  kubeadmConfigPatchesJSON6902:
  - group: kubeadm.k8s.io
    version: v1beta3
    kind: InitConfiguration
    patch: |
      - op: add
        path: /x
        value: 1
- role: worker
networking:
  ipFamily: dual
  apiServerAddress: 127.0.0.2
  apiServerPort: 6443
  podSubnet: 10.1.0.0/16,fd00:1::/56
  serviceSubnet: 10.2.0.0/16,fd00:2::/112
  disableDefaultCNI: true
  kubeProxyMode: nftables
  dnsSearch: [example.com, corp.local]
featureGates:
  A: true
  B: false
runtimeConfig:
  api/alpha: "false"
kubeadmConfigPatches:
- |
  kind: ClusterConfiguration
kubeadmConfigPatchesJSON6902:
- group: kubeadm.k8s.io
  version: v1beta3
  kind: ClusterConfiguration
  patch: '[{"op": "remove", "path": "/y"}]'
containerdConfigPatches:
- |
  [plugins."io.containerd.grpc.v1.cri"]
  x = 1
containerdConfigPatchesJSON6902:
- '[{"op": "add", "path": "/a", "value": 2}]'
"""


def test_every_field_is_read():
    c = load(FULL).cluster
    assert c.name == "full"
    cp, worker = c.nodes
    assert (cp.role, cp.image, cp.image_defaulted) == ("control-plane", "kindest/node:v1.31.0", False)
    assert cp.labels == {"tier": "frontend", "example.com/zone": "a"}
    assert cp.extra_mounts == (Mount("/src", "/dst", True, True, "HostToContainer"),)
    assert cp.extra_port_mappings == (PortMapping(80, 8080, "127.0.0.1", "UDP"),)
    assert cp.kubeadm_config_patches == ("kind: InitConfiguration\n",)
    assert cp.kubeadm_config_patches_json6902 == (
        PatchJSON6902("kubeadm.k8s.io", "v1beta3", "InitConfiguration", "- op: add\n  path: /x\n  value: 1\n"),
    )
    assert worker.role == "worker" and worker.image_defaulted
    n = c.networking
    assert (n.ip_family, n.api_server_address, n.api_server_port) == ("dual", "127.0.0.2", 6443)
    assert (n.pod_subnet, n.service_subnet) == ("10.1.0.0/16,fd00:1::/56", "10.2.0.0/16,fd00:2::/112")
    assert (n.disable_default_cni, n.kube_proxy_mode) == (True, "nftables")
    assert n.dns_search == ("example.com", "corp.local")
    assert n.defaulted == frozenset()
    assert c.feature_gates == {"A": True, "B": False}
    assert c.runtime_config == {"api/alpha": "false"}
    assert c.kubeadm_config_patches == ("kind: ClusterConfiguration\n",)
    assert c.kubeadm_config_patches_json6902[0].patch == '[{"op": "remove", "path": "/y"}]'
    assert c.containerd_config_patches == ('[plugins."io.containerd.grpc.v1.cri"]\nx = 1\n',)
    assert c.containerd_config_patches_json6902 == ('[{"op": "add", "path": "/a", "value": 2}]',)


def test_string_fields_take_any_scalar_text_like_yaml_v3():
    c = load("name: 123\nnodes:\n- labels: {version: 1.20, on: yes}\n").cluster
    assert c.name == "123"
    # The text as written, not PyYAML's 1.1 reading (1.2 or True).
    assert c.nodes[0].labels == {"version": "1.20", "on": "yes"}


def test_runtime_config_unquoted_bool_is_kept_as_text():
    assert load('runtimeConfig:\n  "api/alpha": false\n').cluster.runtime_config == {"api/alpha": "false"}


@pytest.mark.parametrize("text,value", [("true", True), ("false", False), ("yes", True), ("off", False), ("True", True)])
def test_bool_spellings(text, value):
    assert load(f"networking:\n  disableDefaultCNI: {text}\n").cluster.networking.disable_default_cni is value


@pytest.mark.parametrize("text,value", [("6443", 6443), ("0x1F90", 8080), ("-1", -1), ("+80", 80), ("1_000", 1000)])
def test_int_spellings(text, value):
    assert load(f"networking:\n  apiServerPort: {text}\n").cluster.networking.api_server_port == value


def test_null_values_count_as_unset():
    c = load("name: ~\nnodes:\nnetworking:\n  ipFamily: null\n").cluster
    assert c.name == ""
    assert [n.role for n in c.nodes] == ["control-plane"]
    assert c.networking.ip_family == "ipv4"


def test_null_list_item_is_a_zero_node_which_defaults_to_control_plane():
    # yaml.v3 decodes `- ` into a zero Node; kind then defaults its role.
    assert [n.role for n in load("nodes:\n-\n- role: worker\n").cluster.nodes] == ["control-plane", "worker"]


def test_dns_search_unset_empty_and_set_are_distinct():
    assert load("").cluster.networking.dns_search is None
    assert load("networking:\n  dnsSearch: null\n").cluster.networking.dns_search is None
    assert load("networking:\n  dnsSearch: []\n").cluster.networking.dns_search == ()
    assert load("networking:\n  dnsSearch: [a.b]\n").cluster.networking.dns_search == ("a.b",)


# -- unknown fields at every level ---------------------------------------------------


@pytest.mark.parametrize(
    "body,expected",
    [
        ("nodez: []\n", 'nodez: unknown field (did you mean "nodes"?)'),
        ("nodes:\n- rle: worker\n", 'nodes[0].rle: unknown field (did you mean "role"?)'),
        ("networking:\n  podSubnets: 10.0.0.0/16\n", 'networking.podSubnets: unknown field (did you mean "podSubnet"?)'),
        ("networking:\n  apiserverport: 1\n", 'networking.apiserverport: unknown field (did you mean "apiServerPort"?)'),
        ("nodes:\n- extraMounts:\n  - hostPath: /a\n    containerPath: /b\n    readonly: true\n",
         'nodes[0].extraMounts[0].readonly: unknown field (did you mean "readOnly"?)'),
        ("nodes:\n- extraPortMappings:\n  - containerPort: 1\n    hostport: 2\n",
         'nodes[0].extraPortMappings[0].hostport: unknown field (did you mean "hostPort"?)'),
        ("kubeadmConfigPatchesJSON6902:\n- kind: X\n  patch: '[]'\n  name: config\n",
         "kubeadmConfigPatchesJSON6902[0].name: unknown field (v1alpha4 patches have no name; "
         "the target is matched by group, version and kind)"),
        ("nodes:\n- kubeadmConfigPatchesJSON6902:\n  - kind: X\n    patch: '[]'\n    namespace: x\n",
         "nodes[0].kubeadmConfigPatchesJSON6902[0].namespace: unknown field (v1alpha4 patches have no namespace; "
         "the target is matched by group, version and kind)"),
        ("kubeadmConfigPatchesJSON6902:\n- kind: X\n  patch: '[]'\n  op: add\n",
         "kubeadmConfigPatchesJSON6902[0].op: unknown field (valid fields: group, version, kind, patch)"),
        ("networking:\n  role: worker\n", 'networking.role: unknown field ("role" belongs in nodes[]; check the indentation)'),
        ("nodes:\n- role: control-plane\n  podSubnet: 10.0.0.0/8\n",
         'nodes[0].podSubnet: unknown field ("podSubnet" belongs in networking; check the indentation)'),
        ("gpus: all\n", "gpus: unknown field (valid fields: name, nodes, networking, featureGates, runtimeConfig, "
         "kubeadmConfigPatches, kubeadmConfigPatchesJSON6902, containerdConfigPatches, containerdConfigPatchesJSON6902, kindlike)"),
    ],
)
def test_unknown_fields_are_errors_at_every_level(body, expected):
    assert problems(body) == [expected]


# -- wrong types ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body,expected",
    [
        ("name: [a]\n", "name: must be a string, got a list"),
        ("nodes: {role: worker}\n", "nodes: must be a list, got a mapping"),
        ("nodes: worker\n", 'nodes: must be a list, got string "worker"'),
        ("nodes:\n- worker\n", 'nodes[0]: must be a mapping, got string "worker"'),
        ("networking: [ipv4]\n", "networking: must be a mapping, got a list"),
        ("networking:\n  apiServerPort: \"6443\"\n", 'networking.apiServerPort: must be an integer, got string "6443"'),
        ("networking:\n  apiServerPort: 64.5\n", "networking.apiServerPort: must be an integer, got number 64.5"),
        ("networking:\n  apiServerPort: true\n", "networking.apiServerPort: must be an integer, got true"),
        ("networking:\n  disableDefaultCNI: \"true\"\n", 'networking.disableDefaultCNI: must be true or false, got string "true"'),
        ("networking:\n  disableDefaultCNI: 1\n", "networking.disableDefaultCNI: must be true or false, got integer 1"),
        ("networking:\n  dnsSearch: example.com\n", 'networking.dnsSearch: must be a list, got string "example.com"'),
        ("featureGates: [A]\n", "featureGates: must be a mapping, got a list"),
        ("featureGates:\n  A: enabled\n", 'featureGates["A"]: must be true or false, got string "enabled"'),
        ("runtimeConfig:\n  api/all: {x: 1}\n", 'runtimeConfig["api/all"]: must be a string, got a mapping'),
        ("kubeadmConfigPatches: 'kind: X'\n", 'kubeadmConfigPatches: must be a list, got string "kind: X"'),
        ("kubeadmConfigPatches:\n- {kind: X}\n", "kubeadmConfigPatches[0]: must be a string, got a mapping"),
        ("containerdConfigPatchesJSON6902:\n- [a]\n", "containerdConfigPatchesJSON6902[0]: must be a string, got a list"),
        ("nodes:\n- labels: [a]\n", "nodes[0].labels: must be a mapping, got a list"),
        ("nodes:\n- extraMounts:\n  - hostPath: /a\n    containerPath: /b\n    readOnly: \"yes\"\n",
         'nodes[0].extraMounts[0].readOnly: must be true or false, got string "yes"'),
        ("nodes:\n- extraPortMappings:\n  - containerPort: 80\n    hostPort: \"80\"\n",
         'nodes[0].extraPortMappings[0].hostPort: must be an integer, got string "80"'),
        ("kubeadmConfigPatchesJSON6902:\n- kind: X\n  patch: [{op: add}]\n",
         "kubeadmConfigPatchesJSON6902[0].patch: must be a string, got a list"),
        ("? [a]\n: b\n", "(top level): keys must be strings, got a list"),
    ],
)
def test_wrong_types_are_errors(body, expected):
    assert expected in problems(body)


def test_a_value_that_failed_to_decode_is_not_reported_twice():
    # containerPort falls back to 0, which validation would call "required".
    assert problems("nodes:\n- extraPortMappings:\n  - containerPort: \"80\"\n") == [
        'nodes[0].extraPortMappings[0].containerPort: must be an integer, got string "80"'
    ]


def test_a_misspelt_required_field_is_not_also_reported_missing():
    assert problems("nodes:\n- extraMounts:\n  - hostPath: /a\n    containerpath: /b\n") == [
        'nodes[0].extraMounts[0].containerpath: unknown field (did you mean "containerPath"?)'
    ]


def test_all_problems_are_reported_together():
    got = problems(
        """\
        name: Bad_Name
        nodes:
        - role: master
          extraPortMappings:
          - containerPort: 80
            hostPort: 70000
        networking:
          podSubnet: 10.244.0.0/33
          kubeProxyMode: ebpf
          bogus: 1
        """
    )
    assert got == [
        'networking.bogus: unknown field (valid fields: ipFamily, apiServerPort, apiServerAddress, podSubnet, '
        'serviceSubnet, disableDefaultCNI, kubeProxyMode, dnsSearch)',
        'name: "Bad_Name" is not a valid cluster name (use only a-z, 0-9, "." and "-"; cluster names must match '
        "^[a-z0-9.-]+$)",
        'networking.podSubnet: "10.244.0.0/33" is not a valid CIDR',
        'networking.kubeProxyMode: "ebpf" is not valid (one of iptables, ipvs, nftables, none)',
        'nodes[0].role: "master" is not a valid node role (control-plane or worker)',
        "nodes[0].extraPortMappings[0].hostPort: 70000 is not a valid port (0-65535, or -1)",
        "nodes: must have at least one control-plane node",
    ]


def test_error_lines_are_one_line_each():
    with pytest.raises(ConfigError) as err:
        load_config_text(HEADER + "name: X\nnodes: 3\n", "cfg.yaml")
    lines = err.value.lines()
    assert lines[0] == "ERROR: cfg.yaml is invalid (2 problems)"
    assert all("\n" not in line for line in lines)
    assert all(line.startswith("  ") for line in lines[1:])
