#!/usr/bin/env bash
# build-components: build every program of a node image from Go modules (the
# Go module proxy is the only network this needs). Runs in the builder image
# (images/gobuild/Dockerfile) with the host cache directory bind-mounted at
# /cache:
#
#   /cache/go/toolchain/goX.Y.Z/   the Go toolchain (golang.org/toolchain from the proxy, sha256-pinned)
#   /cache/go/mod/                 GOMODCACHE: every module downloaded once
#   /cache/go/build/               GOCACHE: an unchanged package is never recompiled
#   /cache/src/<wrapper>/          wrapper modules (Kubernetes, etcd: their go.mod has replace directives)
#   /cache/parts/<name>-<version>/ one component's binaries + .done (this script's sha256)
#   /cache/out/<OUT>/bin/          everything the node image needs, and build-info.json
#
# usage: build-components OUT
#
# The versions come from the environment (kindlike.nodeimage.components sets
# them): KUBERNETES_VERSION CONTAINERD_VERSION RUNC_VERSION CRICTL_VERSION
# CNI_PLUGINS_VERSION FLANNEL_CNI_VERSION FLANNEL_VERSION LOCAL_PATH_VERSION
# GO_VERSION GO_SHA256, optional GOPROXY. etcd, CoreDNS and pause are the
# versions the built kubeadm names (`kubeadm config images list`); etcd and
# CoreDNS fall back to the newest served patch of the same minor when that
# exact version is not on the proxy.
# KINDLIKE_CHOWN=uid:gid chowns what this run wrote (rootful engine, non-root caller).
set -euo pipefail

CACHE=${KINDLIKE_BUILD_CACHE:-/cache}
OUT=${1:?usage: build-components OUT}
ARCH=amd64
for v in KUBERNETES_VERSION CONTAINERD_VERSION RUNC_VERSION CRICTL_VERSION CNI_PLUGINS_VERSION \
         FLANNEL_CNI_VERSION FLANNEL_VERSION LOCAL_PATH_VERSION GO_VERSION GO_SHA256; do
    [[ -n ${!v:-} ]] || { echo "[build-components] ERROR: $v is not set" >&2; exit 2; }
done

log() { printf '[build-components] %s\n' "$*" >&2; }
die() { printf '[build-components] ERROR: %s\n' "$*" >&2; exit 1; }
SCRIPT_SHA=$(sha256sum "$0" | cut -c1-16)
T0=$SECONDS

[[ -d $CACHE && -w $CACHE ]] || die "$CACHE is not a writable directory (bind-mount the cache there)"
mkdir -p "$CACHE/go/toolchain" "$CACHE/go/mod" "$CACHE/go/build" "$CACHE/src" "$CACHE/parts" "$CACHE/out"
finish_owner() { [[ -z ${KINDLIKE_CHOWN:-} ]] || chown -R "$KINDLIKE_CHOWN" "$CACHE" 2>/dev/null || true; }
trap finish_owner EXIT

# ------------------------------------------------------------------ Go
proxy_url() {
    local p
    IFS=',|' read -ra ps <<<"${GOPROXY:-https://proxy.golang.org}"
    for p in "${ps[@]}"; do
        [[ $p == direct || $p == off || -z $p ]] || { echo "${p%/}"; return; }
    done
    echo https://proxy.golang.org
}

