"""The pytest plugin's session-sharing logic, with a fake cluster (no
engine): several processes acquiring at once create one cluster; the last
one out deletes it; a reused or kept cluster stays; a failed create is not
retried by every other process; dead processes do not pin a cluster."""
from __future__ import annotations

import multiprocessing
import os
import time
from pathlib import Path

import pytest

from kindlike import pytest_plugin as plugin

pytest_plugins = ["pytester"]


class FakeConfig:
    def __init__(self, **opts):
        self.opts = opts

    def getoption(self, dest, default=None):
        return self.opts.get(dest, default)

    def getini(self, dest):
        return False if dest in plugin.FLAGS else ""


class World:
    """The "engine": a directory whose files say which clusters exist, and a
    log of create/delete calls (shared by forked processes)."""

    def __init__(self, root: Path):
        self.root = root
        (root / "clusters").mkdir(parents=True, exist_ok=True)

    def log(self, line: str) -> None:
        with open(self.root / "calls", "a") as f:
            f.write(line + "\n")

    def calls(self) -> list[str]:
        p = self.root / "calls"
        return p.read_text().split("\n")[:-1] if p.exists() else []

    def exists(self, name: str) -> bool:
        return (self.root / "clusters" / name).exists()


@pytest.fixture
def world(tmp_path, monkeypatch):
    w = World(tmp_path / "world")
    monkeypatch.setattr(plugin.tempfile, "gettempdir", lambda: str(tmp_path / "tmp"))

    class FakeCluster:
        fail = False

        def __init__(self, name, **kw):
            self.name = name

        @classmethod
        def create(cls, name, **kw):
            # Long enough for the others to queue on the lock (a create that
            # fails at once would let a late process count as a new session).
            time.sleep(0.5)
            if os.environ.get("FAKE_CREATE_FAILS") == "1":
                w.log(f"create-failed {name}")
                raise RuntimeError("no engine today")
            (w.root / "clusters" / name).touch()
            w.log(f"create {name} {os.getpid()}")
            return cls(name)

        @classmethod
        def get(cls, name, **kw):
            assert w.exists(name)
            return cls(name)

        def delete(self):
            (w.root / "clusters" / self.name).unlink()
            w.log(f"delete {self.name} {os.getpid()}")

        def close(self):
            pass

    monkeypatch.setattr(plugin, "Cluster", FakeCluster)
    monkeypatch.setattr(plugin.SharedCluster, "_exists", lambda self: w.exists(self.name))
    return w


def _worker(name, opts, start, hold_s, out, together=None):
    state = plugin.SharedCluster(FakeConfig(**opts), name)
    start.wait()
    try:
        try:
            c = state.acquire()
            out.put(("ok", os.getpid(), c.name))
            time.sleep(hold_s)
        except Exception as e:  # noqa: BLE001
            out.put(("error", os.getpid(), str(e)))
        if together is not None:
            together.wait(30)
    finally:
        state.release()


def _run(n, name, opts=None, hold=(0.2,), env=None, together=False):
    """`together`: no process releases before every one has acquired (or
    failed to), as in a real session, whose processes release at its end."""
    ctx = multiprocessing.get_context("fork")
    start, out = ctx.Event(), ctx.Queue()
    barrier = ctx.Barrier(n) if together else None
    old = dict(os.environ)
    os.environ.update(env or {})
    try:
        procs = [ctx.Process(target=_worker, args=(name, opts or {}, start, hold[i % len(hold)], out, barrier))
                 for i in range(n)]
        for p in procs:
            p.start()
        start.set()
        for p in procs:
            p.join(30)
            assert p.exitcode == 0
    finally:
        os.environ.clear()
        os.environ.update(old)
    return [out.get(timeout=5) for _ in range(n)]


def test_concurrent_processes_create_once_and_the_last_deletes(world):
    results = _run(4, "shared", hold=(0.1, 0.5, 0.2, 0.8))
    assert [r[0] for r in results] == ["ok"] * 4
    calls = world.calls()
    assert [c.split()[0] for c in calls] == ["create", "delete"]
    assert not world.exists("shared")


def test_keep_leaves_the_cluster(world):
    _run(2, "kept", opts={"kindlike_keep": True})
    assert [c.split()[0] for c in world.calls()] == ["create"]
    assert world.exists("kept")


def test_an_existing_cluster_is_reused_and_never_deleted(world):
    (world.root / "clusters" / "theirs").touch()
    results = _run(3, "theirs")
    assert all(r[0] == "ok" for r in results)
    assert world.calls() == [] and world.exists("theirs")


