#!/usr/bin/env bash
# write-metadata.sh (image build time): record what this node image is, for
# kindlike (and people) to read back:
#   /kind/version          the Kubernetes version, as kindest/node has it
#   /kindlike/image.json   everything below, as JSON
# and bake the preloaded pause image into containerd's config. The same
# values go into the image labels (io.kindlike.*) from the Dockerfile ARGs.
#
# Input, from the environment:
#   KUBERNETES_VERSION  vX.Y.Z (checked against `kubeadm version -o short`)
#   FLAVOUR             offline | online
#   SOURCE              where Kubernetes came from (debian-source, binaries,
#                       kindest/node image reference)
#   CNI                 flannel | none
#   CNI_MANIFEST        path in the image of the CNI manifest, or ""
#   CNI_PLUGINS         space-separated plugin names in /opt/cni/bin (detected
#                       when empty)
#   HAS_COREDNS         true | false
#   CGROUP_DRIVER       cgroupfs | systemd
#   SANDBOX_IMAGE       the pause image in containerd's k8s.io namespace
#   IMAGES_FILE         file listing the preloaded images, one per line
#   KUBEADM_API         kubeadm config API version, e.g. kubeadm.k8s.io/v1beta2
#   NOTES               free text (e.g. what etcd really is)
#   COMPONENTS          name=version,... of every component (Go-modules builds)
#   STORAGE_MANIFEST    path in the image of the default storage manifest, or ""
set -euo pipefail

die() { echo "write-metadata: $*" >&2; exit 1; }
: "${KUBERNETES_VERSION:?}" "${FLAVOUR:?}" "${CNI:?}" "${HAS_COREDNS:?}" "${CGROUP_DRIVER:?}"
: "${SANDBOX_IMAGE:?}" "${IMAGES_FILE:?}" "${KUBEADM_API:?}"

actual=$(kubeadm version -o short 2>/dev/null || true)
[[ $actual == "$KUBERNETES_VERSION" ]] ||
    die "kubeadm in the image is '$actual', the build says $KUBERNETES_VERSION"
kubelet_v=$(kubelet --version 2>/dev/null | awk '{print $2}')
[[ $kubelet_v == "$KUBERNETES_VERSION" ]] || die "kubelet in the image is '$kubelet_v'"

[[ -s $IMAGES_FILE ]] || die "$IMAGES_FILE lists no preloaded image"
grep -qxF "$SANDBOX_IMAGE" "$IMAGES_FILE" || die "sandbox image $SANDBOX_IMAGE is not preloaded"
for m in "${CNI_MANIFEST:-}" "${STORAGE_MANIFEST:-}"; do
    [[ -z $m || -s $m ]] || die "manifest $m missing"
done
plugins=${CNI_PLUGINS:-}
if [[ -z $plugins ]]; then
    plugins=$(find /opt/cni/bin -mindepth 1 -maxdepth 1 \( -type f -o -type l \) -printf '%f\n' 2>/dev/null | sort | tr '\n' ' ')
fi

json_str() { # a JSON string of $1 (values here are plain ASCII)
    local s=${1//\\/\\\\}
    s=${s//\"/\\\"}
    printf '"%s"' "$s"
}
json_map() { # a JSON object of the k=v,k=v pairs in $1
    local first=1 kv
    printf '{'
    for kv in ${1//,/ }; do
        ((first)) || printf ', '
        first=0
        printf '%s: %s' "$(json_str "${kv%%=*}")" "$(json_str "${kv#*=}")"
    done
    printf '}'
}
json_list() { # a JSON list of strings of the words/lines in $1
    local first=1 w
    printf '['
    for w in $1; do
        ((first)) || printf ', '
        first=0
        json_str "$w"
    done
    printf ']'
}

containerd_v=$(containerd --version 2>/dev/null | awk '{print $3}')
runc_v=$(runc --version 2>/dev/null | awk 'NR==1{print $3}')

mkdir -p /kind /kindlike
echo "$KUBERNETES_VERSION" >/kind/version
{
    printf '{\n'
    printf '  "schema": 1,\n'
    printf '  "kubernetes_version": %s,\n' "$(json_str "$KUBERNETES_VERSION")"
    printf '  "flavour": %s,\n' "$(json_str "$FLAVOUR")"
    printf '  "source": %s,\n' "$(json_str "${SOURCE:-}")"
    printf '  "cni": %s,\n' "$(json_str "$CNI")"
    printf '  "cni_manifest": %s,\n' "$(json_str "${CNI_MANIFEST:-}")"
    printf '  "cni_plugins": %s,\n' "$(json_list "$plugins")"
    printf '  "storage_manifest": %s,\n' "$(json_str "${STORAGE_MANIFEST:-}")"
    printf '  "components": %s,\n' "$(json_map "${COMPONENTS:-}")"
    printf '  "has_coredns": %s,\n' "$HAS_COREDNS"
    printf '  "cgroup_driver": %s,\n' "$(json_str "$CGROUP_DRIVER")"
    printf '  "sandbox_image": %s,\n' "$(json_str "$SANDBOX_IMAGE")"
    printf '  "images": %s,\n' "$(json_list "$(cat "$IMAGES_FILE")")"
    printf '  "kubeadm_api": %s,\n' "$(json_str "$KUBEADM_API")"
    printf '  "containerd_version": %s,\n' "$(json_str "$containerd_v")"
    printf '  "runc_version": %s,\n' "$(json_str "$runc_v")"
    printf '  "kubelet_in_userns_gate": %s,\n' "$([[ ${KUBERNETES_VERSION#v} =~ ^1\.(1[0-9]|2[01])\. ]] && echo false || echo true)"
    printf '  "notes": %s\n' "$(json_str "${NOTES:-}")"
    printf '}\n'
} >/kindlike/image.json

/usr/local/bin/kindlike-containerd-config --sandbox-image "$SANDBOX_IMAGE" /etc/containerd/config.toml
cat /kindlike/image.json
