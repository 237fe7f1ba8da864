"""Real engines for the engine tests, started by the test set-up itself.

Each engine is brought up with hack/setup-host.sh (idempotent, seconds when
already up). KINDLIKE_TEST_ENGINES picks which (comma separated; default
all four). An engine that cannot be started is a test ERROR, never a skip.
"""
from __future__ import annotations

import hashlib
import os
import pathlib
import pwd
import subprocess
import sys
import uuid

import pytest

from kindlike.cluster.nodes import cluster_labels, delete_cluster

REPO = pathlib.Path(__file__).resolve().parent.parent
ALL_ENGINES = ["rootful-docker", "rootful-podman", "rootless-docker", "rootless-podman"]
ROOTLESS_USER = os.environ.get("KINDLIKE_ROOTLESS_USER", "kindlike")
SETUP_FLAGS = {
    "rootful-docker": ["--rootful-docker"],
    "rootful-podman": ["--rootful-podman-service"],
    "rootless-docker": ["--rootless-docker"],
    "rootless-podman": ["--rootless-podman", "--rootless-podman-service"],
}
TEST_IMAGE_DIR = REPO / "tests" / "engine" / "images" / "systemd"


def selected_engines() -> list[str]:
    raw = os.environ.get("KINDLIKE_TEST_ENGINES", "")
    chosen = [e.strip() for e in raw.split(",") if e.strip()] or ALL_ENGINES
    unknown = set(chosen) - set(ALL_ENGINES)
    if unknown:
        raise pytest.UsageError(f"KINDLIKE_TEST_ENGINES: unknown {sorted(unknown)}; choose from {ALL_ENGINES}")
    return chosen


def rootless_uid() -> int:
    return pwd.getpwnam(ROOTLESS_USER).pw_uid


def connect(kind: str):
    from kindlike.engines.docker import DockerEngine
    from kindlike.engines.podman import PodmanEngine

    if kind == "rootful-docker":
        return DockerEngine.connect("unix:///var/run/docker.sock")
    if kind == "rootless-docker":
        return DockerEngine.connect(f"unix:///run/user/{rootless_uid()}/docker.sock")
    if kind == "rootful-podman":
        return PodmanEngine.connect("unix:///run/podman/podman.sock", start_service=False)
    return PodmanEngine.connect(f"unix:///run/user/{rootless_uid()}/podman/podman.sock", start_service=False)


_started: set[str] = set()


