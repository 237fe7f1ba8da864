#!/usr/bin/env bash
# Bring up a cluster on a fresh machine: install and start the engine,
# install kindlike into .venv, and create a cluster (building the default
# node image the first time). Arguments go to `kindlike create cluster`,
# e.g. `hack/up.sh --name dev --config examples/multi-node.yaml`.
#
# Engine: rootful Docker by default; KINDLIKE_UP_ENGINE=rootless-docker or
# rootless-podman sets up that engine instead and creates the cluster as the
# rootless user (see hack/README.md).
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ $(id -u) != 0 ]]; then
    echo "hack/up.sh: run as root (it installs and starts the container engine)" >&2
    exit 1
fi
engine=${KINDLIKE_UP_ENGINE:-rootful-docker}
case $engine in
    rootful-docker) hack/setup-host.sh --rootful-docker ;;
    rootless-docker) hack/setup-host.sh --rootless-docker ;;
    rootless-podman) hack/setup-host.sh --rootless-podman ;;
    *) echo "hack/up.sh: KINDLIKE_UP_ENGINE must be rootful-docker, rootless-docker or rootless-podman" >&2; exit 1 ;;
esac

[[ -x .venv/bin/python ]] || "${PYTHON:-python3}" -m venv .venv
.venv/bin/pip install --quiet --disable-pip-version-check -e .

case $engine in
    rootful-docker)
        exec .venv/bin/kindlike --provider docker create cluster --wait 5m "$@" ;;
    *)
        hack/install-venv.sh
        provider=${engine#rootless-}
        exec hack/as-rootless.sh kindlike --provider "$provider" create cluster --wait 5m "$@" ;;
esac
