"""pytest plugin: a kindlike cluster for a test session.

Installed with kindlike (entry point `pytest11`), or enabled explicitly with
`pytest -p kindlike.pytest_plugin`. It adds two session fixtures:

    def test_nodes(kindlike_cluster):              # a kindlike.Cluster
        out = kindlike_cluster.kubectl("get", "nodes").stdout

    def test_app(kindlike_cluster, kindlike_registry):   # a kindlike.LocalRegistry
        ref = kindlike_registry.push("myapp:dev")        # localhost:PORT/myapp:dev
        kindlike_cluster.kubectl("create", "deployment", "app", f"--image={ref}")

The registry (--kindlike-registry NAME, default kindlike-registry) is
connected to the session's cluster; made when missing, and then deleted
with the cluster at the end (unless --kindlike-keep); an existing one is
used and left.

The cluster is created when the first test asks for it (or an existing
cluster of that name is reused) and deleted when the session ends, unless
--kindlike-keep is given or the cluster existed before the session (a
reused cluster is never deleted).

Options (each also an ini key, e.g. `kindlike_config = cluster.yaml`):

    --kindlike-name NAME       cluster name (default: pytest-<random>, one per session)
    --kindlike-config FILE     kind/kindlike cluster config (default: one control-plane node)
    --kindlike-image IMAGE     node image for every node
    --kindlike-provider P      docker | podman (default: $KINDLIKE_PROVIDER, else auto-detect)
    --kindlike-wait DURATION   wait for a usable cluster on create (default 5m)
    --kindlike-registry NAME   the local registry of fixture kindlike_registry
    --kindlike-keep            keep the cluster after the session
    --kindlike-logs-dir DIR    where a failing test's cluster logs go
                               (default <rootdir>/kindlike-logs/<test nodeid>/)
    --kindlike-no-logs         do not export logs when a test fails
    --kindlike-loadbalancer    publish LoadBalancer Services on 127.0.0.1 while
                               the session runs (Cluster.load_balancer_services)
    --kindlike-snapshot NAME   start the cluster from snapshot NAME, in seconds; the
                               first session without it bootstraps a cluster from
                               --kindlike-config/--kindlike-image and saves it as NAME
                               (put a hash of the config and versions in NAME, as in
                               a CI cache key)
    --kindlike-snapshot-archive FILE
                               with --kindlike-snapshot: load NAME from FILE when the
                               engine lacks it, and write FILE when NAME is made (the
                               file a CI cache keeps between machines)

pytest-xdist: every worker shares one cluster. The workers coordinate
through a lock file and a users file in a temporary directory keyed by the
cluster name (`$TMPDIR/kindlike-pytest-<uid>/<name>/`): whoever takes the
lock first with no cluster set up creates it (the others wait on the lock),
each worker registers itself as a user, and the last user out deletes it. The
xdist controller registers itself too, so a fast worker finishing early never
deletes a cluster a slower one is about to use. This is test-session state
only; kindlike itself keeps no files.
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import re
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Iterator

import pytest

from kindlike import pids
from kindlike.api import Cluster, clusters, ensure_snapshot
from kindlike.errors import KindlikeError
from kindlike.registry import DEFAULT_NAME
from kindlike.registryapi import LocalRegistry

OPTIONS = {
    # dest: (flag, help, metavar)
    "kindlike_name": ("--kindlike-name", "kindlike cluster name (default: pytest-<random>; an existing cluster of "
                      "that name is reused and never deleted)", "NAME"),
    "kindlike_config": ("--kindlike-config", "kindlike/kind cluster config file", "FILE"),
    "kindlike_image": ("--kindlike-image", "node image for every node", "IMAGE"),
    "kindlike_provider": ("--kindlike-provider", "container engine: docker or podman (default: auto-detect)", "P"),
    "kindlike_wait": ("--kindlike-wait", "wait this long for a usable cluster (nodes Ready, pod network, DNS) when creating (default 5m)", "DURATION"),
    "kindlike_logs_dir": ("--kindlike-logs-dir", "directory for the cluster logs of failing tests "
                          "(default <rootdir>/kindlike-logs)", "DIR"),
    "kindlike_registry": ("--kindlike-registry", "local registry of fixture kindlike_registry, connected to the "
                          "cluster (default kindlike-registry; made when missing and then deleted at the end)",
                          "NAME"),
    "kindlike_snapshot": ("--kindlike-snapshot", "start the cluster from this snapshot (made once from "
                          "--kindlike-config when missing)", "NAME"),
    "kindlike_snapshot_archive": ("--kindlike-snapshot-archive", "archive file of --kindlike-snapshot: loaded "
                                  "when the engine lacks it, written when it is made (a CI cache)", "FILE"),
}
FLAGS = {
    "kindlike_keep": ("--kindlike-keep", "keep the cluster after the session"),
    "kindlike_no_logs": ("--kindlike-no-logs", "do not export cluster logs when a test fails"),
    "kindlike_loadbalancer": ("--kindlike-loadbalancer", "publish the cluster's LoadBalancer Services on the host "
                              "(127.0.0.1) while the session runs"),
}
WORKERINPUT_NAME = "kindlike_cluster_name"
FIXTURE = "kindlike_cluster"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("kindlike", "kindlike Kubernetes cluster (fixture kindlike_cluster)")
    for dest, (flag, help_, metavar) in OPTIONS.items():
        group.addoption(flag, dest=dest, default=None, metavar=metavar, help=help_)
        parser.addini(dest, help_)
    for dest, (flag, help_) in FLAGS.items():
        group.addoption(flag, dest=dest, action="store_true", default=False, help=help_)
        parser.addini(dest, help_, type="bool", default=False)


PATH_OPTIONS = ("kindlike_config", "kindlike_logs_dir", "kindlike_snapshot_archive")


def _opt(config: pytest.Config, dest: str):
    """A command-line option, else its ini key (paths in the ini file are
    relative to that file), else None."""
    value = config.getoption(dest, None)
    if value not in (None, False, ""):
        return value
    value = config.getini(dest) if dest in OPTIONS or dest in FLAGS else None
    if value in ("", None):
        return None
    if dest in PATH_OPTIONS and config.inipath is not None and not os.path.isabs(value):
        value = str(config.inipath.parent / value)
    return value


# ---------------------------------------------------------------------------
# Shared state between the processes of one test session


class SharedCluster:
    """One cluster shared by every process of a test session: lock file +
    users file + a `ready` marker ("created" or "reused") in a state
    directory keyed by the cluster name."""

    def __init__(self, config: pytest.Config, name: str):
        self.config = config
        self.name = name
        self.state_dir = Path(tempfile.gettempdir()) / f"kindlike-pytest-{os.getuid()}" / name
        self.cluster: Cluster | None = None
        self.holding = False
        self.outcome = ""  # "created" | "reused" once set up in this process

    # -- settings
    @property
    def keep(self) -> bool:
        return bool(_opt(self.config, "kindlike_keep"))

    @property
    def provider(self) -> str | None:
        return _opt(self.config, "kindlike_provider")

    # -- files
    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the state directory's lock. The last user removes the lock
        file (and directory) while holding it, so a process that was waiting
        checks it still holds the file that is there, else starts over."""
        lock = self.state_dir / "lock"
        while True:
            self.state_dir.mkdir(parents=True, exist_ok=True)
            try:
                f = open(lock, "a+")
            except FileNotFoundError:  # the directory went away meanwhile
                continue
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                same = os.stat(lock).st_ino == os.fstat(f.fileno()).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            f.close()
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
            f.close()

    def _read(self, fname: str) -> str:
        try:
            return (self.state_dir / fname).read_text()
        except FileNotFoundError:
            return ""

    def _write(self, fname: str, text: str) -> None:
        tmp = self.state_dir / f".{fname}.{os.getpid()}"
        tmp.write_text(text)
        os.replace(tmp, self.state_dir / fname)

    def _rm(self, *fnames: str) -> None:
        for f in fnames:
            with contextlib.suppress(FileNotFoundError):
                (self.state_dir / f).unlink()

    def _users(self) -> list[int]:
        """Registered processes still alive (a crashed session's are dropped)."""
        alive = []
        for line in self._read("users").split():
            with contextlib.suppress(ValueError):
                pid = int(line)
                if pids.alive(pid):
                    alive.append(pid)
        return alive

    def _register(self) -> list[int]:
        users = self._users()
        if not users:
            # A new group of users: forget a failure of an earlier session; an
            # earlier session's "created" marker survives only if its cluster
            # does (adopted: deleted at the end like our own).
            self._rm("failed")
            if self._read("ready") and not self._exists():
                self._rm("ready")
        if os.getpid() not in users:
            users.append(os.getpid())
        self._write("users", "".join(f"{p}\n" for p in users))
        self.holding = True
        return users

    def _exists(self) -> bool:
        return self.name in clusters(self.provider)

    # -- the xdist controller holds a reference without creating anything
    def hold(self) -> None:
        with self.locked():
            self._register()

    # -- a process that needs the cluster
    def acquire(self, report=None) -> Cluster:
        if self.cluster is not None:
            return self.cluster
        with self.locked():
            self._register()
            failed = self._read("failed")
            if failed:
                raise KindlikeError(f"creating cluster {self.name!r} failed in another pytest process: {failed}")
            ready = self._read("ready")
            if not ready or not self._exists():
                if self._exists():
                    ready = "reused"
                    if report:
                        report(f"kindlike: reusing existing cluster {self.name!r}")
                else:
                    if report:
                        report(f"kindlike: creating cluster {self.name!r} ...")
                    start = time.monotonic()
                    try:
                        c = self._create()
                    except BaseException as e:
                        self._write("failed", (getattr(e, "message", None) or str(e) or type(e).__name__)[:2000])
                        raise
                    c.close()
                    ready = "created"
                    if report:
                        report(f"kindlike: cluster {self.name!r} created in {time.monotonic() - start:.0f}s")
                self._write("ready", ready)
            self.outcome = ready
            self.cluster = Cluster.get(self.name, provider=self.provider)
        return self.cluster

    def _create(self) -> Cluster:
        wait = _opt(self.config, "kindlike_wait") or "5m"
        snapshot = _opt(self.config, "kindlike_snapshot")
        if not snapshot:
            return Cluster.create(self.name, config=_opt(self.config, "kindlike_config"),
                                  image=_opt(self.config, "kindlike_image"), wait=wait, provider=self.provider,
                                  keep=True)

        ensure_snapshot(snapshot, config=_opt(self.config, "kindlike_config"),
                        image=_opt(self.config, "kindlike_image"),
                        archive=_opt(self.config, "kindlike_snapshot_archive"), wait=wait, provider=self.provider)
        return Cluster.create(self.name, from_snapshot=snapshot, wait=wait, provider=self.provider, keep=True)

    def release(self) -> str | None:
        """Unregister; the last user deletes a cluster this session created
        (unless --kindlike-keep). Returns what happened to the cluster when
        this was the last user: "deleted", "kept" or "left" (reused)."""
        if self.cluster is not None:
            self.cluster.close()
            self.cluster = None
        if not self.holding:
            return None
        self.holding = False
        with self.locked():
            users = [p for p in self._users() if p != os.getpid()]
            self._write("users", "".join(f"{p}\n" for p in users))
            if users:
                return None
            ready = self._read("ready")
            what = None
            if ready == "created":
                if self.keep:
                    what = "kept"
                else:
                    c = Cluster(self.name, provider=self.provider)
                    try:
                        c.delete()
                    finally:
                        c.close()
                    what = "deleted"
            elif ready == "reused":
                what = "left"
            made = self._read("registry")
            if made and not self.keep:
                LocalRegistry(made, provider=self.provider).delete()
            self._rm("ready", "failed", "users", "lock", "registry")
            with contextlib.suppress(OSError):
                self.state_dir.rmdir()
            return what


