"""kindlike run by a rootless user, with Podman's API socket not running:
kindlike starts `podman system service` itself and stops it when done."""
from __future__ import annotations

import json
import os
import subprocess

import pytest

from tests.conftest import REPO
from tests.engine_fixtures import ROOTLESS_USER, rootless_uid, selected_engines, start_engine

pytestmark = pytest.mark.engine


def service_pids(pattern: str) -> list[str]:
    res = subprocess.run(["pgrep", "-u", ROOTLESS_USER, "-f", pattern], capture_output=True, text=True)
    return res.stdout.split()


@pytest.mark.skipif("rootless-podman" not in selected_engines(), reason="rootless-podman not selected")
def test_kindlike_starts_and_stops_podman_service():
    start_engine("rootless-podman")
    subprocess.run([str(REPO / "hack" / "install-venv.sh")], check=True, capture_output=True)
    dead = f"unix:///run/user/{rootless_uid()}/kindlike-test-no-such.sock"
    env = {**os.environ, "CONTAINER_HOST": dead, "KINDLIKE_PROVIDER": "podman"}
    res = subprocess.run([str(REPO / "hack" / "as-rootless.sh"), "kindlike", "version", "--engine"],
                         capture_output=True, text=True, env=env, timeout=120)
    assert res.returncode == 0, res.stderr
    facts = json.loads(res.stdout[res.stdout.index("{"):])
    assert facts["name"] == "podman" and facts["rootless"] is True
    assert "kindlike-podman-" in facts["endpoint"], "kindlike's own service socket"
    # the service it started is gone again
    assert service_pids("podman system service --time=0 unix:///.*kindlike-podman-") == []
