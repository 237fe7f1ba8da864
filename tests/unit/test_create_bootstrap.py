"""Joining while init finishes: when a join may start, and the cluster-info
signature kindlike writes instead of waiting for kube-controller-manager."""
import json
from pathlib import Path

from kindlike.create import bootstrap
from kindlike.engines.base import ExecResult

# A cluster-info ConfigMap's data as kube-controller-manager's bootstrap
# signer left it (v1.37.2), for the well-known token abcdef.0123456789abcdef.
SIGNED = json.loads((Path(__file__).parent / "data" / "cluster-info-signed.json").read_text())


def test_the_signature_is_the_one_kube_controller_manager_writes():
    assert bootstrap.cluster_info_signature(SIGNED["kubeconfig"]) == SIGNED["jws-kubeconfig-abcdef"]


def test_another_token_or_content_signs_differently():
    sig = SIGNED["jws-kubeconfig-abcdef"]
    assert bootstrap.cluster_info_signature(SIGNED["kubeconfig"], "abcdef.0123456789abcdeg") != sig
    assert bootstrap.cluster_info_signature(SIGNED["kubeconfig"] + " ") != sig


class ControlPlane:
    """Answers the one `sh -c` query join_can_start makes and records patches."""

    def __init__(self, code: int, data: dict | None = None):
        self.code, self.data, self.patches = code, data, []

    def exec(self, *cmd, check=True, timeout=None, **kw):
        if cmd[0] == "sh":
            body = json.dumps({"data": self.data}) if self.data is not None else ""
            return ExecResult(self.code, body, "" if self.code == 0 else "NotFound")
        assert cmd[:2] == ("kubectl", bootstrap.ADMIN) and "patch" in cmd
        self.patches.append(json.loads(cmd[cmd.index("-p") + 1]))
        return ExecResult(0, "patched", "")


def test_no_join_before_init_made_cluster_info_and_its_readers():
    cp = ControlPlane(1)
    assert bootstrap.join_can_start(cp) is False and cp.patches == []
    empty = ControlPlane(0, {})
    assert bootstrap.join_can_start(empty) is False and empty.patches == []


def test_a_signed_cluster_info_is_left_alone():
    cp = ControlPlane(0, dict(SIGNED))
    assert bootstrap.join_can_start(cp) is True and cp.patches == []


def test_an_unsigned_cluster_info_is_signed_before_joining():
    cp = ControlPlane(0, {"kubeconfig": SIGNED["kubeconfig"]})
    assert bootstrap.join_can_start(cp) is True
    assert cp.patches == [{"data": {"jws-kubeconfig-abcdef": SIGNED["jws-kubeconfig-abcdef"]}}]


def test_work_starts_while_init_runs_once_its_check_passes():
    import threading

    init_may_end, order = threading.Event(), []
    rounds = {"n": 0}

    def ready_on_third_round(cp):
        rounds["n"] += 1
        return rounds["n"] >= 3

    def init():
        assert init_may_end.wait(10)
        order.append("init done")

    def cni():
        order.append("cni")
        init_may_end.set()

    started = bootstrap.while_init_runs(object(), init, {"cni": (ready_on_third_round, cni),
                                                         "storage": (ready_on_third_round, lambda: None),
                                                         "join": (lambda cp: False, lambda: order.append("join"))},
                                        poll=0.01)
    for f in started.values():
        f.result(10)
    # cni ran before init ended; a check shared by two tasks is asked once a
    # round; the join, never ready during init, started after it.
    assert order == ["cni", "init done", "join"] and rounds["n"] == 3


def test_an_init_failure_is_raised_and_late_work_never_starts():
    import pytest

    ran = []

    def init():
        raise RuntimeError("init failed")

    with pytest.raises(RuntimeError, match="init failed"):
        bootstrap.while_init_runs(object(), init, {"join": (lambda cp: False, lambda: ran.append(1))}, poll=0.01)
    assert ran == []


def test_work_not_started_during_init_has_its_check_asked_once_more_after_it():
    """join_can_start signs cluster-info as it checks: a join that starts
    after init must have it asked first."""
    events = []

    def init():
        events.append("init done")

    def check(cp):
        events.append("check")
        return False

    started = bootstrap.while_init_runs(object(), init, {"join": (check, lambda: events.append("join"))}, poll=0.01)
    started["join"].result(10)
    assert events[-3:] == ["init done", "check", "join"]
