"""kindlike.create.pipeline: the one loop over the steps (status lines,
skips, StepError with step and node, the one cleanup), with fake steps."""
from __future__ import annotations

import io

import pytest

from kindlike.config import load_config
from kindlike.create import pipeline
from kindlike.create.pipeline import CreateOptions, Step
from kindlike.errors import ExecError, KindlikeError, StepError
from kindlike.status import Status


def context(monkeypatch, retain=False):
    deleted = []
    monkeypatch.setattr(pipeline, "delete_cluster", lambda engine, name: deleted.append(name))
    out = io.StringIO()
    opts = CreateOptions("demo", load_config(None).cluster, retain=retain, status=Status(stream=out))
    return pipeline.prepare(opts, engine=object()), out, deleted


def test_steps_run_in_order_with_a_line_each_and_skips(monkeypatch):
    ctx, out, _ = context(monkeypatch)
    ran = []
    steps = [Step("One", lambda c, note: (ran.append(1), note("detail"))),
             Step("Two", lambda c, note: ran.append(2), skip=lambda c: ""),
             Step("Three", lambda c, note: ran.append(3), skip=lambda c: "Three not needed"),
             Step("Four", lambda c, note: ran.append(4), shown=lambda c: "Four (shown)")]
    pipeline.run(ctx, steps)
    lines = out.getvalue().splitlines()
    assert ran == [1, 4]
    assert lines[0].startswith(" ✓ One (detail) ") and lines[1] == " • Three not needed"
    assert lines[2].startswith(" ✓ Four (shown) ")
    assert set(ctx.status.durations) == {"One", "Four"}


def test_a_failure_names_step_and_node_and_cleans_up(monkeypatch):
    ctx, out, deleted = context(monkeypatch)

    def create(c, note):
        c.created = True

    def fail(c, note):
        raise ExecError("demo-worker", ["kubeadm", "join"], 1, "boom")

    with pytest.raises(StepError) as e:
        pipeline.run(ctx, [Step("Create", create), Step("Join", fail), Step("Never", lambda c, n: 1 / 0)])
    assert e.value.step == "Join" and e.value.node == "demo-worker"
    assert e.value.message.startswith("step 'Join' failed on node demo-worker: ")
    assert deleted == ["demo"] and " ✗ Join " in out.getvalue()


def test_retain_keeps_what_was_created_and_says_how_to_remove_it(monkeypatch):
    ctx, _, deleted = context(monkeypatch, retain=True)
    steps = [Step("Create", lambda c, n: setattr(c, "created", True)), Step("Fail", lambda c, n: 1 / 0)]
    with pytest.raises(StepError) as e:
        pipeline.run(ctx, steps)
    assert deleted == [] and "kindlike delete cluster --name demo" in e.value.fix


def test_a_check_refuses_with_its_own_error_and_nothing_is_removed(monkeypatch):
    ctx, _, deleted = context(monkeypatch)
    refusal = KindlikeError("cluster 'demo' already exists")

    def check(c, note):
        raise refusal

    with pytest.raises(KindlikeError) as e:
        pipeline.run(ctx, [Step("Check", check, check=True), Step("Never", lambda c, n: 1 / 0)])
    assert e.value is refusal and deleted == []


def test_an_error_raised_while_a_ctrl_c_unwound_ends_as_the_interrupt(monkeypatch):
    """Seen in a CI run: Ctrl-C while the main thread waited on a future came
    out as RuntimeError('release unlocked lock'), and the create exited 1
    as a failed step instead of 130 as interrupted."""
    ctx, _, deleted = context(monkeypatch)
    interrupt = KeyboardInterrupt()

    def waits(c, note):
        try:
            raise interrupt
        finally:
            raise RuntimeError("release unlocked lock")

    with pytest.raises(KeyboardInterrupt) as e:
        pipeline.run(ctx, [Step("Create", lambda c, n: setattr(c, "created", True)), Step("Init", waits)])
    assert e.value is interrupt and deleted == ["demo"]
    # A plain failure stays a failed step.
    ctx, _, _ = context(monkeypatch)
    with pytest.raises(StepError):
        pipeline.run(ctx, [Step("Fail", lambda c, n: 1 / 0)])
