"""RFC 7386 merge patches, RFC 6902 JSON patches, and kind's matching of patches to documents."""
from __future__ import annotations

import pytest

from kindlike.config import (
    PatchError,
    apply_json6902,
    apply_merge_patch,
    load_config_text,
    patch_documents,
    patch_kubeadm_documents,
)
from kindlike.config.patches import matches, parse_json6902, parse_merge_patches
from kindlike.config.types import PatchJSON6902

# -- RFC 7386 --------------------------------------------------------------------------

# Examples from RFC 7386 appendix A.
RFC7386 = [
    ({"a": "b"}, {"a": "c"}, {"a": "c"}),
    ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
    ({"a": "b"}, {"a": None}, {}),
    ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
    ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
    ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
    ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
    ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
    (["a", "b"], ["c", "d"], ["c", "d"]),
    ({"a": "b"}, ["c"], ["c"]),
    ({"a": "foo"}, None, None),
    ({"a": "foo"}, "bar", "bar"),
    ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
    ([1, 2], {"a": "b", "c": None}, {"a": "b"}),
    ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
]


@pytest.mark.parametrize("doc,patch,expected", RFC7386)
def test_rfc7386_examples(doc, patch, expected):
    assert apply_merge_patch(doc, patch) == expected


def test_merge_patch_does_not_modify_its_inputs():
    doc = {"a": {"b": [1]}}
    patch = {"a": {"c": 2}}
    apply_merge_patch(doc, patch)
    assert doc == {"a": {"b": [1]}} and patch == {"a": {"c": 2}}


def test_lists_are_replaced_not_merged_unlike_strategic_merge():
    doc = {"containers": [{"name": "a", "image": "x"}, {"name": "b"}]}
    assert apply_merge_patch(doc, {"containers": [{"name": "a", "image": "y"}]}) == {
        "containers": [{"name": "a", "image": "y"}]
    }


# -- RFC 6902 --------------------------------------------------------------------------

# Examples from RFC 6902 appendix A.
RFC6902 = [
    ({"foo": "bar"}, [{"op": "add", "path": "/baz", "value": "qux"}], {"baz": "qux", "foo": "bar"}),
    ({"foo": ["bar", "baz"]}, [{"op": "add", "path": "/foo/1", "value": "qux"}], {"foo": ["bar", "qux", "baz"]}),
    ({"baz": "qux", "foo": "bar"}, [{"op": "remove", "path": "/baz"}], {"foo": "bar"}),
    ({"foo": ["bar", "qux", "baz"]}, [{"op": "remove", "path": "/foo/1"}], {"foo": ["bar", "baz"]}),
    ({"baz": "qux", "foo": "bar"}, [{"op": "replace", "path": "/baz", "value": "boo"}], {"baz": "boo", "foo": "bar"}),
    ({"foo": {"bar": "baz", "waldo": "fred"}, "qux": {"corge": "grault"}},
     [{"op": "move", "from": "/foo/waldo", "path": "/qux/thud"}],
     {"foo": {"bar": "baz"}, "qux": {"corge": "grault", "thud": "fred"}}),
    ({"foo": ["all", "grass", "cows", "eat"]}, [{"op": "move", "from": "/foo/1", "path": "/foo/3"}],
     {"foo": ["all", "cows", "eat", "grass"]}),
    ({"foo": "bar"}, [{"op": "add", "path": "/child", "value": {"grandchild": {}}}],
     {"foo": "bar", "child": {"grandchild": {}}}),
    ({"foo": ["bar"]}, [{"op": "add", "path": "/foo/-", "value": ["abc", "def"]}], {"foo": ["bar", ["abc", "def"]]}),
    ({"/": 9, "~1": 10}, [{"op": "test", "path": "/~01", "value": 10}], {"/": 9, "~1": 10}),
    ({"a/b": 1}, [{"op": "copy", "from": "/a~1b", "path": "/c"}], {"a/b": 1, "c": 1}),
    ({"baz": "qux", "foo": ["a", 2, "c"]},
     [{"op": "test", "path": "/baz", "value": "qux"}, {"op": "test", "path": "/foo/1", "value": 2}],
     {"baz": "qux", "foo": ["a", 2, "c"]}),
]


