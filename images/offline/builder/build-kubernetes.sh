#!/usr/bin/env bash
# build-kubernetes: build Kubernetes from Debian bookworm's `kubernetes` source
# package, offline, with Debian's Go (GOPATH mode). Runs inside the builder
# image (images/offline/builder/Dockerfile) with the host cache directory
# bind-mounted at /cache:
#
#   /cache/src/<debian source version>/  the unpacked source tree (+ .complete)
#   /cache/go-build/                     Go build cache (GOCACHE)
#   /cache/out/<vX.Y.Z>/bin/             the binaries
#   /cache/out/<vX.Y.Z>/build-info.json  what was built, from what, with what
#
# usage: build-kubernetes [--only pause] [--force]
#
# Binaries: kubelet kubeadm kubectl kube-apiserver kube-controller-manager
# kube-scheduler kube-proxy (static, CGO_ENABLED=0) and pause (gcc -static,
# from build/pause/linux/pause.c of the same tree).
#
# Two things the Debian tree needs that upstream's `make` would do:
#  * reflect2: the tree vendors github.com/modern-go/reflect2 v1.0.1, which
#    breaks under Go >= 1.18 (json-iterator panics in Type2/UnsafeNext at run
#    time). Debian's golang-github-modern-go-reflect2-dev (1.0.2) is swapped
#    in with `go build -overlay`; the source tree itself is not modified.
#  * pkg/generated/openapi/zz_generated.openapi.go is not shipped; kube-apiserver
#    needs it, so it is generated once with the tree's own openapi-gen.
#
# Environment: KINDLIKE_CHOWN=uid:gid  chown what this run wrote in /cache
#              (rootful engines, non-root caller).
set -euo pipefail

CACHE=${KINDLIKE_BUILD_CACHE:-/cache}
ONLY=""
FORCE=0
while (($#)); do
    case "$1" in
        --only) ONLY=$2; shift ;;
        --force) FORCE=1 ;;
        -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "build-kubernetes: unknown argument $1" >&2; exit 2 ;;
    esac
    shift
done

log() { printf '[build-kubernetes] %s\n' "$*" >&2; }
die() { printf '[build-kubernetes] ERROR: %s\n' "$*" >&2; exit 1; }

TARGETS=(kubelet kubeadm kubectl kube-apiserver kube-controller-manager kube-scheduler kube-proxy)
REFLECT2_DEBIAN=/usr/share/gocode/src/github.com/modern-go/reflect2
T0=$SECONDS

[[ -d $CACHE && -w $CACHE ]] || die "$CACHE is not a writable directory (bind-mount the cache there)"
mkdir -p "$CACHE/src" "$CACHE/go-build" "$CACHE/out"

finish_owner() {
    if [[ -n ${KINDLIKE_CHOWN:-} ]]; then
        chown -R "$KINDLIKE_CHOWN" "$CACHE" 2>/dev/null || true
    fi
}
trap finish_owner EXIT

# ------------------------------------------------------------------ source
# The candidate version of the source package in the image's apt index.
src_version() {
    apt-cache showsrc kubernetes 2>/dev/null | sed -n 's/^Version: //p' | sort -V | tail -n 1
}

