#!/usr/bin/env bash
# setup-host.sh: install and start every container engine kindlike runs on, on
# a Debian 12 machine without systemd (as root). Idempotent: a re-run on a
# machine that is already set up only checks and takes a few seconds.
#
# usage: hack/setup-host.sh [--rootful-docker] [--rootful-podman]
#                           [--rootless-docker] [--rootless-podman]
#                           [--rootless-podman-service] [--venv] [--all]
#                           [--verify] [--probe-systemd]
#
#   (no engine flag)           = --all
#   --all                      all four engines + --venv (not the Podman service)
#   --rootful-docker           dockerd (runtime wrapper runc-dropcaps as default)
#   --rootful-podman           /etc/containers/containers.conf
#   --rootless-docker          user kindlike + dockerd-rootless.sh,
#                              socket unix:///run/user/UID/docker.sock
#   --rootless-podman          user kindlike + its Podman config
#   --rootless-podman-service  also start `podman system service` as the user,
#                              socket unix:///run/user/UID/podman/podman.sock
#   --venv                     /opt/kindlike/venv with this repo (hack/install-venv.sh)
#   --verify                   re-run the `run --rm --privileged` checks even
#                              when nothing changed since they last passed
#   --probe-systemd            build kindlike/test-systemd:probe (base + systemd)
#                              in each selected engine, boot it as a node
#                              (/sbin/init) and wait for systemctl
#                              is-system-running = running|degraded; the probe
#                              image is removed afterwards (needs Debian's mirror)
#
# Each selected engine also gets the base image kindlike/base:bookworm
# (images/base/build.sh). Logs: /var/log/kindlike/. Run a command as the
# rootless user with hack/as-rootless.sh CMD ARGS...
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RUSER=${KINDLIKE_ROOTLESS_USER:-kindlike}
export KINDLIKE_ROOTLESS_USER=$RUSER
LIBEXEC=/usr/local/libexec/kindlike
WRAPPER=$LIBEXEC/runc-dropcaps
RUNTIME_NAME=runc-dropcaps
LOGDIR=/var/log/kindlike
STATEDIR=/var/lib/kindlike
BASE_IMAGE=kindlike/base:bookworm
PROBE_IMAGE=kindlike/test-systemd:probe
ROOTFUL_DOCKER_HOST=unix:///var/run/docker.sock
SFX=""                      # state/log name suffix for a non-default rootless user
[[ $RUSER == kindlike ]] || SFX="-$RUSER"
PACKAGES=(
    docker.io containerd runc tini iptables uidmap rootlesskit slirp4netns fuse-overlayfs
    podman crun conmon catatonit netavark aardvark-dns golang-github-containers-common
    debootstrap debian-archive-keyring gpgv jq python3 python3-venv
    iproute2 socat curl ca-certificates xz-utils git procps
)

T_START=$SECONDS
say() { printf '[setup-host] %-28s %s\n' "$1:" "$2"; }
die() { echo "[setup-host] ERROR: $*" >&2; exit 1; }
usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }

# ---------------------------------------------------------------- arguments
do_rf_docker=0 do_rf_podman=0 do_rl_docker=0 do_rl_podman=0 do_rl_service=0 do_venv=0
verify=0 probe=0 any=0
for a in "$@"; do
    case "$a" in
        --rootful-docker) do_rf_docker=1 any=1 ;;
        --rootful-podman) do_rf_podman=1 any=1 ;;
        --rootless-docker) do_rl_docker=1 any=1 ;;
        --rootless-podman) do_rl_podman=1 any=1 ;;
        --rootless-podman-service) do_rl_podman=1 do_rl_service=1 any=1 ;;
        --venv) do_venv=1 any=1 ;;
        --all) do_rf_docker=1 do_rf_podman=1 do_rl_docker=1 do_rl_podman=1 do_venv=1 any=1 ;;
        --verify) verify=1 ;;
        --probe-systemd) probe=1 ;;
        -h | --help) usage; exit 0 ;;
        *) usage >&2; die "unknown argument: $a" ;;
    esac
done
if ((!any)); then do_rf_docker=1 do_rf_podman=1 do_rl_docker=1 do_rl_podman=1 do_venv=1; fi
rootless=$((do_rl_docker || do_rl_podman))

[[ $(id -u) == 0 ]] || die "run as root"
[[ -r /etc/debian_version ]] || die "this script supports Debian 12 (bookworm) only"
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
umask 022
install -d -m 0755 "$LOGDIR" "$STATEDIR"

# ---------------------------------------------------------------- helpers
# wait_for SECONDS CMD...: retry CMD every 0.2 s until it succeeds.
wait_for() {
    local deadline=$((SECONDS + $1)); shift
    until "$@" >/dev/null 2>&1; do
        ((SECONDS < deadline)) || return 1
        sleep 0.2
    done
}