setup_go() {
    local dir=$CACHE/go/toolchain/go$GO_VERSION
    if [[ ! -x $dir/bin/go ]]; then
        local name="v0.0.1-go$GO_VERSION.linux-$ARCH" tmp
        tmp=$(mktemp -d "$CACHE/go/toolchain/.fetch.XXXXXX")
        log "Go $GO_VERSION: fetching golang.org/toolchain@$name from the module proxy"
        curl -fsSL --retry 3 -o "$tmp/go.zip" "$(proxy_url)/golang.org/toolchain/@v/$name.zip" \
            || die "cannot download the Go toolchain from $(proxy_url)"
        echo "$GO_SHA256  $tmp/go.zip" | sha256sum -c --quiet - || die "Go toolchain checksum mismatch"
        unzip -q "$tmp/go.zip" -d "$tmp"
        rm -rf "$dir"
        mv "$tmp/golang.org/toolchain@$name" "$dir"
        chmod -R u+w "$dir"
        rm -rf "$tmp"
    fi
    export GOROOT=$dir PATH=$dir/bin:$PATH GOTOOLCHAIN=local GOTELEMETRY=off
    export GOMODCACHE=$CACHE/go/mod GOCACHE=$CACHE/go/build GOPATH=$CACHE/go/path
    export GOFLAGS="-buildvcs=false -trimpath" GOPROXY=${GOPROXY:-https://proxy.golang.org}
    log "$(go version)"
}

# Field of `go mod download -json MODULE@VERSION` (Dir, GoMod, Time, ...).
mod_field() { go mod download -json "$1" | sed -n "s/^\t\"$2\": \"\(.*\)\",\{0,1\}$/\1/p" | head -n 1; }

# The exact version if served, else the newest served vX.Y.* (etcd, CoreDNS).
served_version() {
    local mod=$1 want=$2 minor
    if go list -m "$mod@$want" >/dev/null 2>&1; then echo "$want"; return; fi
    minor=$(echo "$want" | sed -E 's/^(v[0-9]+\.[0-9]+)\..*/\1/')
    go list -m -versions "$mod" | tr ' ' '\n' | grep -E "^${minor//./\\.}\.[0-9]+$" | sort -V | tail -n 1 \
        || die "no version of $mod like $minor.x is served"
}

# A part is current when the same recipe made it: the text of the build_*
# function that makes it, and the Go version. Editing one recipe (or a
# comment elsewhere) rebuilds only what it changes.
recipe() {
    local f
    for f in "${FUNCNAME[@]}"; do
        if [[ $f == build_* && $f != build_simple ]]; then
            { declare -f "$f"; echo "$GO_VERSION"; } | sha256sum | cut -c1-16
            return
        fi
    done
    echo "$SCRIPT_SHA"
}
part_done() { [[ -f $1/.done && $(cat "$1/.done") == "$(recipe)" ]]; }
part_begin() { rm -rf "$1"; mkdir -p "$1/bin"; }
part_end() { recipe >"$1/.done"; log "$2 ready ($((SECONDS - T0)) s so far)"; }

# go install PKG@VERSION... into a part (modules without replace directives).
install_into() {
    local part=$1; shift
    GOBIN=$part/bin go install "$@"
}

# ------------------------------------------------------------------ Kubernetes
# k8s.io/kubernetes' go.mod replaces its staging modules with ./staging/...;
# `go install` refuses such a module, so a wrapper module requires it and
# replaces each staging module with its published v0.MINOR.PATCH instead.
kubernetes_wrapper() {
    local v=$1 src=$2 gomod minor
    gomod=$(mod_field "k8s.io/kubernetes@$v" GoMod)
    [[ -f $gomod ]] || die "k8s.io/kubernetes@$v is not served by the module proxy"
    minor=$(echo "$v" | sed -E 's/^v1\.([0-9]+\.[0-9]+).*/v0.\1/')
    mkdir -p "$src"
    {
        echo "module kindlike.local/kubernetes"
        echo
        grep -E '^(go|godebug) ' "$gomod" || true
        echo
        echo "require k8s.io/kubernetes $v"
        echo
        echo "replace ("
        sed -n '/^replace (/,/^)/p' "$gomod" | awk -v m="$minor" '$3 ~ /^\.\/staging\// {print "\t"$1" => "$1" "m}'
        # 1.20-1.21 pin reflect2 1.0.1, which panics under Go >= 1.18.
        echo "	github.com/modern-go/reflect2 => github.com/modern-go/reflect2 v1.0.2"
        echo ")"
    } >"$src/go.mod.new"
    printf '//go:build tools\n\npackage tools\n\nimport (\n' >"$src/tools.go"
    for c in "${K8S_CMDS[@]}"; do printf '\t_ "k8s.io/kubernetes/cmd/%s"\n' "$c" >>"$src/tools.go"; done
    printf ')\n' >>"$src/tools.go"
    if ! cmp -s "$src/go.mod.new" "$src/go.mod.in" || [[ ! -f $src/go.sum ]]; then
        cp "$src/go.mod.new" "$src/go.mod"
        cp "$src/go.mod.new" "$src/go.mod.in"
        log "Kubernetes $v: resolving modules (go mod tidy)"
        (cd "$src" && go mod tidy) || die "go mod tidy failed for Kubernetes $v"
    fi
    rm -f "$src/go.mod.new"
}

K8S_CMDS=(kubelet kubeadm kubectl kube-apiserver kube-controller-manager kube-scheduler kube-proxy)

build_kubernetes() {
    local v=$KUBERNETES_VERSION part=$CACHE/parts/kubernetes-$KUBERNETES_VERSION
    local src=$CACHE/src/kubernetes-$v
    if part_done "$part"; then log "Kubernetes $v: cached"; return; fi
    part_begin "$part"
    local tree
    tree=$(mod_field "k8s.io/kubernetes@$v" Dir)
    # Older releases leave kube-apiserver's generated OpenAPI code out of the
    # tag (their `make` generates it); without it the build fails after many
    # minutes, so say so now.
    [[ -f $tree/pkg/generated/openapi/zz_generated.openapi.go ]] ||
        die "k8s.io/kubernetes@$v lacks pkg/generated/openapi/zz_generated.openapi.go, which kube-apiserver needs (older releases generate it in their own build); use a newer release, or --kubernetes debian-source for v1.20.2"
    kubernetes_wrapper "$v" "$src"
    local major minor date commit ld="-s -w" pkgs=() p
    major=$(echo "$v" | sed -E 's/^v([0-9]+)\..*/\1/')
    minor=$(echo "$v" | sed -E 's/^v[0-9]+\.([0-9]+)\..*/\1/')
    date=$(mod_field "k8s.io/kubernetes@$v" Time)
    commit=$(go mod download -json "k8s.io/kubernetes@$v" | sed -n 's/^\t\t"Hash": "\(.*\)",\{0,1\}$/\1/p' | head -n 1)
    for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
        ld+=" -X $p.gitVersion=$v -X $p.gitMajor=$major -X $p.gitMinor=$minor -X $p.gitTreeState=clean"
        ld+=" -X $p.buildDate=${date:-1970-01-01T00:00:00Z} -X $p.gitCommit=${commit}"
    done
    for c in "${K8S_CMDS[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$c"); done
    log "Kubernetes $v: go build ${K8S_CMDS[*]} (first time: many minutes on 2 cores)"
    (cd "$src" && CGO_ENABLED=0 go build -tags selinux,notest -ldflags "$ld" -o "$part/bin/" "${pkgs[@]}") \
        || die "building Kubernetes $v failed"
    local dir
    dir=$(mod_field "k8s.io/kubernetes@$v" Dir)
    gcc -Os -Wall -Werror -static -DVERSION="$v-kindlike" -o "$part/bin/pause" "$dir/build/pause/linux/pause.c" \
        || die "building pause failed"
    strip "$part/bin/pause"
    "$part/bin/kubeadm" config images list --kubernetes-version "$v" >"$part/images.txt" \
        || die "kubeadm config images list failed"
    part_end "$part" "Kubernetes $v"
}

