#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs and starts every
# engine (rootful Docker, rootless Docker, rootless Podman), installs
# kindlike into a virtualenv, builds what the tests need (cached: a rerun on
# a warm machine builds nothing) and runs pytest. Extra arguments go to
# pytest, e.g. `hack/test.sh tests/unit -q`.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n=== %s\n' "$*"; }

if [[ $(id -u) != 0 ]]; then
    echo "hack/test.sh: run as root (it installs and starts container engines)" >&2
    exit 1
fi

step "host set-up (engines, rootless user)"
hack/setup-host.sh --all

step "python environment"
py=${PYTHON:-python3}
[[ -x .venv/bin/python ]] || "$py" -m venv .venv
.venv/bin/pip install --quiet --disable-pip-version-check -e ".[test]"
# The rootless user's own install (it cannot read a checkout under /root).
hack/install-venv.sh

step "pytest"
export TESTCONTAINERS_RYUK_DISABLED=true
exec .venv/bin/python -m pytest -ra "$@"