# ---------------------------------------------------------------------------
# Hooks


_STATE = pytest.StashKey[SharedCluster]()


def _is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def _is_xdist_controller(config: pytest.Config) -> bool:
    if _is_worker(config) or not config.pluginmanager.hasplugin("xdist"):
        return False
    n = getattr(config.option, "numprocesses", None)
    dist = getattr(config.option, "dist", "no")
    return bool(n) or (dist not in (None, "no") and bool(getattr(config.option, "tx", None)))


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "kindlike: the test uses the kindlike cluster fixture")
    name = _opt(config, "kindlike_name")
    if _is_worker(config):
        name = config.workerinput.get(WORKERINPUT_NAME) or name or \
            f"pytest-{config.workerinput.get('testrunuid', uuid.uuid4().hex)[:8]}"
    elif not name:
        name = f"pytest-{uuid.uuid4().hex[:8]}"
    state = SharedCluster(config, name)
    config.stash[_STATE] = state
    if _is_xdist_controller(config):
        state.hold()


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node) -> None:
    """xdist: every worker uses the controller's cluster name."""
    node.workerinput[WORKERINPUT_NAME] = node.config.stash[_STATE].name


def pytest_unconfigure(config: pytest.Config) -> None:
    state = config.stash.get(_STATE, None)
    if state is None:
        return
    # The fixture's teardown released it already; this is the xdist
    # controller's own reference, or a process whose fixture setup failed.
    _released(config, state.release())