# The tag kubeadm wants for an image (etcd, coredns, pause).
kubeadm_tag() { sed -n "s#.*/$1:##p" "$CACHE/parts/kubernetes-$KUBERNETES_VERSION/images.txt" | head -n 1; }

build_etcd() {
    local want served part src gomod
    want=v$(kubeadm_tag etcd | sed 's/-[0-9]*$//')
    # etcd 3.4 (Kubernetes 1.20-1.21) predates the server/v3 module: 3.5 runs
    # kubeadm's etcd flags of those releases unchanged.
    [[ $want != v3.4.* ]] || want=v3.5.0
    served=$(served_version go.etcd.io/etcd/server/v3 "$want")
    part=$CACHE/parts/etcd-$served
    ETCD_VERSION=$served
    if part_done "$part"; then log "etcd $served: cached"; return; fi
    part_begin "$part"
    src=$CACHE/src/etcd-$served
    mkdir -p "$src"
    gomod=$(mod_field "go.etcd.io/etcd/server/v3@$served" GoMod)
    # server/v3's go.mod replaces its sibling modules with ../ paths: a wrapper again.
    { echo "module kindlike.local/etcd"; echo; grep -E '^go ' "$gomod"; echo;
      echo "require go.etcd.io/etcd/server/v3 $served"; } >"$src/go.mod"
    printf '//go:build tools\n\npackage tools\n\nimport _ "go.etcd.io/etcd/server/v3"\n' >"$src/tools.go"
    [[ -f $src/go.sum ]] || (cd "$src" && go mod tidy) || die "go mod tidy failed for etcd $served"
    log "etcd $served (kubeadm asks for $want): go build"
    (cd "$src" && CGO_ENABLED=0 go build -ldflags "-s -w" -o "$part/bin/etcd" go.etcd.io/etcd/server/v3) \
        || die "building etcd $served failed"
    part_end "$part" "etcd $served"
}

