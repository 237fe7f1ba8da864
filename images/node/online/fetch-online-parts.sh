#!/usr/bin/env bash
# fetch-online-parts.sh (online flavour, build time, in the "fetch" stage of
# the top-level Dockerfile): download what kindest/node lacks for Flannel,
# from the upstream release URLs, into $OUT:
#
#   $OUT/cni-bin/      bridge host-local loopback portmap (containernetworking
#                      plugins release) and flannel (flannel-io/cni-plugin)
#   $OUT/manifests/flannel.yaml   Flannel's kube-flannel.yml
#   $OUT/images/*.tar  every image that manifest names, as docker-archive
#                      tarballs (skopeo), to preload into the node
#   $OUT/urls.txt      what was downloaded
#
# Versions and checksums come from the environment (Dockerfile ARGs):
#   CNI_PLUGINS_VERSION        e.g. v1.6.2
#   FLANNEL_VERSION            e.g. v0.26.5 (manifest; it names the images)
#   FLANNEL_CNI_PLUGIN_VERSION e.g. v1.6.2-flannel1
#   TARGETARCH                 amd64 | arm64 ... (default amd64)
#   CNI_PLUGINS_SHA256, FLANNEL_CNI_PLUGIN_SHA256, FLANNEL_MANIFEST_SHA256
#       expected sha256 sums; when empty, the release's published .sha256
#       file is used if there is one, else the download is only logged
#   CNI_PLUGINS            plugins to install (default: bridge host-local loopback portmap)
#   OUT                    output directory (default /out)
#
# usage: fetch-online-parts.sh [--dry-run]   (--dry-run: print the URLs only)
set -euo pipefail

: "${CNI_PLUGINS_VERSION:?}" "${FLANNEL_VERSION:?}" "${FLANNEL_CNI_PLUGIN_VERSION:?}"
ARCH=${TARGETARCH:-amd64}
OUT=${OUT:-/out}
PLUGINS=${CNI_PLUGINS:-bridge host-local loopback portmap}

CNI_URL="https://github.com/containernetworking/plugins/releases/download/${CNI_PLUGINS_VERSION}/cni-plugins-linux-${ARCH}-${CNI_PLUGINS_VERSION}.tgz"
FLANNEL_CNI_URL="https://github.com/flannel-io/cni-plugin/releases/download/${FLANNEL_CNI_PLUGIN_VERSION}/cni-plugin-flannel-linux-${ARCH}-${FLANNEL_CNI_PLUGIN_VERSION}.tgz"
FLANNEL_MANIFEST_URL="https://github.com/flannel-io/flannel/releases/download/${FLANNEL_VERSION}/kube-flannel.yml"

if [[ ${1:-} == --dry-run ]]; then
    printf '%s\n' "$CNI_URL" "$FLANNEL_CNI_URL" "$FLANNEL_MANIFEST_URL"
    exit 0
fi

log() { echo "[fetch] $*" >&2; }
die() { echo "[fetch] ERROR: $*" >&2; exit 1; }

# Images named in a Kubernetes manifest ("image: REF" lines), unique, in order.
manifest_images() {
    sed -n 's/^[[:space:]]*-\{0,1\}[[:space:]]*image:[[:space:]]*["'\'']\{0,1\}\([^"'\'' ]*\)["'\'']\{0,1\}[[:space:]]*$/\1/p' "$1" |
        awk '!seen[$0]++'
}
if [[ ${1:-} == --manifest-images ]]; then
    manifest_images "$2"
    exit 0
fi

fetch() { # fetch URL DEST EXPECTED_SHA256
    local url=$1 dest=$2 want=${3:-} got published
    log "GET $url"
    curl -fsSL --retry 5 --retry-delay 2 -o "$dest" "$url" || die "download failed: $url"
    got=$(sha256sum "$dest" | cut -d' ' -f1)
    if [[ -z $want ]]; then
        published=$(curl -fsSL --retry 3 "$url.sha256" 2>/dev/null | awk 'NR==1{print $1}' || true)
        want=$published
        [[ -n $want ]] || log "no published checksum for ${url##*/}; sha256 $got"
    fi
    if [[ -n $want && $want != "$got" ]]; then
        die "checksum mismatch for ${url##*/}: got $got, want $want"
    fi
    echo "$url sha256:$got" >>"$OUT/urls.txt"
}

mkdir -p "$OUT/cni-bin" "$OUT/manifests" "$OUT/images" "$OUT/tmp"
: >"$OUT/urls.txt"

fetch "$CNI_URL" "$OUT/tmp/cni.tgz" "${CNI_PLUGINS_SHA256:-}"
members=()
for p in $PLUGINS; do members+=("./$p"); done
tar -xzf "$OUT/tmp/cni.tgz" -C "$OUT/cni-bin" "${members[@]}"

fetch "$FLANNEL_CNI_URL" "$OUT/tmp/flannel-cni.tgz" "${FLANNEL_CNI_PLUGIN_SHA256:-}"
mkdir -p "$OUT/tmp/flannel-cni"
tar -xzf "$OUT/tmp/flannel-cni.tgz" -C "$OUT/tmp/flannel-cni"
flannel_bin=$(find "$OUT/tmp/flannel-cni" -type f -name 'flannel*' | head -n 1)
[[ -n $flannel_bin ]] || die "no flannel binary in ${FLANNEL_CNI_URL##*/}"
install -m 0755 "$flannel_bin" "$OUT/cni-bin/flannel"

fetch "$FLANNEL_MANIFEST_URL" "$OUT/manifests/flannel.yaml" "${FLANNEL_MANIFEST_SHA256:-}"

n=0
while IFS= read -r ref; do
    [[ -n $ref ]] || continue
    n=$((n + 1))
    log "skopeo copy $ref"
    skopeo copy --retry-times 3 --override-os linux --override-arch "$ARCH" \
        "docker://$ref" "docker-archive:$OUT/images/flannel-$n.tar:$ref" >/dev/null
    echo "docker://$ref" >>"$OUT/urls.txt"
done < <(manifest_images "$OUT/manifests/flannel.yaml")
((n > 0)) || die "the Flannel manifest names no image"

rm -rf "$OUT/tmp"
ls -l "$OUT/cni-bin" "$OUT/images" >&2
