"""kindlike.logs, behind `kindlike export logs` (no engine needed)."""
from pathlib import Path

from kindlike import logs


def test_log_tarball_top_directory():
    assert logs._tar_top(Path("/x/run-42.tar.gz")) == "run-42"
    assert logs._tar_top(Path("/x/run.tgz")) == "run"
