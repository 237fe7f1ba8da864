#!/usr/bin/env bash
# test-hosts.sh: several "hosts" on this one machine for multi-host tests,
# each a network namespace with its own address and its own rootful Docker
# engine (own data root, own socket). No traffic leaves the machine: the
# hosts share a bridge in the root namespace and have no default route.
#
#   hack/test-hosts.sh up [N]      make hosts 1..N (default 3), idempotent
#   hack/test-hosts.sh up-rootless [N]
#                                  also start a rootless Docker engine in each,
#                                  as the rootless test user (hack/as-rootless.sh)
#   hack/test-hosts.sh down        stop their engines, remove namespaces and bridge
#   hack/test-hosts.sh env I       print DOCKER_HOST=... and the address of host I
#   hack/test-hosts.sh image REF [--rootless] [I...]
#                                  copy an image from the machine's engine into
#                                  the engine of hosts I... (default: every
#                                  host), skipped where present
#
# Host I: namespace kindlike-hI, address 10.213.0.(10+I)/24 on bridge
# kindlike-hosts (10.213.0.1), engine unix:///run/kindlike-hosts/hI/docker.sock,
# data root /var/lib/kindlike-hosts/hI (kept by `down`: it caches the images);
# its rootless engine unix:///run/kindlike-hosts/rI/docker.sock (the user's
# XDG_RUNTIME_DIR there), data root /var/lib/kindlike-hosts/rI.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BRIDGE=kindlike-hosts
PREFIX=10.213.0
STATE=/run/kindlike-hosts
DATA=/var/lib/kindlike-hosts
LOGDIR=/var/log/kindlike

die() { echo "test-hosts: $*" >&2; exit 1; }
say() { printf 'test-hosts: %s\n' "$*"; }
[[ $(id -u) == 0 ]] || die "run as root"

ns() { echo "kindlike-h$1"; }
addr() { echo "$PREFIX.$((10 + $1))"; }
sock() { echo "unix://$STATE/h$1/docker.sock"; }
rsock() { echo "unix://$STATE/r$1/docker.sock"; }
ROOTLESS_USER=${KINDLIKE_ROOTLESS_USER:-kindlike}

wait_for() {  # SECONDS CMD...
    local deadline=$((SECONDS + $1)); shift
    until "$@" >/dev/null 2>&1; do
        ((SECONDS < deadline)) || return 1
        sleep 0.2
    done
}

up_bridge() {
    if ! ip link show "$BRIDGE" >/dev/null 2>&1; then
        ip link add "$BRIDGE" type bridge
        ip addr add "$PREFIX.1/24" dev "$BRIDGE"
    fi
    ip link set "$BRIDGE" up
    # Bridged frames between the hosts must not meet the machine's iptables
    # FORWARD policy (Docker sets it to DROP) when br_netfilter is loaded.
    iptables -C FORWARD -i "$BRIDGE" -o "$BRIDGE" -j ACCEPT 2>/dev/null ||
        iptables -I FORWARD -i "$BRIDGE" -o "$BRIDGE" -j ACCEPT
}

up_host() {
    local i=$1 n veth
    n=$(ns "$i") veth="klh$i"
    if [[ ! -e /run/netns/$n ]]; then
        ip netns add "$n"
    fi
    if ! ip link show "$veth" >/dev/null 2>&1; then
        ip link add "$veth" type veth peer name eth0 netns "$n"
        ip link set "$veth" master "$BRIDGE" up
        ip -n "$n" addr add "$(addr "$i")/24" dev eth0
    fi
    ip -n "$n" link set lo up
    ip -n "$n" link set eth0 up
    mkdir -p "$STATE/h$i" "$DATA/h$i" "$LOGDIR"
    if docker -H "$(sock "$i")" info >/dev/null 2>&1; then
        say "host $i: $(addr "$i"), engine running"
        return
    fi
    # Its own containerd (started by dockerd under --exec-root), its own
    # cgroup parent, so nothing is shared with the machine's engine but the
    # kernel and /etc/docker/daemon.json (the runtime wrapper).
    # nsenter, not `ip netns exec`: that remounts /sys, hiding the cgroup mounts.
    nsenter --net="/run/netns/$n" setsid dockerd --data-root "$DATA/h$i" --exec-root "$STATE/h$i/exec" \
        --pidfile "$STATE/h$i/docker.pid" -H "$(sock "$i")" --cgroup-parent "kindlike-h$i" \
        >>"$LOGDIR/test-host-$i.log" 2>&1 </dev/null &
    wait_for 60 docker -H "$(sock "$i")" info ||
        { tail -n 20 "$LOGDIR/test-host-$i.log" >&2; die "the engine of host $i did not come up"; }
    say "host $i: $(addr "$i"), engine started ($(sock "$i"))"
}