@pytest.mark.parametrize("doc,ops,expected", RFC6902)
def test_rfc6902_examples(doc, ops, expected):
    assert apply_json6902(doc, ops) == expected


def test_json6902_does_not_modify_its_input():
    doc = {"a": [1]}
    apply_json6902(doc, [{"op": "add", "path": "/a/-", "value": 2}])
    assert doc == {"a": [1]}


def test_root_pointer_replaces_the_document():
    assert apply_json6902({"a": 1}, [{"op": "replace", "path": "", "value": {"b": 2}}]) == {"b": 2}
    assert apply_json6902({"a": 1}, [{"op": "add", "path": "", "value": [1]}]) == [1]


def test_negative_indices_count_from_the_end_like_evanphx_json_patch():
    assert apply_json6902({"a": [1, 2, 3]}, [{"op": "remove", "path": "/a/-1"}]) == {"a": [1, 2]}
    assert apply_json6902({"a": [1, 2]}, [{"op": "replace", "path": "/a/-2", "value": 9}]) == {"a": [9, 2]}


def test_copy_is_deep():
    out = apply_json6902({"a": {"x": 1}}, [
        {"op": "copy", "from": "/a", "path": "/b"},
        {"op": "replace", "path": "/b/x", "value": 2},
    ])
    assert out == {"a": {"x": 1}, "b": {"x": 2}}


@pytest.mark.parametrize(
    "doc,ops,message",
    [
        ({"foo": "bar"}, [{"op": "add", "path": "/baz/bat", "value": "qux"}],
         "ops[0] (add /baz/bat): path /baz does not exist"),
        ({"a": 1}, [{"op": "test", "path": "/a", "value": 1}, {"op": "remove", "path": "/b"}],
         "ops[1] (remove /b): path /b does not exist"),
        ({"a": 1}, [{"op": "replace", "path": "/b", "value": 1}], "ops[0] (replace /b): path /b does not exist"),
        ({"a": [1]}, [{"op": "add", "path": "/a/3", "value": 1}],
         "ops[0] (add /a/3): array index 3 is out of range (length 1)"),
        ({"a": [1]}, [{"op": "remove", "path": "/a/x"}], 'ops[0] (remove /a/x): "x" is not an array index'),
        ({"a": 1}, [{"op": "add", "path": "/a/b", "value": 1}], "ops[0] (add /a/b): path /a is not a mapping or a list"),
        ({"baz": "qux"}, [{"op": "test", "path": "/baz", "value": "bar"}],
         "ops[0] (test /baz): test failed: found 'qux', expected 'bar'"),
        ({"a": 1}, [{"op": "test", "path": "/a", "value": True}], "ops[0] (test /a): test failed: found 1, expected True"),
        ({"a": {"b": 1}}, [{"op": "move", "from": "/a", "path": "/a/b/c"}], "ops[0] (move /a/b/c): cannot move /a into its own child"),
        ({"a": 1}, [{"op": "remove", "path": ""}], 'ops[0] (remove ): cannot remove the whole document'),
        ({"a": 1}, [{"op": "frob", "path": "/a"}], 'ops[0]: op "frob" is not valid (one of add, remove, replace, move, copy, test)'),
    ],
)
def test_json6902_errors_name_the_operation(doc, ops, message):
    with pytest.raises(PatchError) as err:
        apply_json6902(doc, ops)
    assert err.value.message == message


def test_parse_json6902_accepts_yaml_and_json():
    assert parse_json6902("- op: add\n  path: /a\n  value: 1\n") == [{"op": "add", "path": "/a", "value": 1}]
    assert parse_json6902('[{"op": "remove", "path": "/a"}]') == [{"op": "remove", "path": "/a"}]


