# shellcheck shell=bash
# hack/setup-host.sh, the base image kindlike/base:bookworm in each engine, and
# the optional systemd-in-a-node probe built on it. Sourced: uses the variables and helpers of
# setup/common.sh.

base_image() { # base_image ENGINE-LABEL build.sh-args...
    local label=$1; shift
    local out
    out=$("$REPO/images/base/build.sh" "$@" 2>&1) || { echo "$out" >&2; die "base image for $label failed"; }
    case "$out" in
        *": skip"*) say "base image ($label)" "skip (present)" ;;
        *) say "base image ($label)" "imported"; printf '%s\n' "$out" | grep -v ': imported' | sed 's/^/    /' || true ;;
    esac
}

probe_systemd() { # probe_systemd LABEL ENGINE-CMD...
    local label=$1; shift
    local eng=("$@") name="kindlike-probe-$$" t0=$SECONDS state="" i extra=()
    local ctx
    ctx=$(mktemp -d); chmod 755 "$ctx"
    cat >"$ctx/Dockerfile" <<EOF
FROM $BASE_IMAGE
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends systemd systemd-sysv dbus \\
 && rm -rf /var/lib/apt/lists/* \\
 && systemctl mask proc-sys-fs-binfmt_misc.automount sys-kernel-debug.mount sys-kernel-tracing.mount \\
      getty@tty1.service console-getty.service \\
 && systemctl set-default multi-user.target
STOPSIGNAL SIGRTMIN+3
CMD ["/sbin/init"]
EOF
    chmod 644 "$ctx/Dockerfile"
    # the context is a world-readable temp dir, so the rootless user can read it
    if ! DOCKER_BUILDKIT=0 "${eng[@]}" build -t "$PROBE_IMAGE" "$ctx" >"$LOGDIR/probe-build-$label.log" 2>&1; then
        rm -rf "$ctx"; tail -n 20 "$LOGDIR/probe-build-$label.log" >&2
        die "probe ($label): building $PROBE_IMAGE failed"
    fi
    rm -rf "$ctx"
    local tb=$((SECONDS - t0))
    # Podman: --systemd=false, else (rootless) it mounts a name=systemd
    # hierarchy the node cannot write to ("Failed to create /init.scope").
    [[ ${eng[*]} == *podman* ]] && extra=(--systemd=false)
    "${eng[@]}" run -d --name "$name" "${extra[@]}" --privileged --cgroupns=private --tmpfs /tmp --tmpfs /run \
        -v /var --security-opt seccomp=unconfined "$PROBE_IMAGE" /sbin/init >/dev/null ||
        { "${eng[@]}" rm -f "$name" >/dev/null 2>&1; "${eng[@]}" rmi "$PROBE_IMAGE" >/dev/null 2>&1;
          die "probe ($label): cannot start the node container"; }
    for ((i = 0; i < 100; i++)); do
        state=$("${eng[@]}" exec "$name" systemctl is-system-running 2>/dev/null || true)
        [[ $state == running || $state == degraded ]] && break
        sleep 0.3
    done
    local failed=""
    [[ $state == degraded ]] && failed=$("${eng[@]}" exec "$name" systemctl --failed --no-legend --plain 2>/dev/null | awk '{print $1}' | xargs)
    "${eng[@]}" logs "$name" >"$LOGDIR/probe-$label.log" 2>&1 || true
    "${eng[@]}" rm -f -v "$name" >/dev/null 2>&1 || true
    "${eng[@]}" rmi "$PROBE_IMAGE" >/dev/null 2>&1 || true
    case "$state" in
        running) say "probe systemd ($label)" "ok: running (build ${tb} s, total $((SECONDS - t0)) s)" ;;
        degraded) say "probe systemd ($label)" "ok: degraded, failed units: ${failed:-?} (build ${tb} s)" ;;
        *) die "probe ($label): systemd state '${state:-none}' (node log: $LOGDIR/probe-$label.log)" ;;
    esac
}
