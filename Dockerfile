# kindlike node image, ONLINE flavour: kindest/node plus what it lacks for
# kindlike: the CNI plugins Flannel needs (bridge, flannel; host-local,
# loopback and portmap at the release's version), Flannel's manifest and
# images (preloaded and pinned), and the node parts of images/node (an
# entrypoint for user namespaces and cgroupfs, the containerd settings it
# applies at boot, the flannel.1 checksum-offload fix).
#
# Needs a network at build time: Docker Hub (kindest/node, debian), GitHub
# release downloads, and the registries the Flannel manifest names (ghcr.io).
# Build it from the repository's top directory:
#
#   docker build -t kindlike/node:v1.31.4-online .
#   podman build -t kindlike/node:v1.31.4-online .
#   kindlike build node-image --flavour online --kubernetes 1.31.4
#
# Another Kubernetes version: --build-arg BASE_IMAGE=kindest/node:vX.Y.Z
# --build-arg KUBERNETES_VERSION=vX.Y.Z (the build checks they agree)
# --build-arg KUBEADM_API=kubeadm.k8s.io/v1beta3 (1.23-1.30) and
# SANDBOX_IMAGE= (empty: read from kindest/node's containerd config).
# The offline flavour (no network but Debian's mirror) is images/offline/.

# kind v0.26.0's image for Kubernetes v1.31.4, pinned by digest.
ARG BASE_IMAGE=kindest/node:v1.31.4@sha256:2cb39f7295fe7eafee0842b1052a599a4fb0f8bcf3f83d96c7f4864c357c6c30
ARG FETCH_IMAGE=debian:bookworm-slim

# ---------------------------------------------------------------- fetch
FROM ${FETCH_IMAGE} AS fetch
ARG TARGETARCH=amd64
ARG CNI_PLUGINS_VERSION=v1.6.2
ARG CNI_PLUGINS_SHA256=
ARG FLANNEL_VERSION=v0.26.5
ARG FLANNEL_MANIFEST_SHA256=
ARG FLANNEL_CNI_PLUGIN_VERSION=v1.6.2-flannel1
ARG FLANNEL_CNI_PLUGIN_SHA256=
RUN set -eux; \
    apt-get update; \
    apt-get install -y --no-install-recommends ca-certificates curl skopeo; \
    rm -rf /var/lib/apt/lists/*
COPY images/node/online/fetch-online-parts.sh /usr/local/bin/fetch-online-parts
RUN TARGETARCH="${TARGETARCH}" CNI_PLUGINS_VERSION="${CNI_PLUGINS_VERSION}" \
    CNI_PLUGINS_SHA256="${CNI_PLUGINS_SHA256}" FLANNEL_VERSION="${FLANNEL_VERSION}" \
    FLANNEL_MANIFEST_SHA256="${FLANNEL_MANIFEST_SHA256}" \
    FLANNEL_CNI_PLUGIN_VERSION="${FLANNEL_CNI_PLUGIN_VERSION}" \
    FLANNEL_CNI_PLUGIN_SHA256="${FLANNEL_CNI_PLUGIN_SHA256}" OUT=/out \
    fetch-online-parts

# ---------------------------------------------------------------- node
FROM ${BASE_IMAGE}
ARG BASE_IMAGE
ARG KUBERNETES_VERSION=v1.31.4
ARG KUBEADM_API=kubeadm.k8s.io/v1beta4
ARG SANDBOX_IMAGE=registry.k8s.io/pause:3.10
ARG FLANNEL_VERSION=v0.26.5
# kind's own entrypoint stays and runs first; it execs ours, which execs systemd.
RUN set -eux; \
    if [ -x /usr/local/bin/entrypoint ] && [ ! -e /usr/local/bin/kind-entrypoint ]; then \
        mv /usr/local/bin/entrypoint /usr/local/bin/kind-entrypoint; \
    fi; \
    command -v ethtool >/dev/null || { \
        apt-get update; apt-get install -y --no-install-recommends ethtool; rm -rf /var/lib/apt/lists/*; }
COPY images/node/files/ /
COPY images/node/build/ /tmp/kindlike-build/
COPY --from=fetch /out/cni-bin/ /opt/cni/bin/
COPY --from=fetch /out/manifests/flannel.yaml /tmp/kindlike-flannel.yaml
COPY --from=fetch /out/images/ /tmp/kindlike-images/
COPY --from=fetch /out/urls.txt /kindlike/online-downloads.txt
RUN set -eux; \
    mkdir -p /kindlike /kind/manifests; \
    # Flannel becomes the node's default CNI manifest; kind's kindnet stays beside it.
    if [ -f /kind/manifests/default-cni.yaml ]; then \
        mv /kind/manifests/default-cni.yaml /kind/manifests/kindnet.yaml; \
    fi; \
    mv /tmp/kindlike-flannel.yaml /kind/manifests/default-cni.yaml; \
    kindlike-preload-images --list /kindlike/preloaded-images /tmp/kindlike-images; \
    rm -rf /tmp/kindlike-images; \
    ln -sf /dev/null /etc/systemd/system/proc-sys-fs-binfmt_misc.automount; \
    systemctl enable kindlike-flannel-offload.service; \
    sandbox="${SANDBOX_IMAGE}"; \
    if [ -z "$sandbox" ]; then \
        sandbox=$(sed -n 's/^[[:space:]]*\(sandbox_image\|sandbox\)[[:space:]]*=[[:space:]]*"\([^"]*\)".*/\2/p' /etc/containerd/config.toml | head -n 1); \
    fi; \
    grep -q '/coredns:' /kindlike/preloaded-images || { echo "no CoreDNS image in $BASE_IMAGE" >&2; exit 1; }; \
    KUBERNETES_VERSION="${KUBERNETES_VERSION}" FLAVOUR=online SOURCE="${BASE_IMAGE}" \
        CNI=flannel CNI_MANIFEST=/kind/manifests/default-cni.yaml HAS_COREDNS=true \
        CGROUP_DRIVER=cgroupfs SANDBOX_IMAGE="$sandbox" IMAGES_FILE=/kindlike/preloaded-images \
        KUBEADM_API="${KUBEADM_API}" NOTES="kindest/node with Flannel ${FLANNEL_VERSION}" \
        /tmp/kindlike-build/write-metadata.sh; \
    rm -rf /tmp/kindlike-build
LABEL io.kindlike.image-schema="1" \
      io.kindlike.kubernetes-version="${KUBERNETES_VERSION}" \
      io.kindlike.flavour="online" \
      io.kindlike.source="${BASE_IMAGE}" \
      io.kindlike.cni="flannel" \
      io.kindlike.cni-manifest="/kind/manifests/default-cni.yaml" \
      io.kindlike.coredns="true" \
      io.kindlike.cgroup-driver="cgroupfs" \
      io.kindlike.sandbox-image="${SANDBOX_IMAGE}" \
      io.kindlike.kubeadm-api="${KUBEADM_API}" \
      io.kindlike.flannel-version="${FLANNEL_VERSION}"
STOPSIGNAL SIGRTMIN+3
ENTRYPOINT ["/usr/local/bin/kind-entrypoint", "/usr/local/bin/entrypoint", "/sbin/init"]