def test_patch_yaml_keeps_dates_as_strings_like_sigs_k8s_io_yaml():
    assert parse_merge_patches(["kind: X\nwhen: 2024-01-02\n"]) == [{"kind": "X", "when": "2024-01-02"}]


def test_merge_patch_strings_may_hold_several_documents():
    assert parse_merge_patches(["kind: A\n---\nkind: B\n", "kind: C\n"]) == [{"kind": "A"}, {"kind": "B"}, {"kind": "C"}]


def test_merge_patch_must_be_a_mapping():
    with pytest.raises(PatchError) as err:
        parse_merge_patches(["kind: A\n", "- 1\n"])
    assert err.value.message == "merge patch 1: must be a mapping (a config object), got a list"


# -- matching -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "doc_kind,doc_api,patch_kind,patch_api,expected",
    [
        ("ClusterConfiguration", "kubeadm.k8s.io/v1beta3", "ClusterConfiguration", "", True),
        ("ClusterConfiguration", "kubeadm.k8s.io/v1beta3", "ClusterConfiguration", "kubeadm.k8s.io/v1beta3", True),
        ("ClusterConfiguration", "kubeadm.k8s.io/v1beta3", "ClusterConfiguration", "kubeadm.k8s.io/v1beta2", False),
        ("ClusterConfiguration", "kubeadm.k8s.io/v1beta3", "ClusterConfiguration", "kubeadm.k8s.io/", True),
        ("ClusterConfiguration", "kubeadm.k8s.io/v1beta3", "InitConfiguration", "", False),
        ("ClusterConfiguration", "kubeadm.k8s.io/v1beta3", "ClusterConfiguration", "other.io/v1beta3", False),
        ("Pod", "v1", "Pod", "v1", True),
        ("Pod", "v1", "Pod", "v2", False),
    ],
)
def test_matching_rules(doc_kind, doc_api, patch_kind, patch_api, expected):
    assert matches(doc_kind, doc_api, patch_kind, patch_api) is expected


def test_json6902_api_version_joins_group_and_version():
    assert PatchJSON6902("kubeadm.k8s.io", "v1beta3", "X", "").api_version == "kubeadm.k8s.io/v1beta3"
    assert PatchJSON6902("kubeadm.k8s.io", "", "X", "").api_version == "kubeadm.k8s.io/"
    assert PatchJSON6902("", "v1", "Pod", "").api_version == "v1"


DOCS = [
    {"apiVersion": "kubeadm.k8s.io/v1beta3", "kind": "ClusterConfiguration",
     "networking": {"serviceSubnet": "10.96.0.0/16"}, "apiServer": {"certSANs": ["localhost"]}},
    {"apiVersion": "kubeadm.k8s.io/v1beta3", "kind": "InitConfiguration",
     "nodeRegistration": {"kubeletExtraArgs": {"node-ip": "1.2.3.4"}}},
    {"apiVersion": "kubelet.config.k8s.io/v1beta1", "kind": "KubeletConfiguration"},
]


def test_patch_documents_applies_merge_then_json6902_to_matching_documents_only():
    out = patch_documents(
        DOCS,
        ["kind: ClusterConfiguration\nnetworking:\n  serviceSubnet: 10.0.0.0/16\n"],
        [PatchJSON6902("kubelet.config.k8s.io", "v1beta1", "KubeletConfiguration",
                       "- op: add\n  path: /failSwapOn\n  value: false\n"),
         PatchJSON6902("kubeadm.k8s.io", "v1beta3", "ClusterConfiguration",
                       "- op: test\n  path: /networking/serviceSubnet\n  value: 10.0.0.0/16\n")],
    )
    assert out[0]["networking"]["serviceSubnet"] == "10.0.0.0/16"
    assert out[1] == DOCS[1]
    assert out[2] == {**DOCS[2], "failSwapOn": False}
    assert DOCS[0]["networking"]["serviceSubnet"] == "10.96.0.0/16", "inputs are not modified"


