#!/usr/bin/env bash
# setup-host.sh: install and start every container engine kindlike runs on, on
# a Debian 12 machine without systemd (as root). Idempotent: a re-run on a
# machine that is already set up only checks and takes a few seconds.
#
# usage: hack/setup-host.sh [--rootful-docker] [--rootful-podman]
#                           [--rootful-podman-service]
#                           [--rootless-docker] [--rootless-podman]
#                           [--rootless-podman-service] [--venv] [--all]
#                           [--verify] [--probe-systemd]
#
#   (no engine flag)           = --all
#   --all                      all four engines + --venv (not the Podman service)
#   --rootful-docker           dockerd (runtime wrapper runc-dropcaps as default)
#   --rootful-podman           /etc/containers/containers.conf
#   --rootful-podman-service   also start `podman system service` as root,
#                              socket unix:///run/podman/podman.sock
#   --rootless-docker          user kindlike + dockerd-rootless.sh,
#                              socket unix:///run/user/UID/docker.sock
#   --rootless-podman          user kindlike + its Podman config
#   --rootless-podman-service  also start `podman system service` as the user,
#                              socket unix:///run/user/UID/podman/podman.sock
#   --venv                     /opt/kindlike/venv with this repo (hack/install-venv.sh)
#   --verify                   re-run the `run --rm --privileged` checks even
#                              when nothing changed since they last passed
#   --probe-systemd            build kindlike/test-systemd:probe (base + systemd)
#                              in each selected engine, boot it as a node
#                              (/sbin/init) and wait for systemctl
#                              is-system-running = running|degraded; the probe
#                              image is removed afterwards (needs Debian's mirror)
#
# Each selected engine also gets the base image kindlike/base:bookworm
# (images/base/build.sh). Logs: /var/log/kindlike/. Run a command as the
# rootless user with hack/as-rootless.sh CMD ARGS...
set -euo pipefail

SETUP=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/setup
# shellcheck source=hack/setup/common.sh
source "$SETUP/common.sh"

# ---------------------------------------------------------------- arguments
do_rf_docker=0 do_rf_podman=0 do_rl_docker=0 do_rl_podman=0 do_rl_service=0 do_rf_service=0 do_venv=0
verify=0 probe=0 any=0
for a in "$@"; do
    case "$a" in
        --rootful-docker) do_rf_docker=1 any=1 ;;
        --rootful-podman) do_rf_podman=1 any=1 ;;
        --rootful-podman-service) do_rf_podman=1 do_rf_service=1 any=1 ;;
        --rootless-docker) do_rl_docker=1 any=1 ;;
        --rootless-podman) do_rl_podman=1 any=1 ;;
        --rootless-podman-service) do_rl_podman=1 do_rl_service=1 any=1 ;;
        --venv) do_venv=1 any=1 ;;
        --all) do_rf_docker=1 do_rf_podman=1 do_rl_docker=1 do_rl_podman=1 do_venv=1 any=1 ;;
        --verify) verify=1 ;;
        --probe-systemd) probe=1 ;;
        -h | --help) usage; exit 0 ;;
        *) usage >&2; die "unknown argument: $a" ;;
    esac
done
if ((!any)); then do_rf_docker=1 do_rf_podman=1 do_rl_docker=1 do_rl_podman=1 do_venv=1; fi
rootless=$((do_rl_docker || do_rl_podman))

[[ $(id -u) == 0 ]] || die "run as root"
[[ -r /etc/debian_version ]] || die "this script supports Debian 12 (bookworm) only"
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
umask 022
install -d -m 0755 "$LOGDIR" "$STATEDIR"

# One file per concern; each only defines functions.
# shellcheck source=hack/setup/packages.sh
source "$SETUP/packages.sh"
# shellcheck source=hack/setup/base-image.sh
source "$SETUP/base-image.sh"
# shellcheck source=hack/setup/docker.sh
source "$SETUP/docker.sh"
# shellcheck source=hack/setup/rootless-user.sh
source "$SETUP/rootless-user.sh"
# shellcheck source=hack/setup/podman.sh
source "$SETUP/podman.sh"

# Every node's kubelet, containerd and pods take inotify instances from
# the same per-user pool (root's under rootful engines, the rootless user's
# otherwise). 128, Debian's default, runs out at about six nodes: the next
# kubelet fails with "inotify_init: too many open files" and never registers.
# These are kind's documented values (known issues: "too many open files").
raise_sysctl() {
    local key=$1 want=$2 have
    have=$(sysctl -n "$key" 2>/dev/null || echo 0)
    if ((have >= want)); then
        say "sysctl $key" "skip ($have)"
    elif sysctl -qw "$key=$want" 2>/dev/null; then
        say "sysctl $key" "$have -> $want"
    else
        say "sysctl $key" "WARNING: cannot raise $have to $want; clusters of many nodes may fail"
    fi
}

# ---------------------------------------------------------------- main
install_packages
raise_sysctl fs.inotify.max_user_instances 512
raise_sysctl fs.inotify.max_user_watches 524288
# runc gives every container it starts a session keyring owned by the user
# the engine runs as; under a rootless engine every pod container of every
# node counts against that user's 200 keys, and at the limit containers fail
# with "unable to create session key: disk quota exceeded".
raise_sysctl kernel.keys.maxkeys 20000
raise_sysctl kernel.keys.maxbytes 400000
if ((do_rf_docker)); then setup_rootful_docker; fi
if ((do_rf_podman)); then setup_rootful_podman; fi
if ((do_rf_service)); then setup_rootful_podman_service; fi
if ((rootless)); then
    setup_rootless_user
    if ((do_rl_docker)); then setup_rootless_docker; fi
    if ((do_rl_podman)); then setup_rootless_podman; fi
    if ((do_rl_service)); then setup_rootless_podman_service; fi
fi
if ((do_venv)); then
    out=$("$REPO/hack/install-venv.sh" 2>&1) || { echo "$out" >&2; die "hack/install-venv.sh failed"; }
    if [[ $out == *"kindlike in"*": skip"* ]]; then say "venv /opt/kindlike/venv" "skip (up to date)"; else say "venv /opt/kindlike/venv" "installed"; fi
fi
if ((probe)); then
    if ((do_rf_docker)); then probe_systemd rootful-docker docker -H "$ROOTFUL_DOCKER_HOST"; fi
    if ((do_rf_podman)); then probe_systemd rootful-podman podman; fi
    if ((do_rl_docker)); then probe_systemd rootless-docker "$REPO/hack/as-rootless.sh" docker; fi
    if ((do_rl_podman)); then probe_systemd rootless-podman "$REPO/hack/as-rootless.sh" podman; fi
fi
say "done" "$((SECONDS - T_START)) s"