fetch_source() {
    local ver=$1 dest=$CACHE/src/$1
    if [[ -f $dest/.complete ]]; then
        log "source: $ver (cached)"
        return 0
    fi
    log "source: apt-get source kubernetes=$ver"
    local tmp
    tmp=$(mktemp -d "$CACHE/src/.fetch.XXXXXX")
    if ! (cd "$tmp" && apt-get source -q "kubernetes=$ver" >"$tmp/apt.log" 2>&1); then
        log "apt-get source failed; refreshing the package index once"
        apt-get update -q >/dev/null 2>&1 || true
        (cd "$tmp" && apt-get source -q "kubernetes=$ver" >"$tmp/apt.log" 2>&1) || {
            tail -n 20 "$tmp/apt.log" >&2
            rm -rf "$tmp"
            die "cannot download the kubernetes source package"
        }
    fi
    local dir
    dir=$(find "$tmp" -mindepth 1 -maxdepth 1 -type d -name 'kubernetes-*' | head -n 1)
    [[ -n $dir ]] || die "apt-get source left no kubernetes-* directory"
    rm -rf "$dest"
    mv "$dir" "$dest"
    cp "$tmp"/*.dsc "$dest/.dsc" 2>/dev/null || true
    rm -rf "$tmp"
    touch "$dest/.complete"
}

SRC_VER=$(src_version)
[[ -n $SRC_VER ]] || die "no kubernetes source package in the apt index (is there a deb-src line?)"
# Debian's version is e.g. 1.20.5+really1.20.2-1.1+deb12u1: the tree is v1.20.2.
if [[ $SRC_VER =~ really([0-9]+\.[0-9]+\.[0-9]+) ]]; then
    KVER=v${BASH_REMATCH[1]}
elif [[ $SRC_VER =~ ^([0-9]+:)?([0-9]+\.[0-9]+\.[0-9]+) ]]; then
    KVER=v${BASH_REMATCH[2]}
else
    die "cannot tell the Kubernetes version from Debian version $SRC_VER"
fi
fetch_source "$SRC_VER"
SRC=$CACHE/src/$SRC_VER
OUT=$CACHE/out/$KVER
mkdir -p "$OUT"

SCRIPT_SHA=$(sha256sum "$0" | cut -d' ' -f1)
GO_VERSION=$(go env GOVERSION)

want_bins=("${TARGETS[@]}" pause)
[[ $ONLY == pause ]] && want_bins=(pause)

up_to_date() {
    [[ $FORCE == 0 && -f $OUT/build-info.json ]] || return 1
    grep -q "\"script_sha256\": \"$SCRIPT_SHA\"" "$OUT/build-info.json" || return 1
    grep -q "\"debian_source_version\": \"$SRC_VER\"" "$OUT/build-info.json" || return 1
    local b
    for b in "${want_bins[@]}"; do [[ -x $OUT/bin/$b ]] || return 1; done
}
if up_to_date; then
    log "binaries: $OUT/bin up to date ($((SECONDS - T0)) s)"
    exit 0
fi

# ------------------------------------------------------------------ pause
build_pause() {
    local tmpbin=$1
    log "pause: gcc -static build/pause/linux/pause.c"
    gcc -Os -Wall -Werror -static -DVERSION="${KVER}-debian" \
        -o "$tmpbin/pause" "$SRC/build/pause/linux/pause.c"
    strip "$tmpbin/pause"
}

# ------------------------------------------------------------------ Go
export GO111MODULE=off CGO_ENABLED=0 GOFLAGS="" GOCACHE=$CACHE/go-build
export GOPATH=/tmp/kindlike-gopath HOME=${HOME:-/root}
PKG=k8s.io/kubernetes
mkdir -p "$GOPATH/src/k8s.io"
ln -sfn "$SRC" "$GOPATH/src/$PKG"
cd "$GOPATH/src/$PKG"

# go build -overlay: vendored reflect2 1.0.1 -> Debian's 1.0.2.
make_overlay() {
    local vend=vendor/github.com/modern-go/reflect2 out=$1 f base first=1
    [[ -d $REFLECT2_DEBIAN ]] || die "$REFLECT2_DEBIAN missing (golang-github-modern-go-reflect2-dev)"
    [[ -d $vend ]] || die "$vend missing from the source tree"
    {
        printf '{"Replace": {'
        for f in "$vend"/*.go "$vend"/*.s; do
            [[ -e $f ]] || continue
            base=${f##*/}
            ((first)) || printf ','
            first=0
            if [[ -f $REFLECT2_DEBIAN/$base ]]; then
                printf '\n "%s": "%s"' "$PWD/$f" "$REFLECT2_DEBIAN/$base"
            else
                printf '\n "%s": ""' "$PWD/$f"
            fi
        done
        for f in "$REFLECT2_DEBIAN"/*.go "$REFLECT2_DEBIAN"/*.s; do
            [[ -e $f ]] || continue
            base=${f##*/}
            [[ $base == *_test.go ]] && continue
            [[ -e $vend/$base ]] && continue
            ((first)) || printf ','
            first=0
            printf '\n "%s": "%s"' "$PWD/$vend/$base" "$f"
        done
        printf '\n}}\n'
    } >"$out"
}