def start_engine(kind: str, again: bool = False) -> None:
    # KINDLIKE_TEST_ENGINES_UP=1: a developer loop on a machine whose engines
    # are up. `again`: after restart_engine() stopped it, whatever that says.
    if not again and (kind in _started or os.environ.get("KINDLIKE_TEST_ENGINES_UP") == "1"):
        return
    if os.getuid() != 0:
        raise RuntimeError("engine tests start real engines with hack/setup-host.sh and must run as root")
    res = subprocess.run([str(REPO / "hack" / "setup-host.sh"), *SETUP_FLAGS[kind]], capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError(f"hack/setup-host.sh {' '.join(SETUP_FLAGS[kind])} failed:\n{res.stdout}\n{res.stderr}")
    _started.add(kind)


def pytest_generate_tests(metafunc):
    """Every engine selected; `@pytest.mark.engines(kind, ...)` narrows a
    test to those of them (coverage one engine gives as well as four)."""
    if "engine_kind" in metafunc.fixturenames:
        kinds = selected_engines()
        marker = metafunc.definition.get_closest_marker("engines")
        if marker:
            kinds = [k for k in kinds if k in marker.args]
        # None of its engines selected (a developer's narrowed run): the test
        # is deselected, not reported as skipped.
        metafunc.parametrize("engine_kind", kinds or [pytest.param(None, marks=pytest.mark.no_engine_selected)],
                             scope="session")


def pytest_collection_modifyitems(config, items):
    unselected = [i for i in items if i.get_closest_marker("no_engine_selected")]
    if unselected:
        config.hook.pytest_deselected(items=unselected)
        items[:] = [i for i in items if not i.get_closest_marker("no_engine_selected")]


@pytest.fixture(scope="session")
def engine(engine_kind):
    start_engine(engine_kind)
    eng = connect(engine_kind)
    yield eng
    eng.close()


def build_test_image(engine) -> str:
    """Build the systemd test image once per engine; the tag is the content
    hash of its directory, so a rerun on a warm machine builds nothing."""
    h = hashlib.sha256()
    for p in sorted(TEST_IMAGE_DIR.iterdir()):
        h.update(p.name.encode() + p.read_bytes())
    tag = f"kindlike/test-systemd:{h.hexdigest()[:12]}"
    if not engine.image_exists(tag):
        engine.build_image(TEST_IMAGE_DIR, tag)
    return tag


@pytest.fixture(scope="session")
def systemd_image(engine):
    return build_test_image(engine)


@pytest.fixture
def cluster_name(engine):
    """A unique cluster name whose every resource is removed after the test,
    whether it passed or not."""
    name = f"t{uuid.uuid4().hex[:8]}"
    yield name
    delete_cluster(engine, name)
    left = (engine.list_containers(cluster_labels(name)), engine.list_volumes(cluster_labels(name)))
    assert left == ([], []), f"cleanup left resources behind: {left}"


def _id(engine, ref: str) -> str:
    return engine.image_id(ref).removeprefix("sha256:")


def ensure_node_image(engine, engine_kind: str, tmp_dir: pathlib.Path) -> str:
    """The default node image in this engine's store: built (cached) in
    rootful Docker, then copied into a rootless engine's own store when it
    lacks that exact image, as a user would with save/load."""
    from kindlike.constants import DEFAULT_NODE_IMAGE as ref

    start_engine("rootful-docker")
    rootful = engine if engine_kind == "rootful-docker" else connect("rootful-docker")
    # Always asked for: a cache hit (same inputs) takes seconds, and an image
    # left by an older checkout is rebuilt rather than tested.
    res = subprocess.run([sys.executable, "-m", "kindlike.cli.main", "--provider", "docker", "build",
                          "node-image", "--image", ref], env={**os.environ, "DOCKER_HOST": rootful.host},
                         capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError(f"building {ref} failed:\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}")
    if engine is not rootful:
        if not engine.image_exists(ref) or _id(engine, ref) != _id(rootful, ref):
            archive = tmp_dir / "node-image.tar"
            rootful.save_images([ref], archive)
            engine.load_image_archive(archive)
            archive.unlink()
        rootful.close()
    return ref


@pytest.fixture(scope="session")
def node_image(engine, engine_kind, tmp_path_factory):
    return ensure_node_image(engine, engine_kind, tmp_path_factory.mktemp("nodeimage"))


def install_user_venv() -> None:
    res = subprocess.run([str(REPO / "hack" / "install-venv.sh")], capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError(f"hack/install-venv.sh failed:\n{res.stdout}\n{res.stderr}")


def user_dir() -> pathlib.Path:
    """A scratch directory the rootless user owns (kubeconfig, configs)."""
    import tempfile

    d = pathlib.Path(tempfile.mkdtemp(prefix="kindlike-e2e-", dir="/tmp"))
    pw = pwd.getpwnam(ROOTLESS_USER)
    os.chown(d, pw.pw_uid, pw.pw_gid)
    return d


def _wait_gone(pids: list[int], timeout: float = 90) -> None:
    import time

    deadline = time.monotonic() + timeout
    for pid in pids:
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.2)
        else:
            raise RuntimeError(f"pid {pid} did not exit within {timeout}s")


def restart_engine(kind: str, engine, cluster: str) -> None:
    """What a host reboot does to a cluster's containers, short of rebooting.
    Docker: its daemon stops (taking every container down) and starts again;
    the daemon then starts the containers by their restart policy. Podman has
    no daemon: the cluster's containers are killed from outside, and Podman's
    restart policy has to start them again."""
    import signal

    if kind == "rootful-docker":
        pids = [int(open("/var/run/docker.pid").read().strip())]
    elif kind == "rootless-docker":
        pids = [int(p) for p in subprocess.run(["pgrep", "-u", str(rootless_uid()), "-x", "dockerd"],
                                              capture_output=True, text=True).stdout.split()]
    else:
        pids = [engine.container(c.name).pid
                for c in engine.list_containers(cluster_labels(cluster), all=False)]
    assert pids, f"nothing of {kind} to restart"
    sig = signal.SIGKILL if kind.endswith("podman") else signal.SIGTERM
    for pid in pids:
        os.kill(pid, sig)
    _wait_gone(pids)
    _started.discard(kind)
    start_engine(kind, again=True)