def _released(config: pytest.Config, what: str | None) -> None:
    state = config.stash[_STATE]
    if what == "kept":
        _say(config, f"kindlike: cluster {state.name!r} kept (--kindlike-keep); "
                     f"delete it with: kindlike delete cluster --name {state.name}")
    elif what == "deleted":
        _say(config, f"kindlike: cluster {state.name!r} deleted")


def _say(config: pytest.Config, line: str) -> None:
    """A line on the terminal, also from inside a fixture (past output
    capturing); xdist workers have no terminal and stay silent."""
    if _is_worker(config):
        return
    tr = config.pluginmanager.get_plugin("terminalreporter")
    capman = config.pluginmanager.get_plugin("capturemanager")
    with capman.global_and_fixture_disabled() if capman is not None else contextlib.nullcontext():
        if tr is not None:
            tr.ensure_newline()
            tr.write_line(line)
        else:
            print(line, file=sys.stderr)


@pytest.fixture(scope="session")
def kindlike_cluster(request: pytest.FixtureRequest) -> Iterator[Cluster]:
    """A kindlike.Cluster shared by the whole session (and every xdist
    worker); created on first use unless it exists, deleted at the end unless
    --kindlike-keep or it existed before."""
    state: SharedCluster = request.config.stash[_STATE]
    cluster = state.acquire(report=lambda line: _say(request.config, line))
    try:
        with (cluster.load_balancer_services() if _opt(request.config, "kindlike_loadbalancer")
              else contextlib.nullcontext()):
            yield cluster
    finally:
        _released(request.config, state.release())