build_coredns() {
    local want served part
    want=$(kubeadm_tag coredns)
    [[ $want == v* ]] || want=v$want
    served=$(served_version github.com/coredns/coredns "$want")
    part=$CACHE/parts/coredns-$served
    COREDNS_VERSION=$served
    if part_done "$part"; then log "CoreDNS $served: cached"; return; fi
    part_begin "$part"
    log "CoreDNS $served (kubeadm asks for $want): go install"
    CGO_ENABLED=0 install_into "$part" -ldflags "-s -w" "github.com/coredns/coredns@$served" \
        || die "building CoreDNS $served failed"
    part_end "$part" "CoreDNS $served"
}

build_simple() {  # name version ... (per component below)
    local name=$1 v=$2 part=$CACHE/parts/$1-$2
    if part_done "$part"; then log "$name $v: cached"; return 1; fi
    part_begin "$part"
    log "$name $v: go install"
    return 0
}

build_containerd() {
    local v=$CONTAINERD_VERSION m=github.com/containerd/containerd/v2 part=$CACHE/parts/containerd-$CONTAINERD_VERSION
    build_simple containerd "$v" || return 0
    CGO_ENABLED=0 install_into "$part" -tags "no_btrfs no_devmapper no_zfs" \
        -ldflags "-s -w -X $m/version.Version=$v -X $m/version.Revision=kindlike" \
        "$m/cmd/containerd@$v" "$m/cmd/ctr@$v" "$m/cmd/containerd-shim-runc-v2@$v" \
        || die "building containerd $v failed"
    part_end "$part" "containerd $v"
}

build_runc() {
    local v=$RUNC_VERSION part=$CACHE/parts/runc-$RUNC_VERSION
    build_simple runc "$v" || return 0
    # seccomp needs cgo; linked statically so the node needs no libseccomp.
    CGO_ENABLED=1 install_into "$part" -tags "seccomp netgo osusergo" \
        -ldflags "-s -w -X main.version=${v#v} -extldflags -static" "github.com/opencontainers/runc@$v" \
        || die "building runc $v failed"
    part_end "$part" "runc $v"
}

build_crictl() {
    local v=$CRICTL_VERSION part=$CACHE/parts/crictl-$CRICTL_VERSION
    build_simple crictl "$v" || return 0
    CGO_ENABLED=0 install_into "$part" -ldflags "-s -w -X sigs.k8s.io/cri-tools/pkg/version.Version=$v" \
        "sigs.k8s.io/cri-tools/cmd/crictl@$v" || die "building crictl $v failed"
    part_end "$part" "crictl $v"
}

CNI_PLUGINS=(main/bridge main/loopback main/ptp ipam/host-local meta/portmap)

build_cni() {
    local v=$CNI_PLUGINS_VERSION part=$CACHE/parts/cni-plugins-$CNI_PLUGINS_VERSION m=github.com/containernetworking/plugins
    local pkgs=() p
    if build_simple cni-plugins "$v"; then
        for p in "${CNI_PLUGINS[@]}"; do pkgs+=("$m/plugins/$p@$v"); done
        CGO_ENABLED=0 install_into "$part" -ldflags "-s -w -X $m/pkg/utils/buildversion.BuildVersion=$v" \
            "${pkgs[@]}" || die "building the CNI plugins $v failed"
        part_end "$part" "CNI plugins $v"
    fi
    # Flannel's own CNI plugin (github.com/flannel-io/cni-plugin) is not on the
    # proxy; the same plugin lived in containernetworking/plugins until v0.9.x.
    v=$FLANNEL_CNI_VERSION
    part=$CACHE/parts/flannel-cni-$v
    if build_simple flannel-cni "$v"; then
        CGO_ENABLED=0 install_into "$part" -ldflags "-s -w -X $m/pkg/utils/buildversion.BuildVersion=$v" \
            "$m/plugins/meta/flannel@$v" || die "building the flannel CNI plugin ($m $v) failed"
        part_end "$part" "flannel CNI plugin $v"
    fi
}

