#!/usr/bin/env bash
# The node images the engine and e2e tests boot, built in rootful Docker
# (the tests copy them into the other engines): the default image and the
# v1.20.2 image from Debian's source package. A cache hit takes seconds; a
# fresh machine compiles Kubernetes (about 20 minutes). Run by hack/test.sh
# before pytest, so that no test's time limit has to cover a compile.
set -euo pipefail
cd "$(dirname "$0")/.."

kl() { DOCKER_HOST=unix:///var/run/docker.sock .venv/bin/kindlike --provider docker "$@"; }
kl build node-image
kl build node-image --kubernetes debian-source --image kindlike/node:v1.20.2-offline
