# shellcheck shell=bash
# hack/setup-host.sh, rootful Podman's config, rootless Podman's config and its
# API service. Sourced: uses the variables and helpers of
# setup/common.sh.

setup_rootful_podman() {
    local r
    r=$(toml_set /etc/containers/containers.conf "" \
        containers default_ulimits '["nofile=20000:20000", "nproc=32768:32768"]' \
        engine runtime '"runc"' \
        engine cgroup_manager '"cgroupfs"' \
        engine events_logger '"file"') || die "could not update /etc/containers/containers.conf"
    if [[ $r == changed ]]; then
        say "/etc/containers/containers.conf" "written (ulimits, runtime runc)"
    else
        say "/etc/containers/containers.conf" "skip (up to date)"
    fi
    base_image "rootful podman" podman
    local fp
    fp="$(sha256sum </etc/containers/containers.conf | cut -c1-16) $(podman image inspect -f '{{.Id}}' "$BASE_IMAGE")"
    privileged_check "rootful podman" rootful-podman "$fp" true podman
}

# Rootful Podman's API service on its standard socket, where kindlike run
# as root looks first (kindlike starts a private one itself when none
# answers; the tests share this one instead of one per call).
setup_rootful_podman_service() {
    install -d -m 0700 /run/podman
    podman_service rootful /run/podman/podman.sock podman-service-rootful podman
}

setup_rootless_podman() {
    local cdir=$RHOME/.config/containers r1 r2
    if [[ ! -d $cdir ]]; then
        install -d -m 0755 -o "$RUID" -g "$RGID" "$RHOME/.config"
        install -d -m 0755 -o "$RUID" -g "$RGID" "$cdir"
    fi
    r1=$(toml_set "$cdir/storage.conf" "$RUID:$RGID" storage driver '"overlay"') ||
        die "could not update $cdir/storage.conf"
    # crun 1.8.1 refuses the hybrid cgroup layout: runc. No systemd: cgroupfs, file events.
    r2=$(toml_set "$cdir/containers.conf" "$RUID:$RGID" \
        engine runtime '"runc"' \
        engine cgroup_manager '"cgroupfs"' \
        engine events_logger '"file"') || die "could not update $cdir/containers.conf"
    if [[ $r1 == unchanged && $r2 == unchanged ]]; then
        say "podman config ($RUSER)" "skip (overlay, runc)"
    else
        say "podman config ($RUSER)" "written (storage.conf overlay, containers.conf runc)"
    fi
    base_image "rootless podman" --as-rootless podman
    local fp
    fp="$(cat "$cdir/storage.conf" "$cdir/containers.conf" | sha256sum | cut -c1-16) $(as_user podman image inspect -f '{{.Id}}' "$BASE_IMAGE")"
    privileged_check "rootless podman" "rootless-podman$SFX" "$fp" rootless_podman_facts as_user podman
}

rootless_podman_facts() {
    local info
    info=$(as_user podman info --format '{{.Host.Security.Rootless}} {{.Host.OCIRuntime.Name}} {{.Store.GraphDriverName}}')
    [[ $info == "true runc overlay" ]] || die "rootless podman info says '$info', expected 'true runc overlay'"
}

setup_rootless_podman_service() {
    install -d -m 0700 -o "$RUID" -g "$RGID" "$RRUN/podman"
    podman_service rootless "$RRUN/podman/podman.sock" "podman-service-rootless$SFX" "$REPO/hack/as-rootless.sh" podman
}

# podman_service LABEL SOCKET NAME PODMAN-CMD...: `podman system service` on
# SOCKET unless it answers already; NAME names its pid file and log.
podman_service() {
    local label=$1 sock=$2 name=$3; shift 3
    local pidf=$STATEDIR/$name.pid log=$LOGDIR/$name.log
    ping_podman() { curl -fsS --max-time 2 --unix-socket "$sock" http://d/_ping; }
    if ping_podman >/dev/null 2>&1; then
        say "podman service ($label)" "skip (answers on unix://$sock)"
        return
    fi
    local t0=$SECONDS
    if ! pid_alive "$pidf"; then
        setsid "$@" system service --time=0 "unix://$sock" >>"$log" 2>&1 </dev/null &
        echo $! >"$pidf"
    fi
    wait_for 30 ping_podman || { tail -n 20 "$log" >&2; die "podman system service did not answer on $sock"; }
    say "podman service ($label)" "started ($((SECONDS - t0)) s, unix://$sock)"
}
