"""`kindlike delete clusters --all` against a real engine: rootful Podman
with a private store, network config and API socket of the test's own, so
that "all" can never reach a cluster of the user's (or another test's).
Two clusters (one with a network and volume), one leftover (only a volume
remains) and a container that is not kindlike's; after the delete, only the
stranger is left."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from kindlike.cluster.nodes import list_clusters
from kindlike.constants import LABEL_CLUSTER, LABEL_ROLE
from kindlike.engines.podman import PodmanEngine
from tests.engine_fixtures import start_engine

pytestmark = pytest.mark.engine

BASE = "kindlike/base:bookworm"


@pytest.fixture
def private_podman():
    start_engine("rootful-podman")  # installed and configured, base image imported
    d = Path(tempfile.mkdtemp(prefix="klpd-"))  # podman: a runroot of at most 50 characters
    flags = ["--root", str(d / "root"), "--runroot", str(d / "run"), "--network-config-dir", str(d / "net"),
             "--tmpdir", str(d / "tmp")]
    (d / "net").mkdir()

    def podman(*args: str) -> str:
        res = subprocess.run(["podman", *flags, *args], capture_output=True, text=True, timeout=120)
        assert res.returncode == 0, f"podman {' '.join(args)}: {res.stderr}"
        return res.stdout

    url = f"unix://{d}/podman.sock"
    env = {k: v for k, v in os.environ.items() if k not in ("CONTAINER_HOST", "CONTAINER_CONNECTION")}
    service = subprocess.Popen(["podman", *flags, "system", "service", "--time=0", url], env=env,
                               stdout=subprocess.DEVNULL, stderr=open(d / "service.log", "wb"), start_new_session=True)
    engine = None
    try:
        deadline = time.monotonic() + 30
        while engine is None:
            try:
                engine = PodmanEngine.connect(url, start_service=False)
            except Exception:
                assert time.monotonic() < deadline and service.poll() is None, (d / "service.log").read_text()
                time.sleep(0.2)
        saved = subprocess.run(["podman", "image", "save", BASE], capture_output=True, timeout=120, check=True).stdout
        subprocess.run(["podman", *flags, "load"], input=saved, capture_output=True, timeout=120, check=True)
        yield podman, url, engine
    finally:
        if engine is not None:
            engine.close()
        subprocess.run(["podman", *flags, "rm", "-af"], capture_output=True, timeout=120)
        subprocess.run(["podman", *flags, "system", "reset", "--force"], capture_output=True, timeout=120)
        service.terminate()
        service.wait(30)
        shutil.rmtree(d, ignore_errors=True)


def test_delete_clusters_all(private_podman, tmp_path):
    podman, url, engine = private_podman
    for cluster in ("alpha", "beta"):
        for role, suffix in (("control-plane", "control-plane"), ("worker", "worker")):
            podman("create", "--name", f"{cluster}-{suffix}", "--label", f"{LABEL_CLUSTER}={cluster}",
                   "--label", f"{LABEL_ROLE}={role}", BASE, "true")
    podman("network", "create", "--label", f"{LABEL_CLUSTER}=alpha", "kindlike-alpha")
    podman("volume", "create", "--label", f"{LABEL_CLUSTER}=alpha", "alpha-control-plane-var")
    podman("volume", "create", "--label", f"{LABEL_CLUSTER}=gamma", "gamma-control-plane-var")  # a leftover
    podman("create", "--name", "stranger", BASE, "true")
    assert list_clusters(engine) == ["alpha", "beta"]
    assert list_clusters(engine, include_leftovers=True) == ["alpha", "beta", "gamma"]

    env = {**os.environ, "CONTAINER_HOST": url}
    kubeconfig = tmp_path / "kubeconfig"
    res = subprocess.run([sys.executable, "-m", "kindlike.cli.main", "--provider", "podman", "delete", "clusters",
                          "--all", "--kubeconfig", str(kubeconfig)], capture_output=True, text=True, env=env,
                         timeout=300)
    assert res.returncode == 0, res.stderr
    assert all(name in res.stderr for name in ("alpha", "beta", "gamma")), res.stderr
    assert list_clusters(engine, include_leftovers=True) == []
    assert podman("ps", "-a", "--format", "{{.Names}}").split() == ["stranger"]
    assert podman("volume", "ls", "-q").split() == []
    assert "kindlike-alpha" not in podman("network", "ls", "--format", "{{.Name}}").split()

    # Nothing left: --all again succeeds and says so.
    res = subprocess.run([sys.executable, "-m", "kindlike.cli.main", "--provider", "podman", "delete", "clusters",
                          "--all", "--kubeconfig", str(kubeconfig)], capture_output=True, text=True, env=env,
                         timeout=300)
    assert res.returncode == 0, res.stderr