def test_version_mismatch_is_not_applied():
    out = patch_documents(DOCS, ["apiVersion: kubeadm.k8s.io/v1beta2\nkind: ClusterConfiguration\nfoo: 1\n"], [])
    assert "foo" not in out[0]


def test_cert_sans_are_unioned_as_kind_does():
    out = patch_documents(DOCS, ["kind: ClusterConfiguration\napiServer:\n  certSANs: [my-host, localhost]\n"], [])
    assert out[0]["apiServer"]["certSANs"] == ["localhost", "my-host"]


def test_v1beta4_extra_args_merge_by_name_and_accept_the_map_form():
    doc = {"apiVersion": "kubeadm.k8s.io/v1beta4", "kind": "InitConfiguration",
           "nodeRegistration": {"kubeletExtraArgs": [{"name": "node-ip", "value": "1.2.3.4"},
                                                    {"name": "v", "value": "2"}]}}
    out = patch_documents(
        [doc],
        ["kind: InitConfiguration\nnodeRegistration:\n  kubeletExtraArgs:\n    node-labels: a=b\n    v: null\n"],
        [],
    )
    assert out[0]["nodeRegistration"]["kubeletExtraArgs"] == [
        {"name": "node-ip", "value": "1.2.3.4"},
        {"name": "node-labels", "value": "a=b"},
    ]


def test_v1beta3_extra_args_stay_a_plain_merge():
    out = patch_documents(DOCS, ["kind: InitConfiguration\nnodeRegistration:\n  kubeletExtraArgs:\n    v: '4'\n"], [])
    assert out[1]["nodeRegistration"]["kubeletExtraArgs"] == {"node-ip": "1.2.3.4", "v": "4"}


def test_json6902_failure_names_the_patch():
    with pytest.raises(PatchError) as err:
        patch_documents(DOCS, [], [PatchJSON6902("kubeadm.k8s.io", "v1beta3", "ClusterConfiguration",
                                                 "- op: remove\n  path: /nope\n")])
    assert err.value.message == "JSON 6902 patch 0 (ClusterConfiguration): ops[0] (remove /nope): path /nope does not exist"


def test_cluster_patches_run_before_node_patches():
    loaded = load_config_text(
        "kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\n"
        "kubeadmConfigPatches:\n- |\n  kind: KubeletConfiguration\n  order: cluster\n"
        "nodes:\n- role: control-plane\n  kubeadmConfigPatches:\n  - |\n    kind: KubeletConfiguration\n    order: node\n",
        "t",
    )
    c = loaded.cluster
    assert patch_kubeadm_documents(DOCS, c, c.nodes[0])[2]["order"] == "node"
    assert patch_kubeadm_documents(DOCS, c)[2]["order"] == "cluster"


def test_kinds_own_testdata_patches_apply():
    # The patches of kind's testdata/v1alpha4/valid-kind-patches.yaml, on a v1beta2 config.
    docs = [{"apiVersion": "kubeadm.k8s.io/v1beta2", "kind": "ClusterConfiguration", "metadata": {"name": "config"},
             "apiServer": {"certSANs": ["localhost"]}, "networking": {"serviceSubnet": "10.96.0.0/16"}}]
    out = patch_documents(
        docs,
        ["apiVersion: kubeadm.k8s.io/v1beta2\nkind: ClusterConfiguration\nmetadata:\n  name: config\n"
         "networking:\n  serviceSubnet: 10.0.0.0/16\n"],
        [PatchJSON6902("kubeadm.k8s.io", "v1beta2", "ClusterConfiguration",
                       "- op: add\n  path: /apiServer/certSANs/-\n  value: my-hostname\n")],
    )
    assert out[0]["networking"]["serviceSubnet"] == "10.0.0.0/16"
    assert out[0]["apiServer"]["certSANs"] == ["localhost", "my-hostname"]
