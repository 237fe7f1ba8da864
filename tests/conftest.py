import os
import pathlib

REPO = pathlib.Path(__file__).resolve().parent.parent

# testcontainers' reaper image cannot be pulled without a registry.
os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")

# Real-engine fixtures (engine, engine_kind, systemd_image, cluster_name),
# shared by tests/engine and tests/e2e.
from tests.engine_fixtures import (  # noqa: E402,F401
    cluster_name,
    engine,
    node_image,
    pytest_generate_tests,
    systemd_image,
)
