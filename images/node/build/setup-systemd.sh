#!/usr/bin/env bash
# setup-systemd.sh (image build time): make systemd boot quietly as PID 1 of a
# node container: nothing that needs real hardware, a console, udev, audit or
# timers, and the node's own services enabled. Run by the offline flavour's
# Dockerfile (kindest/node already is set up this way).
set -euo pipefail

# Units that cannot work (or are pointless) in a container.
mask=(
    getty.target console-getty.service
    systemd-udevd.service systemd-udev-trigger.service systemd-udev-settle.service
    systemd-journald-audit.socket systemd-firstboot.service systemd-modules-load.service
    systemd-remount-fs.service systemd-update-utmp.service systemd-update-utmp-runlevel.service
    proc-sys-fs-binfmt_misc.automount proc-sys-fs-binfmt_misc.mount
    sys-kernel-debug.mount sys-kernel-tracing.mount sys-kernel-config.mount
    sys-fs-fuse-connections.mount dev-hugepages.mount
    apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer e2scrub_reap.service
    fstrim.timer dpkg-db-backup.timer
)
for u in "${mask[@]}"; do
    ln -sf /dev/null "/etc/systemd/system/$u"
done

systemctl set-default multi-user.target >/dev/null
for u in containerd.service kubelet.service kindlike-flannel-offload.service; do
    if [[ -e /etc/systemd/system/$u || -e /lib/systemd/system/$u ]]; then
        systemctl enable "$u" >/dev/null 2>&1
    fi
done

# One machine-id per node: empty here, made at first boot by the entrypoint.
: >/etc/machine-id
mkdir -p /var/lib/dbus
ln -sf /etc/machine-id /var/lib/dbus/machine-id
