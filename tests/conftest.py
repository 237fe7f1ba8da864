import os
import pathlib

REPO = pathlib.Path(__file__).resolve().parent.parent

# testcontainers' reaper image cannot be pulled without a registry.
os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")
# The CI machine is cgroup v1 with no systemd to delegate cgroup v2 to the
# rootless user, so rootless nodes run without resource limits there; the
# create preflight refuses that unless told it is fine. Tests of the
# preflight itself remove this variable from their environment.
os.environ.setdefault("KINDLIKE_ALLOW_NO_RESOURCE_LIMITS", "1")

# Real-engine fixtures (engine, engine_kind, systemd_image, cluster_name),
# shared by tests/engine and tests/e2e.
from tests.engine_fixtures import (  # noqa: E402,F401
    cluster_name,
    engine,
    node_image,
    pytest_collection_modifyitems,
    pytest_generate_tests,
    systemd_image,
)
