# shellcheck shell=bash
# hack/setup-host.sh, the Debian packages every part needs. Sourced: uses the variables and helpers of
# setup/common.sh.

# The test suite's lint of the shell scripts needs shellcheck.
PACKAGES=(
    docker.io containerd runc tini iptables uidmap rootlesskit slirp4netns fuse-overlayfs
    podman crun conmon catatonit netavark aardvark-dns golang-github-containers-common
    debootstrap debian-archive-keyring gpgv jq python3 python3-venv
    iproute2 socat curl ca-certificates xz-utils git procps shellcheck
)

install_packages() {
    local missing=() p status
    local -A ok=()
    while read -r p status; do
        [[ $status == "install ok installed" ]] && ok[$p]=1
    done < <(dpkg-query -W -f='${Package} ${Status}\n' "${PACKAGES[@]}" 2>/dev/null || true)
    for p in "${PACKAGES[@]}"; do
        [[ -n ${ok[$p]:-} ]] || missing+=("$p")
    done
    if ((${#missing[@]} == 0)); then
        say packages "skip (all ${#PACKAGES[@]} installed)"
        return
    fi
    local t0=$SECONDS
    export DEBIAN_FRONTEND=noninteractive
    # Do not let package scripts start daemons (no init system here; we start
    # the engines ourselves with our configuration).
    local policy=/usr/sbin/policy-rc.d own_policy=0
    if [[ ! -e $policy ]]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy"; chmod 0755 "$policy"; own_policy=1
    fi
    # apt-get update only when the package lists are missing or older than 6 h,
    # or when an install from the current lists fails.
    local fresh
    fresh=$(find /var/lib/apt/lists -maxdepth 1 -name '*_Packages*' -mmin -360 2>/dev/null | head -n1)
    if [[ -z $fresh ]]; then
        apt-get update -qq >"$LOGDIR/apt.log" 2>&1 || { ((own_policy)) && rm -f "$policy"; tail -n 20 "$LOGDIR/apt.log" >&2; die "apt-get update failed"; }
    fi
    if ! apt-get install -y -qq --no-install-recommends "${missing[@]}" >>"$LOGDIR/apt.log" 2>&1; then
        if ! { apt-get update -qq >>"$LOGDIR/apt.log" 2>&1 &&
            apt-get install -y -qq --no-install-recommends "${missing[@]}" >>"$LOGDIR/apt.log" 2>&1; }; then
            ((own_policy)) && rm -f "$policy"
            tail -n 20 "$LOGDIR/apt.log" >&2
            die "apt-get install failed (log: $LOGDIR/apt.log)"
        fi
    fi
    ((own_policy)) && rm -f "$policy"
    say packages "installed ${#missing[@]} ($((SECONDS - t0)) s): ${missing[*]}"
}
