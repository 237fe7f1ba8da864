#!/usr/bin/env bash
# as-rootless.sh: run a command as the rootless test user (default "kindlike"),
# inside the cgroups delegated to that user.
#
#   hack/as-rootless.sh CMD [ARGS...]   run CMD as the user (login shell if no CMD)
#   hack/as-rootless.sh --delegate      (root) create the delegated cgroups; idempotent
#   hack/as-rootless.sh --cgroup-dirs   print the delegated cgroup directories
#
# Why: the machine has a cgroup v1 layout and no systemd to delegate cgroups
# to users. A rootless engine (dockerd-rootless.sh, podman, conmon) and
# systemd inside a node container need a cgroup the user may create children
# in. --delegate makes, in every v1 hierarchy, a directory named
# USER-rootless (kindlike-rootless) under the cgroup of PID 1, owned by the user; running a
# command moves this script into those directories first, so every process
# it starts inherits them.
#
# The command runs with a clean environment: HOME, USER, LOGNAME, SHELL,
# XDG_RUNTIME_DIR=/run/user/UID, PATH (with /opt/kindlike/venv/bin first when
# that venv exists) and DOCKER_HOST=unix:///run/user/UID/docker.sock (the
# rootless Docker socket) unless the caller sets DOCKER_HOST. These caller
# variables pass through: TERM LANG LANGUAGE LC_* TZ DOCKER_HOST DOCKER_BUILDKIT
# CONTAINER_HOST CONTAINER_CONNECTION KINDLIKE_* TESTCONTAINERS_* PYTEST_ADDOPTS
# CI http(s)_proxy no_proxy (any case), plus every name listed in
# AS_ROOTLESS_ENV (space separated). The command runs in the current
# directory if the user can enter it, else in the user's HOME.
#
# Environment: KINDLIKE_ROOTLESS_USER  user name (default kindlike)
set -euo pipefail

USER_NAME=${KINDLIKE_ROOTLESS_USER:-kindlike}
CG_NAME=$USER_NAME-rootless   # kindlike-rootless for the default user

die() { echo "as-rootless.sh: $*" >&2; exit 1; }

