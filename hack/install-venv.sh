#!/usr/bin/env bash
# install-venv.sh: create or update the Python virtualenv /opt/kindlike/venv
# (based on /usr/bin/python3, world-readable, so the rootless user can run it)
# and install this repo into it, non-editable, with the "test" extra.
#
# usage: hack/install-venv.sh [--force]
#
# A re-run is a no-op (well under a second) when the repo content has not
# changed since the last install; --force reinstalls anyway.
#
# Environment: KINDLIKE_VENV (default /opt/kindlike/venv),
#              KINDLIKE_PYTHON (default /usr/bin/python3).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${KINDLIKE_VENV:-/opt/kindlike/venv}
PY=${KINDLIKE_PYTHON:-/usr/bin/python3}
STAMP=$VENV/.kindlike-install-stamp

log() { echo "[venv] $*"; }
die() { echo "[venv] ERROR: $*" >&2; exit 1; }

force=0
case "${1:-}" in
    --force) force=1 ;;
    "") ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument: $1" ;;
esac

[[ -x $PY ]] || die "$PY not found (apt-get install python3 python3-venv)"
umask 022

# Fingerprint of what pip would install: the python used + every file of the
# repo that is tracked or untracked-but-not-ignored (or all files without git).
fingerprint() {
    {
        "$PY" -c 'import sys; print(sys.version)'
        cd "$REPO"
        if command -v git >/dev/null 2>&1 && git -C "$REPO" rev-parse --git-dir >/dev/null 2>&1; then
            git -c safe.directory='*' ls-files -z --cached --others --exclude-standard |
                while IFS= read -r -d '' f; do [[ -f $f ]] && printf '%s\0' "$f"; done |
                sort -z | xargs -0 -r sha256sum
        else
            find . -path ./.git -prune -o -type f -print0 | sort -z | xargs -0 -r sha256sum
        fi
    } | sha256sum | cut -d' ' -f1
}

# (Re)create the venv when missing or not based on $PY.
venv_ok() {
    [[ -x $VENV/bin/python && -f $VENV/pyvenv.cfg ]] || return 1
    local home
    home=$(sed -n 's/^home *= *//p' "$VENV/pyvenv.cfg")
    [[ $home == "$(dirname "$PY")" ]] || return 1
    "$VENV/bin/python" -c 'import pip' >/dev/null 2>&1
}
if venv_ok; then
    log "venv $VENV: skip (present)"
else
    if [[ -e $VENV ]]; then
        log "venv $VENV: not based on $PY or broken; re-creating"
        rm -rf "$VENV"
    fi
    install -d -m 0755 "$(dirname "$VENV")"
    "$PY" -m venv "$VENV" || die "python3 -m venv failed (apt-get install python3-venv)"
    log "venv $VENV: created"
fi

fp=$(fingerprint)
if ((!force)) && [[ -f $STAMP && $(<"$STAMP") == "$fp" ]] && [[ -x $VENV/bin/kindlike ]]; then
    log "kindlike in $VENV: skip (repo unchanged since last install)"
    exit 0
fi

# Files pyproject.toml needs at build time (readme, hatch force-include):
# name the missing ones instead of letting pip fail deep inside hatchling.
missing=$("$PY" - "$REPO" <<'PY'
import os, sys, tomllib
repo = sys.argv[1]
cfg = tomllib.load(open(os.path.join(repo, "pyproject.toml"), "rb"))
need = []
readme = cfg.get("project", {}).get("readme")
if isinstance(readme, str):
    need.append(readme)
wheel = cfg.get("tool", {}).get("hatch", {}).get("build", {}).get("targets", {}).get("wheel", {})
need += list(wheel.get("force-include", {}).keys())
print(" ".join(n for n in need if not os.path.exists(os.path.join(repo, n))))
PY
) || die "cannot read $REPO/pyproject.toml"
[[ -z $missing ]] || die "pyproject.toml needs these paths, missing in $REPO: $missing"

t0=$SECONDS
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1
# Build from a copy so that pip never writes into the checkout (build/ dirs).
src=$(mktemp -d)
trap 'rm -rf "$src"' EXIT
if command -v git >/dev/null 2>&1 && git -C "$REPO" rev-parse --git-dir >/dev/null 2>&1; then
    (cd "$REPO" && git -c safe.directory='*' ls-files -z --cached --others --exclude-standard |
        while IFS= read -r -d '' f; do [[ -e $f ]] && printf '%s\0' "$f"; done |
        tar --null -T - -cf -) | tar -C "$src" -xf -
else
    (cd "$REPO" && tar --exclude=./.git -cf - .) | tar -C "$src" -xf -
fi
if ! "$VENV/bin/python" -m pip install --quiet --upgrade "${src}[test]"; then
    die "pip install of ${REPO}[test] into $VENV failed"
fi
echo "$fp" >"$STAMP"
chmod -R a+rX "$VENV"
"$VENV/bin/kindlike" --help >/dev/null 2>&1 || log "warning: '$VENV/bin/kindlike --help' fails (CLI not ready yet?)"
log "kindlike in $VENV: installed ($((SECONDS - t0)) s)"
