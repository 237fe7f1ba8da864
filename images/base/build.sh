#!/usr/bin/env bash
# images/base/build.sh: make the base image kindlike/base:bookworm (Debian
# bookworm, debootstrap minbase) and import it into a container engine.
# No image registry is needed: the rootfs comes from Debian's package mirror.
#
# usage: images/base/build.sh [--as-rootless] [--force] [--cache-only] docker|podman
#
#   docker|podman   engine to import into; DOCKER_HOST / CONTAINER_HOST are
#                   respected (e.g. DOCKER_HOST=unix:///run/user/UID/docker.sock
#                   for rootless Docker).
#   --as-rootless   (root) run the engine command as the rootless user through
#                   hack/as-rootless.sh; the rootfs tarball is streamed to it,
#                   so that user needs no access to this repo.
#                   (Equivalent: hack/as-rootless.sh images/base/build.sh podman,
#                   when the user can read the repo and the cache exists.)
#   --force         re-import even when the image exists (the cache is kept;
#                   delete the cache file to debootstrap again).
#   --cache-only    only make sure the rootfs cache exists.
#
# The rootfs is debootstrapped once (needs root, ~30 s) into
# /var/cache/kindlike/debian-bookworm-minbase.tar (world-readable) and re-used.
#
# Environment: KINDLIKE_BASE_IMAGE (default kindlike/base:bookworm),
#   KINDLIKE_DEBIAN_MIRROR (default http://deb.debian.org/debian),
#   KINDLIKE_DEBIAN_SECURITY_MIRROR (default http://deb.debian.org/debian-security),
#   KINDLIKE_CACHE_DIR (default /var/cache/kindlike).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
IMAGE=${KINDLIKE_BASE_IMAGE:-kindlike/base:bookworm}
SUITE=bookworm
MIRROR=${KINDLIKE_DEBIAN_MIRROR:-http://deb.debian.org/debian}
SECURITY_MIRROR=${KINDLIKE_DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
CACHE_DIR=${KINDLIKE_CACHE_DIR:-/var/cache/kindlike}
CACHE=$CACHE_DIR/debian-$SUITE-minbase.tar

log() { echo "[base-image] $*"; }
die() { echo "[base-image] ERROR: $*" >&2; exit 1; }
usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }

as_rootless=0 force=0 cache_only=0 engine=""
while (($#)); do
    case "$1" in
        --as-rootless) as_rootless=1 ;;
        --force) force=1 ;;
        --cache-only) cache_only=1 ;;
        -h | --help) usage; exit 0 ;;
        docker | podman) engine=$1 ;;
        *) usage >&2; die "unknown argument: $1" ;;
    esac
    shift
done
((cache_only)) || [[ -n $engine ]] || { usage >&2; die "say docker or podman"; }

ENGINE=()
if [[ -n $engine ]]; then
    if ((as_rootless)); then
        [[ $(id -u) == 0 ]] || die "--as-rootless needs root"
        ENGINE=("$REPO/hack/as-rootless.sh" "$engine")
    else
        ENGINE=("$engine")
    fi
fi

image_exists() {
    if [[ $engine == podman ]]; then
        "${ENGINE[@]}" image exists "$IMAGE" 2>/dev/null
    else
        "${ENGINE[@]}" image inspect --format '{{.Id}}' "$IMAGE" >/dev/null 2>&1
    fi
}

# Debootstrap the rootfs into the cache, once.
make_cache() {
    [[ -s $CACHE ]] && return 0
    [[ $(id -u) == 0 ]] || die "$CACHE is missing and making it needs root (run: sudo $0 --cache-only)"
    command -v debootstrap >/dev/null || die "debootstrap is not installed (apt-get install debootstrap)"
    install -d -m 0755 "$CACHE_DIR"
    exec 9>"$CACHE_DIR/.debootstrap.lock"
    flock 9
    [[ -s $CACHE ]] && { exec 9>&-; return 0; }   # made by a concurrent run
    local t0=$SECONDS tmp rootfs
    tmp=$(mktemp -d "$CACHE_DIR/.rootfs.XXXXXX")
    # shellcheck disable=SC2064
    trap "rm -rf '$tmp'" EXIT
    rootfs=$tmp/rootfs
    log "debootstrap --variant=minbase $SUITE from $MIRROR (about 30 s)"
    if ! debootstrap --variant=minbase "$SUITE" "$rootfs" "$MIRROR" >"$tmp/debootstrap.log" 2>&1; then
        tail -n 30 "$tmp/debootstrap.log" >&2
        die "debootstrap failed"
    fi
    # apt sources that work inside image builds (what debian:bookworm images use).
    rm -f "$rootfs/etc/apt/sources.list"
    cat >"$rootfs/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $MIRROR
Suites: $SUITE $SUITE-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $SECURITY_MIRROR
Suites: $SUITE-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
    # Nothing from the build host in the image; engines provide these at run time.
    : >"$rootfs/etc/resolv.conf"
    : >"$rootfs/etc/hostname"
    rm -f "$rootfs/etc/machine-id" "$rootfs/var/lib/dbus/machine-id"
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/cache/apt/*.bin \
        "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/log/*.log "$rootfs"/tmp/* "$rootfs"/root/.bash_history
    mkdir -p "$rootfs/var/lib/apt/lists/partial"
    tar --numeric-owner --xattrs --xattrs-include='security.capability' \
        -C "$rootfs" -cf "$tmp/rootfs.tar" .
    chmod 0644 "$tmp/rootfs.tar"
    mv -f "$tmp/rootfs.tar" "$CACHE"
    rm -rf "$tmp"
    trap - EXIT
    exec 9>&-
    log "cached $CACHE ($(du -m "$CACHE" | cut -f1) MB, $((SECONDS - t0)) s)"
}

if ((cache_only)); then
    if [[ -s $CACHE ]]; then log "rootfs cache: skip (present: $CACHE)"; else make_cache; fi
    [[ -z $engine ]] && exit 0
fi

where=$engine
((as_rootless)) && where="rootless $engine"
if ((!force)) && image_exists; then
    log "$IMAGE in $where: skip (present)"
    exit 0
fi

make_cache
[[ -r $CACHE ]] || die "cannot read $CACHE"
t0=$SECONDS
if ! out=$("${ENGINE[@]}" import \
    --change 'CMD ["/bin/bash"]' \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    - "$IMAGE" <"$CACHE" 2>&1); then
    printf '%s\n' "$out" >&2
    die "import of $IMAGE into $where failed"
fi
image_exists || die "$IMAGE not found in $where after import"
log "$IMAGE in $where: imported ($((SECONDS - t0)) s)"