# pid_alive PIDFILE [COMM]: the pid in PIDFILE runs (and is named COMM).
pid_alive() {
    local pid
    [[ -s $1 ]] || return 1
    pid=$(<"$1")
    [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null || return 1
    # a zombie is not alive (PID 1 may reap late)
    [[ $(sed -n 's/^State:[[:space:]]*\([A-Z]\).*/\1/p' "/proc/$pid/status" 2>/dev/null) != Z ]] || return 1
    [[ -z ${2:-} || $(cat "/proc/$pid/comm" 2>/dev/null) == "$2" ]]
}

# toml_set FILE OWNER SECTION KEY VALUE [SECTION KEY VALUE ...]: set keys (VALUE
# is TOML text) in FILE, keeping everything else in it. Prints changed|unchanged.
toml_set() {
    local file=$1 owner=$2; shift 2
    python3 - "$file" "$owner" "$@" <<'PY'
import os, re, sys, tomllib
path, owner, rest = sys.argv[1], sys.argv[2], sys.argv[3:]
triples = [rest[i:i + 3] for i in range(0, len(rest), 3)]
old = open(path).read() if os.path.exists(path) else ""
lines = old.splitlines()
hdr = re.compile(r'^\s*\[([^\[\]]+)\]\s*(#.*)?$')

def section_range(name):
    start = None
    for i, l in enumerate(lines):
        m = hdr.match(l)
        if m and start is None and m.group(1).strip() == name:
            start = i
        elif start is not None and re.match(r'^\s*\[', l):
            return start, i
    return (start, len(lines)) if start is not None else (None, None)

def value_end(i):
    # a value may span lines (arrays): extend until brackets balance
    depth, j = 0, i
    while j < len(lines):
        s = re.sub(r'"(\\.|[^"\\])*"|\'[^\']*\'', '""', lines[j])
        s = s.split('#', 1)[0]
        depth += s.count('[') - s.count(']')
        if depth <= 0:
            return j
        j += 1
    return len(lines) - 1

for sec, key, val in triples:
    new = f"{key} = {val}"
    start, end = section_range(sec)
    if start is None:
        if lines and lines[-1].strip():
            lines.append("")
        lines += [f"[{sec}]", new]
        continue
    keyre = re.compile(r'^\s*' + re.escape(key) + r'\s*=')
    for i in range(start + 1, end):
        if keyre.match(lines[i]):
            j = value_end(i)
            lines[i:j + 1] = [new]
            break
    else:
        at = start + 1      # after the section's last non-blank line
        for i in range(start + 1, end):
            if lines[i].strip():
                at = i + 1
        lines.insert(at, new)

text = "\n".join(lines) + "\n"
doc = tomllib.loads(text)          # refuse to write something that does not parse
for sec, key, val in triples:
    want = tomllib.loads(f"v = {val}")["v"]
    if doc.get(sec, {}).get(key) != want:
        sys.exit(f"toml_set: {path}: could not set [{sec}] {key}")
if text == old:
    print("unchanged")
    sys.exit(0)
os.makedirs(os.path.dirname(path), exist_ok=True)
tmp = path + ".tmp"
with open(tmp, "w") as f:
    f.write(text)
if owner:
    uid, gid = (int(x) for x in owner.split(":"))
    os.chown(tmp, uid, gid)
os.chmod(tmp, 0o644)
os.replace(tmp, path)
print("changed")
PY
}

# verified NAME FINGERPRINT: a check NAME already passed with this fingerprint.
verified() { ((!verify)) && [[ -f $STATEDIR/verified-$1 && $(<"$STATEDIR/verified-$1") == "$2" ]]; }
mark_verified() { echo "$2" >"$STATEDIR/verified-$1"; }

# ---------------------------------------------------------------- 1. packages
install_packages() {
    local missing=() p status
    local -A ok=()
    while read -r p status; do
        [[ $status == "install ok installed" ]] && ok[$p]=1
    done < <(dpkg-query -W -f='${Package} ${Status}\n' "${PACKAGES[@]}" 2>/dev/null || true)
    for p in "${PACKAGES[@]}"; do
        [[ -n ${ok[$p]:-} ]] || missing+=("$p")
    done
    if ((${#missing[@]} == 0)); then
        say packages "skip (all ${#PACKAGES[@]} installed)"
        return
    fi
    local t0=$SECONDS
    export DEBIAN_FRONTEND=noninteractive
    # Do not let package scripts start daemons (no init system here; we start
    # the engines ourselves with our configuration).
    local policy=/usr/sbin/policy-rc.d own_policy=0
    if [[ ! -e $policy ]]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy"; chmod 0755 "$policy"; own_policy=1
    fi
    # apt-get update only when the package lists are missing or older than 6 h,
    # or when an install from the current lists fails.
    local fresh
    fresh=$(find /var/lib/apt/lists -maxdepth 1 -name '*_Packages*' -mmin -360 2>/dev/null | head -n1)
    if [[ -z $fresh ]]; then
        apt-get update -qq >"$LOGDIR/apt.log" 2>&1 || { ((own_policy)) && rm -f "$policy"; tail -n 20 "$LOGDIR/apt.log" >&2; die "apt-get update failed"; }
    fi
    if ! apt-get install -y -qq --no-install-recommends "${missing[@]}" >>"$LOGDIR/apt.log" 2>&1; then
        apt-get update -qq >>"$LOGDIR/apt.log" 2>&1 &&
            apt-get install -y -qq --no-install-recommends "${missing[@]}" >>"$LOGDIR/apt.log" 2>&1 ||
            { ((own_policy)) && rm -f "$policy"; tail -n 20 "$LOGDIR/apt.log" >&2; die "apt-get install failed (log: $LOGDIR/apt.log)"; }
    fi
    ((own_policy)) && rm -f "$policy"
    say packages "installed ${#missing[@]} ($((SECONDS - t0)) s): ${missing[*]}"
}

# ---------------------------------------------------------------- base image
base_image() { # base_image ENGINE-LABEL build.sh-args...
    local label=$1; shift
    local out
    out=$("$REPO/images/base/build.sh" "$@" 2>&1) || { echo "$out" >&2; die "base image for $label failed"; }
    case "$out" in
        *": skip"*) say "base image ($label)" "skip (present)" ;;
        *) say "base image ($label)" "imported"; printf '%s\n' "$out" | grep -v ': imported' | sed 's/^/    /' || true ;;
    esac
}

# ---------------------------------------------------------------- 2. rootful Docker
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
    if verified rootful-docker "$fp"; then
        say "check (rootful docker)" "skip (passed before, nothing changed)"
    else
        docker_rf run --rm --privileged "$BASE_IMAGE" true ||
            die "rootful docker: 'docker run --rm --privileged $BASE_IMAGE true' failed"
        mark_verified rootful-docker "$fp"
        say "check (rootful docker)" "ok (run --rm --privileged)"
    fi
}

# ---------------------------------------------------------------- 3. rootful Podman
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
    if verified rootful-podman "$fp"; then
        say "check (rootful podman)" "skip (passed before, nothing changed)"
    else
        podman run --rm --privileged "$BASE_IMAGE" true ||
            die "rootful podman: 'podman run --rm --privileged $BASE_IMAGE true' failed"
        mark_verified rootful-podman "$fp"
        say "check (rootful podman)" "ok (run --rm --privileged)"
    fi
}