build_flannel() {
    local v=$FLANNEL_VERSION part=$CACHE/parts/flannel-$FLANNEL_VERSION src dir
    build_simple flannel "$v" || return 0
    # flanneld's main imports every backend, and the Tencent VPC one needs a
    # module the proxy refuses. The module's own tree is built as the main
    # module (a copy, made here from the module cache) without that import;
    # nothing else changes and the vxlan backend is untouched.
    dir=$(mod_field "github.com/flannel-io/flannel@$v" Dir)
    src=$CACHE/src/flannel-$v
    rm -rf "$src"
    cp -r "$dir" "$src"
    chmod -R u+w "$src"
    sed -i '/"github.com\/flannel-io\/flannel\/pkg\/backend\/tencentvpc"/d' "$src/main.go"
    # The UDP backend is cgo on amd64 (as upstream builds it), linked statically.
    (cd "$src" && CGO_ENABLED=1 go build -tags "netgo osusergo" \
        -ldflags "-s -w -X github.com/flannel-io/flannel/pkg/version.Version=$v -extldflags -static" \
        -o "$part/bin/flanneld" .) || die "building flannel $v failed"
    part_end "$part" "flannel $v"
}

build_local_path() {
    local v=$LOCAL_PATH_VERSION part=$CACHE/parts/local-path-provisioner-$LOCAL_PATH_VERSION
    build_simple local-path-provisioner "$v" || return 0
    CGO_ENABLED=0 install_into "$part" -ldflags "-s -w -X main.VERSION=$v" \
        "github.com/rancher/local-path-provisioner@$v" || die "building local-path-provisioner $v failed"
    part_end "$part" "local-path-provisioner $v"
}

# ------------------------------------------------------------------ main
setup_go
build_kubernetes
build_etcd
build_coredns
build_containerd
build_runc
build_crictl
build_cni
build_flannel
build_local_path

out=$CACHE/out/$OUT
rm -rf "$out.tmp"
mkdir -p "$out.tmp/bin"
for p in "kubernetes-$KUBERNETES_VERSION" "etcd-$ETCD_VERSION" "coredns-$COREDNS_VERSION" \
         "containerd-$CONTAINERD_VERSION" "runc-$RUNC_VERSION" "crictl-$CRICTL_VERSION" \
         "cni-plugins-$CNI_PLUGINS_VERSION" "flannel-cni-$FLANNEL_CNI_VERSION" "flannel-$FLANNEL_VERSION" \
         "local-path-provisioner-$LOCAL_PATH_VERSION"; do
    cp -l "$CACHE/parts/$p/bin/"* "$out.tmp/bin/" 2>/dev/null || cp "$CACHE/parts/$p/bin/"* "$out.tmp/bin/"
done
cp "$CACHE/parts/kubernetes-$KUBERNETES_VERSION/images.txt" "$out.tmp/kubeadm-images.txt"
{
    printf '{\n  "script_sha256": "%s",\n  "go": "%s",\n  "versions": {\n' "$SCRIPT_SHA" "$GO_VERSION"
    printf '    "kubernetes": "%s", "etcd": "%s", "coredns": "%s",\n' "$KUBERNETES_VERSION" "$ETCD_VERSION" "$COREDNS_VERSION"
    printf '    "containerd": "%s", "runc": "%s", "crictl": "%s",\n' "$CONTAINERD_VERSION" "$RUNC_VERSION" "$CRICTL_VERSION"
    printf '    "cni_plugins": "%s", "flannel_cni": "%s", "flannel": "%s",\n' \
        "$CNI_PLUGINS_VERSION" "$FLANNEL_CNI_VERSION" "$FLANNEL_VERSION"
    printf '    "local_path": "%s"\n  },\n  "sha256": {\n' "$LOCAL_PATH_VERSION"
    first=1
    for f in "$out.tmp/bin/"*; do
        [[ $first == 1 ]] || printf ',\n'
        first=0
        printf '    "%s": "%s"' "${f##*/}" "$(sha256sum "$f" | cut -d' ' -f1)"
    done
    printf '\n  }\n}\n'
} >"$out.tmp/build-info.json"
rm -rf "$out"
mv "$out.tmp" "$out"
log "done in $((SECONDS - T0)) s: $out"