up_rootless() {
    local i=$1 n dir
    n=$(ns "$i") dir="$STATE/r$i"
    if docker -H "$(rsock "$i")" info >/dev/null 2>&1; then
        say "host $i: rootless engine running"
        return
    fi
    install -d -o "$ROOTLESS_USER" -g "$ROOTLESS_USER" -m 0700 "$dir" "$DATA/r$i"
    # In the host's network namespace, as the user in its delegated cgroups:
    # rootlesskit's own namespace reaches out through this one, and
    # publishes ports on this host's address.
    nsenter --net="/run/netns/$n" setsid "$HERE/as-rootless.sh" sh -c \
        "export XDG_RUNTIME_DIR=$dir; exec /usr/share/docker.io/contrib/dockerd-rootless.sh --data-root $DATA/r$i -H $(rsock "$i")" \
        >>"$LOGDIR/test-host-$i-rootless.log" 2>&1 </dev/null &
    wait_for 90 docker -H "$(rsock "$i")" info ||
        { tail -n 20 "$LOGDIR/test-host-$i-rootless.log" >&2; die "the rootless engine of host $i did not come up"; }
    say "host $i: rootless engine started ($(rsock "$i"))"
}

down_host() {
    local i=$1 pid
    if [[ -s $STATE/h$i/docker.pid ]]; then
        pid=$(<"$STATE/h$i/docker.pid")
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    fi
    for pid in $(pgrep -u "$ROOTLESS_USER" -f "dockerd --data-root $DATA/r$i " || true); do
        kill "$pid" 2>/dev/null || true
    done
    for _ in $(seq 100); do pgrep -u "$ROOTLESS_USER" -f "$STATE/r$i/" >/dev/null || break; sleep 0.1; done
    pkill -KILL -u "$ROOTLESS_USER" -f "$STATE/r$i/" 2>/dev/null || true
    ip link del "klh$i" 2>/dev/null || true
    ip netns del "$(ns "$i")" 2>/dev/null || true
}

hosts() { find "$STATE" -maxdepth 1 -name 'h[0-9]' -printf '%f\n' 2>/dev/null | sed 's/^h//' | sort -n; }

case "${1:-}" in
    up)
        count=${2:-3}
        [[ $count =~ ^[1-9]$ ]] || die "up: give a host count from 1 to 9"
        modprobe br_netfilter 2>/dev/null || true
        modprobe vxlan 2>/dev/null || true
        up_bridge
        for i in $(seq "$count"); do up_host "$i"; done
        ;;
    up-rootless)
        count=${2:-3}
        [[ $count =~ ^[1-9]$ ]] || die "up-rootless: give a host count from 1 to 9"
        "$0" up "$count"
        for i in $(seq "$count"); do up_rootless "$i"; done
        ;;
    down)
        for i in $(hosts); do down_host "$i"; done
        iptables -D FORWARD -i "$BRIDGE" -o "$BRIDGE" -j ACCEPT 2>/dev/null || true
        ip link del "$BRIDGE" 2>/dev/null || true
        # An engine leaves its network namespaces' bind mounts behind.
        findmnt -rn -o TARGET | { grep "^$STATE/" || true; } | sort -r | xargs -r umount -l
        rm -rf "$STATE"
        say "down (data roots kept under $DATA)"
        ;;
    env)
        [[ ${2:-} =~ ^[1-9]$ ]] || die "env: give a host number"
        echo "DOCKER_HOST=$(sock "$2")"
        echo "HOST_ADDRESS=$(addr "$2")"
        ;;
    image)
        ref=${2:?image: give an image reference}
        shift 2
        to=sock
        if [[ ${1:-} == --rootless ]]; then to=rsock; shift; fi
        id=$(docker image inspect -f '{{.Id}}' "$ref") || die "no image $ref in the machine's engine"
        for i in "${@:-$(hosts)}"; do
            if [[ $(docker -H "$($to "$i")" image inspect -f '{{.Id}}' "$ref" 2>/dev/null) == "$id" ]]; then
                say "host $i: $ref present"
            else
                docker save "$ref" | docker -H "$($to "$i")" load -q >/dev/null
                say "host $i: $ref copied"
            fi
        done
        ;;
    *)
        sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
        exit 2
        ;;
esac
