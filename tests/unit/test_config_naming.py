"""Cluster name precedence and kind's node naming scheme."""
from __future__ import annotations

import pytest

from kindlike.config import load_config_text, node_names, resolve_cluster_name
from kindlike.config.naming import ENV_CLUSTER_NAME, load_balancer_name, make_node_namer
from kindlike.errors import ConfigError

HEADER = "kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\n"


@pytest.mark.parametrize(
    "flag,env,config,expected",
    [
        ("flag", "env", "config", "flag"),
        (None, "env", "config", "env"),
        (None, None, "config", "config"),
        (None, None, None, "kindlike"),
        ("", "", "", "kindlike"),
        ("", "env", "", "env"),
    ],
)
def test_precedence(flag, env, config, expected):
    assert resolve_cluster_name(flag, env, config) == expected


def test_env_may_be_the_environment_mapping():
    assert resolve_cluster_name(None, {ENV_CLUSTER_NAME: "from-env", "KIND_CLUSTER_NAME": "kind"}, "cfg") == "from-env"
    assert resolve_cluster_name(None, {"KIND_CLUSTER_NAME": "ignored"}, "cfg") == "cfg"


def test_env_var_name():
    assert ENV_CLUSTER_NAME == "KINDLIKE_CLUSTER_NAME"


@pytest.mark.parametrize(
    "flag,env,config,where",
    [("Bad", None, None, "--name"), (None, "Bad", None, "KINDLIKE_CLUSTER_NAME"), (None, None, "Bad", "name")],
)
def test_the_winning_name_is_validated_and_blamed_on_its_source(flag, env, config, where):
    with pytest.raises(ConfigError) as err:
        resolve_cluster_name(flag, env, config)
    assert err.value.problems[0].startswith(f'{where}: "Bad" is not a valid cluster name')


def test_a_losing_invalid_name_does_not_matter():
    assert resolve_cluster_name("good", None, "Bad") == "good"


def test_node_names_follow_kinds_namer():
    cfg = load_config_text(
        HEADER + "nodes:\n- role: control-plane\n- role: worker\n- role: control-plane\n- role: worker\n"
        "- role: worker\n- role: control-plane\n",
        "t",
    ).cluster
    got = node_names(cfg, "ab1")
    assert [(name, role) for name, role, _ in got] == [
        ("ab1-control-plane", "control-plane"),
        ("ab1-worker", "worker"),
        ("ab1-control-plane2", "control-plane"),
        ("ab1-worker2", "worker"),
        ("ab1-worker3", "worker"),
        ("ab1-control-plane3", "control-plane"),
    ]
    assert all(node is cfg.nodes[i] for i, (_, _, node) in enumerate(got))


def test_kinds_own_namer_cases():
    # The cases of kind's pkg/cluster/internal/providers/common/namer_test.go.
    cases = [
        ("kind", ["control-plane"], ["kind-control-plane"]),
        ("kind-test", ["control-plane", "worker", "worker"],
         ["kind-test-control-plane", "kind-test-worker", "kind-test-worker2"]),
        ("ab1", ["control-plane", "control-plane", "control-plane", "external-load-balancer", "worker", "worker", "worker"],
         ["ab1-control-plane", "ab1-control-plane2", "ab1-control-plane3", "ab1-external-load-balancer",
          "ab1-worker", "ab1-worker2", "ab1-worker3"]),
    ]
    for cluster, roles, want in cases:
        namer = make_node_namer(cluster)
        assert [namer(r) for r in roles] == want


def test_default_cluster_node_name():
    cfg = load_config_text(HEADER, "t").cluster
    assert [n for n, _, _ in node_names(cfg, "kindlike")] == ["kindlike-control-plane"]


def test_load_balancer_name():
    assert load_balancer_name("x") == "x-external-load-balancer"
