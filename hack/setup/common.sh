# shellcheck shell=bash disable=SC2034  # the other parts use these names
# hack/setup-host.sh, what every part shares: names, paths, status lines and
# small helpers. Sourced first.

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
RUSER=${KINDLIKE_ROOTLESS_USER:-kindlike}
export KINDLIKE_ROOTLESS_USER=$RUSER
LIBEXEC=/usr/local/libexec/kindlike
WRAPPER=$LIBEXEC/runc-dropcaps
RUNTIME_NAME=runc-dropcaps
LOGDIR=/var/log/kindlike
STATEDIR=/var/lib/kindlike
BASE_IMAGE=kindlike/base:bookworm
PROBE_IMAGE=kindlike/test-systemd:probe
ROOTFUL_DOCKER_HOST=unix:///var/run/docker.sock
SFX=""                      # state/log name suffix for a non-default rootless user
[[ $RUSER == kindlike ]] || SFX="-$RUSER"
verify=0                    # --verify: re-run checks that passed before

T_START=$SECONDS
say() { printf '[setup-host] %-28s %s\n' "$1:" "$2"; }
die() { echo "[setup-host] ERROR: $*" >&2; exit 1; }
usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }

# wait_for SECONDS CMD...: retry CMD every 0.2 s until it succeeds.
wait_for() {
    local deadline=$((SECONDS + $1)); shift
    until "$@" >/dev/null 2>&1; do
        ((SECONDS < deadline)) || return 1
        sleep 0.2
    done
}

# pid_alive PIDFILE [COMM]: the pid in PIDFILE runs (and is named COMM).
pid_alive() {
    local pid
    [[ -s $1 ]] || return 1
    pid=$(<"$1")
    [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null || return 1
    # a zombie is not alive (PID 1 may reap late)
    [[ $(sed -n 's/^State:[[:space:]]*\([A-Z]\).*/\1/p' "/proc/$pid/status" 2>/dev/null) != Z ]] || return 1
    [[ -z ${2:-} || $(cat "/proc/$pid/comm" 2>/dev/null) == "$2" ]]
}

# toml_set FILE OWNER SECTION KEY VALUE [SECTION KEY VALUE ...]: set keys (VALUE
# is TOML text) in FILE, keeping everything else in it. Prints changed|unchanged.
toml_set() { python3 "$REPO/hack/setup/toml_set.py" "$@"; }

# verified NAME FINGERPRINT: a check NAME already passed with this fingerprint.
verified() { ((!verify)) && [[ -f $STATEDIR/verified-$1 && $(<"$STATEDIR/verified-$1") == "$2" ]]; }
mark_verified() { echo "$2" >"$STATEDIR/verified-$1"; }

# privileged_check LABEL NAME FINGERPRINT EXTRA ENGINE-CMD...: the engine runs
# `run --rm --privileged BASE_IMAGE true` and then passes the function EXTRA
# (`true` for none); skipped when it passed before with this fingerprint.
privileged_check() {
    local label=$1 name=$2 fp=$3 extra=$4; shift 4
    if verified "$name" "$fp"; then
        say "check ($label)" "skip (passed before, nothing changed)"
        return
    fi
    "$@" run --rm --privileged "$BASE_IMAGE" true ||
        die "$label: 'run --rm --privileged $BASE_IMAGE true' failed"
    "$extra"
    mark_verified "$name" "$fp"
    say "check ($label)" "ok (run --rm --privileged)"
}