gen_openapi() {
    local target=pkg/generated/openapi/zz_generated.openapi.go
    if [[ -s $target && -f pkg/generated/openapi/.kindlike-generated ]]; then
        log "openapi: $target (cached)"
        return 0
    fi
    log "openapi: building openapi-gen"
    go build -o /tmp/openapi-gen ./vendor/k8s.io/kube-openapi/cmd/openapi-gen
    # Same inputs as upstream's Makefile.generated_files (KUBE target): every
    # directory (staging reached through vendor/ symlinks) with a Go file
    # carrying +k8s:openapi-gen=, minus code-generator and sample-apiserver.
    local dirs
    dirs=$(find -L . \( -path ./_output -o -path './.*' -o -path ./staging \) -prune -o \
            -type f -name '*.go' -print0 |
        xargs -0 grep -l --null '^// *+k8s:' |
        xargs -0 grep -l --null '+k8s:openapi-gen=' |
        xargs -0 -n1 dirname | sed 's|^\./||' |
        grep -v -e '^vendor/k8s.io/code-generator/' -e '^vendor/k8s.io/sample-apiserver/' |
        LC_ALL=C sort -u | sed "s|^|$PKG/|" | paste -sd, -) || true  # xargs/grep exit 1 on a batch without matches
    [[ -n $dirs ]] || die "openapi: no input packages found"
    log "openapi: generating $target ($(tr ',' '\n' <<<"$dirs" | wc -l) packages)"
    /tmp/openapi-gen --logtostderr=false \
        -i "$dirs" -p "$PKG/pkg/generated/openapi" -O zz_generated.openapi \
        -h hack/boilerplate/boilerplate.generatego.txt \
        -r /tmp/openapi-violations.report >/tmp/openapi-gen.log 2>&1 || {
        tail -n 30 /tmp/openapi-gen.log >&2
        die "openapi-gen failed"
    }
    [[ -s $target ]] || die "openapi-gen wrote no $target"
    touch pkg/generated/openapi/.kindlike-generated
}

version_ldflags() {
    local major minor commit date f k v
    major=${KVER#v}; major=${major%%.*}
    minor=${KVER#v*.}; minor=${minor%%.*}
    commit=$(sed -n 's/^[[:space:]]*gitCommit[[:space:]]*=[[:space:]]*"\([0-9a-f]\{40\}\)".*/\1/p' \
        staging/src/k8s.io/component-base/version/base.go | head -n 1)
    # Reproducible: the date of the Debian changelog entry, not "now".
    date=$(date -u -d "$(dpkg-parsechangelog -l debian/changelog -S Date 2>/dev/null || echo @0)" \
        +%Y-%m-%dT%H:%M:%SZ 2>/dev/null || echo 1970-01-01T00:00:00Z)
    f="-s -w -buildid="
    for k in gitVersion:$KVER gitMajor:$major gitMinor:$minor gitCommit:$commit \
        gitTreeState:clean buildDate:$date; do
        v=${k#*:}; k=${k%%:*}
        f+=" -X $PKG/vendor/k8s.io/client-go/pkg/version.$k=$v"
        f+=" -X $PKG/vendor/k8s.io/component-base/version.$k=$v"
    done
    echo "$f"
}

TMPBIN=$OUT/bin.tmp
rm -rf "$TMPBIN"
mkdir -p "$TMPBIN"
build_pause "$TMPBIN"

if [[ $ONLY != pause ]]; then
    make_overlay /tmp/reflect2-overlay.json
    gen_openapi
    LDFLAGS=$(version_ldflags)
    pkgs=()
    for t in "${TARGETS[@]}"; do pkgs+=("$PKG/cmd/$t"); done
    log "go build ($GO_VERSION, GOPATH mode, CGO_ENABLED=0): ${TARGETS[*]}"
    t1=$SECONDS
    go build -trimpath -tags selinux,notest -overlay /tmp/reflect2-overlay.json \
        -ldflags "$LDFLAGS" -o "$TMPBIN/" "${pkgs[@]}"
    log "go build: $((SECONDS - t1)) s"
    "$TMPBIN/kubeadm" version -o short >/dev/null
fi

# Keep binaries of an earlier full build when only pause was asked for.
if [[ $ONLY == pause && -d $OUT/bin ]]; then
    cp -f "$TMPBIN/pause" "$OUT/bin/pause"
    rm -rf "$TMPBIN"
else
    rm -rf "${OUT:?}/bin"
    mv "$TMPBIN" "$OUT/bin"
fi

{
    printf '{\n'
    printf '  "kubernetes_version": "%s",\n' "$KVER"
    printf '  "debian_source_version": "%s",\n' "$SRC_VER"
    printf '  "go_version": "%s",\n' "$GO_VERSION"
    printf '  "reflect2_overlay": "%s",\n' "$(dpkg-query -W -f '${Version}' golang-github-modern-go-reflect2-dev)"
    printf '  "script_sha256": "%s",\n' "$SCRIPT_SHA"
    printf '  "only": "%s",\n' "$ONLY"
    printf '  "binaries": {'
    first=1
    for b in "$OUT"/bin/*; do
        ((first)) || printf ','
        first=0
        printf '\n    "%s": "%s"' "${b##*/}" "$(sha256sum "$b" | cut -d' ' -f1)"
    done
    printf '\n  }\n}\n'
} >"$OUT/build-info.json.tmp"
mv "$OUT/build-info.json.tmp" "$OUT/build-info.json"
log "done: $OUT/bin ($((SECONDS - T0)) s)"