@pytest.fixture(scope="session")
def kindlike_registry(request: pytest.FixtureRequest, kindlike_cluster: Cluster):
    """A kindlike.LocalRegistry connected to the session's cluster; its
    `address` is where to push, `push(image)` pushes and returns the
    reference pods name."""
    state: SharedCluster = request.config.stash[_STATE]
    name = _opt(request.config, "kindlike_registry") or DEFAULT_NAME
    # Under the session's lock: xdist workers make it once and connect it once.
    with state.locked():
        reg = LocalRegistry.ensure(name, provider=state.provider)
        if reg.created:
            state._write("registry", name)
            _say(request.config, f"kindlike: registry {name!r} created at {reg.address}")
        reg.connect(kindlike_cluster)
    return reg


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call):
    outcome = yield
    rep = outcome.get_result()
    if not rep.failed or FIXTURE not in getattr(item, "fixturenames", ()):
        return
    config = item.config
    state = config.stash.get(_STATE, None)
    if state is None or state.cluster is None or _opt(config, "kindlike_no_logs"):
        return
    done = item.stash.setdefault(_EXPORTED, set())
    if done:
        return  # once per test, even if setup/call and teardown all fail
    done.add(rep.when)
    base = Path(_opt(config, "kindlike_logs_dir") or Path(str(config.rootpath)) / "kindlike-logs")
    dest = base / nodeid_path(item.nodeid)
    try:
        path = state.cluster.export_logs(dest)
        rep.sections.append(("kindlike", f"cluster {state.name!r} logs exported to {path}"))
    except Exception as e:  # never turn a test failure into an internal error
        rep.sections.append(("kindlike", f"exporting cluster logs to {dest} failed: {e}"))


_EXPORTED = pytest.StashKey[set]()


def nodeid_path(nodeid: str) -> Path:
    """A relative directory for a test node id: `tests/test_a.py::T::t[x-1]`
    -> `tests/test_a.py/T/t[x-1]`; nothing can climb out of the base."""
    parts = []
    for part in re.split(r"::|/", nodeid):
        part = re.sub(r"[^A-Za-z0-9._\[\]=+,@-]", "_", part)[:120]
        if part in ("", ".", ".."):
            part = "_" if part else ""
        if part:
            parts.append(part)
    return Path(*parts) if parts else Path("_")