# ---------------------------------------------------------------- 4. rootless user
RUID='' RGID='' RHOME='' RRUN=''
setup_rootless_user() {
    if getent passwd "$RUSER" >/dev/null; then
        say "user $RUSER" "skip (exists, uid $(id -u "$RUSER"))"
    else
        useradd -m -s /bin/bash "$RUSER"
        say "user $RUSER" "created (uid $(id -u "$RUSER"))"
    fi
    RUID=$(id -u "$RUSER"); RGID=$(id -g "$RUSER"); RHOME=$(getent passwd "$RUSER" | cut -d: -f6)
    RRUN=/run/user/$RUID

    # subordinate ids: at least 65536 of each
    local f kind
    for f in /etc/subuid /etc/subgid; do
        kind=${f#/etc/sub}
        if awk -F: -v u="$RUSER" -v id="$RUID" '($1==u || $1==id) && $3>=65536 {ok=1} END {exit !ok}' "$f" 2>/dev/null; then
            say "$f" "skip ($RUSER has a range)"
        else
            local start
            start=$(awk -F: 'BEGIN {m=100000} {e=$2+$3; if (e>m) m=e} END {print m}' "$f" 2>/dev/null || echo 100000)
            if [[ $kind == uid ]]; then
                usermod --add-subuids "$start-$((start + 65535))" "$RUSER"
            else
                usermod --add-subgids "$start-$((start + 65535))" "$RUSER"
            fi
            say "$f" "added $RUSER:$start:65536"
        fi
    done

    local dev changed=()
    for dev in /dev/net/tun /dev/fuse; do
        [[ -e $dev ]] || die "$dev does not exist (kernel without tun/fuse?)"
        if [[ $(stat -c %a "$dev") != 666 ]]; then chmod 666 "$dev"; changed+=("$dev"); fi
    done
    if ((${#changed[@]})); then say "device modes" "chmod 666 ${changed[*]}"; else say "device modes" "skip (/dev/net/tun /dev/fuse are 666)"; fi

    if [[ -d $RRUN && $(stat -c '%u %a' "$RRUN") == "$RUID 700" ]]; then
        say "$RRUN" "skip (exists)"
    else
        install -d -m 0755 /run/user
        install -d -m 0700 -o "$RUID" -g "$RGID" "$RRUN"
        say "$RRUN" "created (0700, $RUSER)"
    fi

    if [[ $(findmnt -no PROPAGATION /) == shared ]]; then
        say "mount propagation /" "skip (shared)"
    else
        mount --make-rshared /
        say "mount propagation /" "made rshared"
    fi

    local r
    r=$("$REPO/hack/as-rootless.sh" --delegate) || die "cgroup delegation failed"
    if [[ $r == unchanged ]]; then
        say "cgroup v1 delegation" "skip ($RUSER-rootless dirs owned by $RUSER)"
    else
        say "cgroup v1 delegation" "done ($("$REPO/hack/as-rootless.sh" --cgroup-dirs | wc -l) hierarchies, <ctrl>/$RUSER-rootless owned by $RUSER)"
    fi
}

as_user() { "$REPO/hack/as-rootless.sh" "$@"; }

# ---------------------------------------------------------------- 5. rootless Docker
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
    if verified "rootless-docker$SFX" "$fp"; then
        say "check (rootless docker)" "skip (passed before, nothing changed)"
    else
        docker_rl run --rm --privileged "$BASE_IMAGE" true ||
            die "rootless docker: 'docker run --rm --privileged $BASE_IMAGE true' failed"
        mark_verified "rootless-docker$SFX" "$fp"
        say "check (rootless docker)" "ok (run --rm --privileged)"
    fi
}

# ---------------------------------------------------------------- 6. rootless Podman
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
    if verified "rootless-podman$SFX" "$fp"; then
        say "check (rootless podman)" "skip (passed before, nothing changed)"
    else
        as_user podman run --rm --privileged "$BASE_IMAGE" true ||
            die "rootless podman: 'hack/as-rootless.sh podman run --rm --privileged $BASE_IMAGE true' failed"
        local info
        info=$(as_user podman info --format '{{.Host.Security.Rootless}} {{.Host.OCIRuntime.Name}} {{.Store.GraphDriverName}}')
        [[ $info == "true runc overlay" ]] || die "rootless podman info says '$info', expected 'true runc overlay'"
        mark_verified "rootless-podman$SFX" "$fp"
        say "check (rootless podman)" "ok (run --rm --privileged; rootless, runc, overlay)"
    fi
}

setup_rootless_podman_service() {
    local sock=$RRUN/podman/podman.sock pidf=$STATEDIR/podman-service$SFX.pid
    ping_podman() { curl -fsS --max-time 2 --unix-socket "$sock" http://d/_ping; }
    if ping_podman >/dev/null 2>&1; then
        say "podman service (rootless)" "skip (answers on unix://$sock)"
        return
    fi
    local t0=$SECONDS
    if ! pid_alive "$pidf"; then
        install -d -m 0700 -o "$RUID" -g "$RGID" "$RRUN/podman"
        setsid "$REPO/hack/as-rootless.sh" podman system service --time=0 "unix://$sock" \
            >>"$LOGDIR/podman-service-rootless$SFX.log" 2>&1 </dev/null &
        echo $! >"$pidf"
    fi
    wait_for 30 ping_podman ||
        { tail -n 20 "$LOGDIR/podman-service-rootless$SFX.log" >&2; die "podman system service did not answer on $sock"; }
    say "podman service (rootless)" "started ($((SECONDS - t0)) s, unix://$sock)"
}

# ---------------------------------------------------------------- probe: systemd in a node
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

# ---------------------------------------------------------------- main
install_packages
if ((do_rf_docker)); then setup_rootful_docker; fi
if ((do_rf_podman)); then setup_rootful_podman; fi
if ((rootless)); then
    setup_rootless_user
    if ((do_rl_docker)); then setup_rootless_docker; fi
    if ((do_rl_podman)); then setup_rootless_podman; fi
    if ((do_rl_service)); then setup_rootless_podman_service; fi
fi
if ((do_venv)); then
    out=$("$REPO/hack/install-venv.sh" 2>&1) || { echo "$out" >&2; die "hack/install-venv.sh failed"; }
    if [[ $out == *"kindlike in"*": skip"* ]]; then say "venv /opt/kindlike/venv" "skip (up to date)"; else say "venv /opt/kindlike/venv" "installed"; fi
fi
if ((probe)); then
    if ((do_rf_docker)); then probe_systemd rootful-docker docker -H "$ROOTFUL_DOCKER_HOST"; fi
    if ((do_rf_podman)); then probe_systemd rootful-podman podman; fi
    if ((do_rl_docker)); then probe_systemd rootless-docker "$REPO/hack/as-rootless.sh" docker; fi
    if ((do_rl_podman)); then probe_systemd rootless-podman "$REPO/hack/as-rootless.sh" podman; fi
fi
say done "$((SECONDS - T_START)) s"
