# shellcheck shell=bash
# hack/setup-host.sh, rootful Docker (with the runc-dropcaps runtime) and rootless
# Docker (dockerd-rootless.sh as the rootless user). Sourced: uses the variables and helpers of
# setup/common.sh.

docker_rf() { docker -H "$ROOTFUL_DOCKER_HOST" "$@"; }

setup_rootful_docker() {
    local changed=0
    # runtime wrapper
    if cmp -s "$REPO/hack/runc-dropcaps" "$WRAPPER"; then
        say "runc-dropcaps wrapper" "skip (up to date: $WRAPPER)"
    else
        install -D -m 0755 "$REPO/hack/runc-dropcaps" "$WRAPPER"
        say "runc-dropcaps wrapper" "installed $WRAPPER"
        changed=1
    fi
    # daemon.json: add our runtime and make it the default, keep the rest
    local cfg=/etc/docker/daemon.json cur new
    install -d -m 0755 /etc/docker
    cur='{}'
    if [[ -s $cfg ]]; then cur=$(jq -S . "$cfg") || die "$cfg is not valid JSON; fix or remove it"; fi
    new=$(jq -S --arg n "$RUNTIME_NAME" --arg p "$WRAPPER" \
        '.runtimes[$n] = {"path": $p} | ."default-runtime" = $n' <<<"$cur")
    if [[ -s $cfg && $new == "$cur" ]]; then
        say "/etc/docker/daemon.json" "skip (runtime $RUNTIME_NAME is the default)"
    else
        printf '%s\n' "$new" >"$cfg.tmp" && mv -f "$cfg.tmp" "$cfg"
        say "/etc/docker/daemon.json" "written (default-runtime $RUNTIME_NAME)"
        changed=1
    fi
    # dockerd
    if pid_alive /var/run/docker.pid dockerd; then
        if ((changed)); then
            kill -HUP "$(</var/run/docker.pid)"
            sleep 0.5
        fi
        wait_for 30 docker_rf info || die "dockerd (pid $(</var/run/docker.pid)) does not answer on $ROOTFUL_DOCKER_HOST"
        local rt
        rt=$(docker_rf info --format '{{.DefaultRuntime}}' 2>/dev/null)
        [[ $rt == "$RUNTIME_NAME" ]] || die "dockerd runs with default runtime '$rt', not $RUNTIME_NAME; stop it (kill $(</var/run/docker.pid)) and re-run"
        if ((changed)); then say dockerd "reloaded (SIGHUP)"; else say dockerd "skip (running, pid $(</var/run/docker.pid))"; fi
    else
        local t0=$SECONDS
        setsid dockerd >>"$LOGDIR/dockerd.log" 2>&1 </dev/null &
        wait_for 60 docker_rf info || { tail -n 20 "$LOGDIR/dockerd.log" >&2; die "dockerd did not come up (log: $LOGDIR/dockerd.log)"; }
        say dockerd "started ($((SECONDS - t0)) s, log $LOGDIR/dockerd.log)"
    fi
    local rt
    rt=$(docker_rf info --format '{{.DefaultRuntime}}')
    [[ $rt == "$RUNTIME_NAME" ]] || die "dockerd default runtime is '$rt', expected $RUNTIME_NAME"

    DOCKER_HOST=$ROOTFUL_DOCKER_HOST base_image "rootful docker" docker
    local fp
    fp="$(<"/var/run/docker.pid") $(sha256sum <"$WRAPPER" | cut -c1-16) $(docker_rf image inspect -f '{{.Id}}' "$BASE_IMAGE")"
    privileged_check "rootful docker" rootful-docker "$fp" true docker_rf
}

setup_rootless_docker() {
    local sock=$RRUN/docker.sock pidf=$STATEDIR/dockerd-rootless$SFX.pid
    local script=/usr/share/docker.io/contrib/dockerd-rootless.sh
    [[ -x $script ]] || die "$script not found (package docker.io)"
    docker_rl() { docker -H "unix://$RRUN/docker.sock" "$@"; }
    if docker_rl info >/dev/null 2>&1; then
        say "dockerd (rootless)" "skip (answers on unix://$sock)"
    else
        local t0=$SECONDS
        if pid_alive "$pidf"; then
            say "dockerd (rootless)" "waiting for pid $(<"$pidf") to answer"
        else
            # leftovers of a daemon that died: rootlesskit refuses a stale state dir
            if [[ -d $RRUN/dockerd-rootless ]] && ! pgrep -u "$RUID" -x rootlesskit >/dev/null; then
                rm -rf "$RRUN/dockerd-rootless" "$RRUN/docker.pid" "$sock"
            fi
            setsid "$REPO/hack/as-rootless.sh" "$script" >>"$LOGDIR/dockerd-rootless$SFX.log" 2>&1 </dev/null &
            echo $! >"$pidf"
        fi
        wait_for 90 docker_rl info ||
            { tail -n 20 "$LOGDIR/dockerd-rootless$SFX.log" >&2; die "rootless dockerd did not come up (log: $LOGDIR/dockerd-rootless$SFX.log)"; }
        say "dockerd (rootless)" "started ($((SECONDS - t0)) s, unix://$sock, log $LOGDIR/dockerd-rootless$SFX.log)"
    fi
    docker_rl info --format '{{.SecurityOptions}}' | grep -q rootless ||
        die "the daemon on unix://$sock is not rootless"
    base_image "rootless docker" --as-rootless docker
    local fp
    fp="$(pgrep -u "$RUID" -x dockerd | head -n1) $(docker_rl image inspect -f '{{.Id}}' "$BASE_IMAGE")"
    privileged_check "rootless docker" "rootless-docker$SFX" "$fp" true docker_rl
}