def test_a_failed_create_is_reported_not_retried_by_every_process(world):
    # Together: a process that failed and released at once, before a slow
    # one registered, would end the session for it (a new one, which tries
    # again): with both cores busy that happened in 2 runs of 14.
    results = _run(3, "broken", env={"FAKE_CREATE_FAILS": "1"}, together=True)
    assert sorted(r[0] for r in results) == ["error"] * 3
    assert [c.split()[0] for c in world.calls()] == ["create-failed"]
    assert any("failed in another pytest process" in r[2] for r in results)
    # The next session tries again.
    results = _run(1, "broken", env={"FAKE_CREATE_FAILS": "1"})
    assert [c.split()[0] for c in world.calls()] == ["create-failed", "create-failed"]


def test_the_xdist_controller_holds_the_cluster_between_workers(world):
    controller = plugin.SharedCluster(FakeConfig(), "ctl")
    controller.hold()
    # Two "workers" one after the other: without the controller's reference
    # the first would delete the cluster and the second recreate it.
    _run(1, "ctl")
    _run(1, "ctl")
    assert [c.split()[0] for c in world.calls()] == ["create"]
    assert controller.release() == "deleted"
    assert [c.split()[0] for c in world.calls()] == ["create", "delete"]


def test_dead_processes_do_not_pin_a_cluster(world, tmp_path):
    state = plugin.SharedCluster(FakeConfig(), "stale")
    state.state_dir.mkdir(parents=True)
    (state.state_dir / "users").write_text("999999999\n")  # no such pid
    (state.state_dir / "ready").write_text("created")  # a crashed session's cluster, gone meanwhile
    state.acquire()
    assert [c.split()[0] for c in world.calls()] == ["create"]
    assert state.release() == "deleted"


def test_the_last_one_out_leaves_no_state_directory(world):
    state = plugin.SharedCluster(FakeConfig(), "tidy")
    state.acquire()
    assert state.state_dir.is_dir()
    state.release()
    assert not state.state_dir.exists()


def test_a_process_waiting_on_a_removed_lock_file_starts_over(world):
    """The last user removes the lock file while holding it; whoever was
    blocked on the old file must not think it holds the lock."""
    import threading

    a = plugin.SharedCluster(FakeConfig(), "race")
    b = plugin.SharedCluster(FakeConfig(), "race")
    b_lock = b.locked()
    entered = threading.Event()
    with a.locked():
        t = threading.Thread(target=lambda: (b_lock.__enter__(), entered.set()))
        t.start()
        time.sleep(0.2)
        assert not entered.is_set()  # b waits on a's lock file
        (a.state_dir / "lock").unlink()
        a.state_dir.rmdir()
    t.join(5)
    assert entered.is_set()
    # b holds the lock file that is there now (a new one), not the removed one.
    with pytest.raises(BlockingIOError):
        import fcntl

        with open(b.state_dir / "lock") as f:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    b_lock.__exit__(None, None, None)


@pytest.mark.parametrize("nodeid,path", [
    ("tests/test_a.py::test_x", "tests/test_a.py/test_x"),
    ("test_a.py::TestK::test_y[1-two]", "test_a.py/TestK/test_y[1-two]"),
    ("a/../b.py::t[x/y]", "a/_/b.py/t[x/y]"),
    ("t.py::t[sp ace:colon]", "t.py/t[sp_ace_colon]"),
])
def test_nodeid_path(nodeid, path):
    assert plugin.nodeid_path(nodeid) == Path(path)
    assert ".." not in plugin.nodeid_path(nodeid).parts


def test_options_are_registered(pytester):
    pytester.makeconftest("")
    res = pytester.runpytest("-p", "kindlike.pytest_plugin", "--help")
    out = res.stdout.str()
    for flag in ("--kindlike-name", "--kindlike-config", "--kindlike-image", "--kindlike-keep",
                 "--kindlike-provider", "--kindlike-wait", "--kindlike-logs-dir", "--kindlike-no-logs"):
        assert flag in out


def test_a_session_not_using_the_fixture_touches_nothing(pytester, tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path / "t"))
    (tmp_path / "t").mkdir()
    pytester.makepyfile("def test_plain():\n    assert True\n")
    res = pytester.runpytest("-p", "kindlike.pytest_plugin")
    res.assert_outcomes(passed=1)
    assert list((tmp_path / "t").iterdir()) == []