# Print "MOUNTPOINT/PATH_OF_PID1/kindlike-rootless" for every cgroup v1 hierarchy.
cgroup_dirs() {
    local -A pid1_path=()
    local line ctrls path
    # /proc/1/cgroup: "ID:controller,list:/path"; v2 has an empty list.
    while IFS= read -r line; do
        line=${line#*:}  # drop the hierarchy ID
        ctrls=${line%%:*}; path=${line#*:}
        [[ -n $ctrls ]] && pid1_path[$ctrls]=$path
    done </proc/1/cgroup
    # /proc/self/mountinfo: field 4 = root inside the hierarchy, 5 = mount
    # point; after " - ": fstype, source, super options (hold the controllers).
    local pre post root mnt fstype opts c ok rel
    while IFS= read -r line; do
        pre=${line%% - *}; post=${line#* - }
        read -r fstype _ opts <<<"$post"
        [[ $fstype == cgroup ]] || continue
        read -r _ _ _ root mnt _ <<<"$pre"
        local -a cs=()
        for ctrls in "${!pid1_path[@]}"; do
            ok=1
            IFS=, read -ra cs <<<"$ctrls"
            for c in "${cs[@]}"; do
                [[ ",$opts," == *",$c,"* ]] || { ok=0; break; }
            done
            ((ok)) || continue
            path=${pid1_path[$ctrls]}
            # path is relative to the hierarchy root; make it relative to the mount.
            if [[ $root != / ]]; then
                if [[ $path == "$root" || $path == "$root"/* ]]; then
                    path=${path#"$root"}
                else
                    path=/
                fi
            fi
            rel=${path%/}
            printf '%s%s/%s\n' "$mnt" "$rel" "$CG_NAME"
            break
        done
    done </proc/self/mountinfo
}

user_ids() {
    local ent
    ent=$(getent passwd "$USER_NAME") || die "user $USER_NAME does not exist (run hack/setup-host.sh --rootless-docker or --rootless-podman as root)"
    IFS=: read -r _ _ R_UID R_GID _ R_HOME R_SHELL <<<"$ent"
}

delegate() {
    [[ $(id -u) == 0 ]] || die "--delegate must run as root"
    user_ids
    local d parent f changed=0
    while IFS= read -r d; do
        parent=${d%/*}
        if [[ ! -d $d ]]; then
            mkdir "$d"
            changed=1
        fi
        # cpuset: a new cgroup starts with no CPUs/memory nodes; copy the parent's.
        if [[ -f $d/cpuset.cpus ]]; then
            [[ -n $(<"$d/cpuset.cpus") ]] || cat "$parent/cpuset.cpus" >"$d/cpuset.cpus"
            [[ -n $(<"$d/cpuset.mems") ]] || cat "$parent/cpuset.mems" >"$d/cpuset.mems"
            [[ $(<"$d/cgroup.clone_children") == 1 ]] || echo 1 >"$d/cgroup.clone_children"
        fi
        for f in "$d" "$d/cgroup.procs" "$d/tasks" "$d/cgroup.clone_children"; do
            [[ -e $f ]] || continue
            if [[ $(stat -c %u:%g "$f") != "$R_UID:$R_GID" ]]; then
                chown "$R_UID:$R_GID" "$f"
                changed=1
            fi
        done
    done < <(cgroup_dirs)
    if ((changed)); then echo "delegated"; else echo "unchanged"; fi
}

join_cgroups() {
    local d missing=0
    while IFS= read -r d; do
        if [[ -w $d/cgroup.procs ]]; then
            echo $$ >"$d/cgroup.procs" || missing=1
        else
            missing=1
        fi
    done < <(cgroup_dirs)
    if ((missing)); then
        echo "as-rootless.sh: warning: cgroups not delegated to $USER_NAME (run: hack/as-rootless.sh --delegate as root); systemd in rootless nodes will fail" >&2
    fi
}

case "${1:-}" in
    --delegate) delegate; exit 0 ;;
    --cgroup-dirs) cgroup_dirs; exit 0 ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
esac

user_ids
me=$(id -u)
if [[ $me != 0 && $me != "$R_UID" ]]; then
    die "must run as root or as $USER_NAME (running as uid $me)"
fi

RUNDIR=/run/user/$R_UID
[[ -d $RUNDIR ]] || die "$RUNDIR does not exist (run hack/setup-host.sh --rootless-docker or --rootless-podman as root)"

join_cgroups

if (($# == 0)); then
    set -- "${R_SHELL:-/bin/bash}" -l
fi

path=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
[[ -x /opt/kindlike/venv/bin/python ]] && path=/opt/kindlike/venv/bin:$path

envs=(
    "HOME=$R_HOME" "USER=$USER_NAME" "LOGNAME=$USER_NAME" "SHELL=${R_SHELL:-/bin/bash}"
    "XDG_RUNTIME_DIR=$RUNDIR" "PATH=$path"
    "DOCKER_HOST=${DOCKER_HOST:-unix://$RUNDIR/docker.sock}"
)
# shellcheck disable=SC2206  # AS_ROOTLESS_ENV is a space-separated list of names
pass=(TERM LANG LANGUAGE TZ DOCKER_BUILDKIT CONTAINER_HOST CONTAINER_CONNECTION PYTEST_ADDOPTS CI
    http_proxy https_proxy no_proxy HTTP_PROXY HTTPS_PROXY NO_PROXY ${AS_ROOTLESS_ENV:-})
while IFS= read -r v; do
    case "$v" in LC_* | KINDLIKE_* | TESTCONTAINERS_*) pass+=("$v") ;; esac
done < <(compgen -e)
for v in "${pass[@]}"; do
    [[ $v == DOCKER_HOST ]] && continue
    [[ -n ${!v+x} ]] && envs+=("$v=${!v}")
done

# Enter the caller's directory when the user can, else HOME; then exec CMD.
# shellcheck disable=SC2016  # expanded by the inner shell, as the user
inner='cd "$1" 2>/dev/null || cd "$HOME" || cd /; shift; exec "$@"'
if [[ $me == 0 ]]; then
    exec env -i "${envs[@]}" setpriv --reuid="$R_UID" --regid="$R_GID" --init-groups -- \
        /bin/sh -c "$inner" sh "$PWD" "$@"
else
    exec env -i "${envs[@]}" /bin/sh -c "$inner" sh "$PWD" "$@"
fi
