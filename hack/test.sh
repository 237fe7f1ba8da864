#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs and starts every
# engine (rootful and rootless Docker, rootful and rootless Podman), installs
# kindlike into a virtualenv, builds the node images the tests boot (cached:
# a rerun on a warm machine builds nothing), then runs three tiers, each
# stopping the run when it fails:
#   unit    pure logic, no engine (about a minute)
#   engine  real engines, single containers and node images
#   e2e     real clusters
# Every test has a time limit (pytest-timeout; pyproject.toml), and each
# tier prints its 15 slowest tests.
#
# With arguments, runs pytest once with them instead of the tiers, e.g.
# `hack/test.sh tests/unit -q`. KINDLIKE_TEST_ENGINES=rootful-docker,...
# narrows the engines for a developer loop (.ci/run clears it).
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n=== %s (%s)\n' "$*" "$(date -u +%H:%M:%S)"; }

if [[ $(id -u) != 0 ]]; then
    echo "hack/test.sh: run as root (it installs and starts container engines)" >&2
    exit 1
fi

step "host set-up (engines, rootless user)"
hack/setup-host.sh --all --rootful-podman-service --rootless-podman-service

step "python environment"
py=${PYTHON:-python3}
[[ -x .venv/bin/python ]] || "$py" -m venv .venv
.venv/bin/pip install --quiet --disable-pip-version-check -e ".[test]"
# The rootless user's own install (it cannot read a checkout under /root).
hack/install-venv.sh

export TESTCONTAINERS_RYUK_DISABLED=true
pytest() { .venv/bin/python -m pytest -ra "$@"; }

if (($#)); then
    step "pytest $*"
    hack/build-test-images.sh
    exec .venv/bin/python -m pytest -ra "$@"
fi

# Before the engines come up for real: a unit regression is reported in a
# minute, not after an hour of clusters. Pure logic, so on both cores.
step "pytest: unit tier"
pytest tests/unit -q -n 2 --durations=15 --timeout=60

# Outside any test's time limit: the first build on a fresh machine takes
# many minutes (Go builds), a cached one seconds.
step "node images"
hack/build-test-images.sh

step "pytest: engine tier"
pytest tests/engine --durations=15

step "pytest: e2e tier"
pytest tests/e2e --durations=15
