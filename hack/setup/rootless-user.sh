# shellcheck shell=bash
# hack/setup-host.sh, the rootless user: account, subordinate ids, devices,
# runtime directory, mount propagation and cgroup delegation. Sourced: uses the variables and helpers of
# setup/common.sh.

RUID='' RGID='' RHOME='' RRUN=''
setup_rootless_user() {
    if getent passwd "$RUSER" >/dev/null; then
        say "user $RUSER" "skip (exists, uid $(id -u "$RUSER"))"
    else
        useradd -m -s /bin/bash "$RUSER"
        say "user $RUSER" "created (uid $(id -u "$RUSER"))"
    fi
    RUID=$(id -u "$RUSER"); RGID=$(id -g "$RUSER")
    # shellcheck disable=SC2034  # podman.sh writes the user's config there
    RHOME=$(getent passwd "$RUSER" | cut -d: -f6)
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
