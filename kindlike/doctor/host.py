"""The thin layer that reads the real host for the checks in checks.py.

KINDLIKE_DOCTOR_ROOT=DIR makes every host file the checks read (/etc/subuid,
/etc/subgid, /proc/sys/..., /dev/net/tun, /dev/fuse, /sys/fs/cgroup/...,
/etc/containers/...) come from DIR/<path> when that exists, else from the
real path. Tests use it to show a failure path without breaking the host
(e.g. an /etc/subuid without the user's range); the code that reads and
decides is the same.
"""
from __future__ import annotations

import grp
import os
import pwd
import resource
import shutil
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path

from kindlike.config import load_config
from kindlike.doctor import checks as c

ROOT_ENV = "KINDLIKE_DOCTOR_ROOT"
V1_INTERESTING = ("cpu", "cpuset", "blkio", "memory", "pids", "name=systemd")
DOCKER_ROOTLESS_SCRIPT = "/usr/share/docker.io/contrib/dockerd-rootless.sh"


class HostFiles:
    """Host file access with the KINDLIKE_DOCTOR_ROOT override."""

    def __init__(self, root: str | None = None):
        self.root = os.environ.get(ROOT_ENV, "") if root is None else root

    def path(self, p: str) -> str:
        if self.root:
            alt = os.path.join(self.root, p.lstrip("/"))
            if os.path.lexists(alt):
                return alt
        return p

    def read(self, p: str) -> str | None:
        try:
            with open(self.path(p), encoding="utf-8", errors="replace") as f:
                return f.read()
        except OSError:
            return None

    def sysctl(self, key: str) -> str | None:
        v = self.read("/proc/sys/" + key.replace(".", "/"))
        return v.strip() if v is not None else None

    def stat(self, p: str) -> os.stat_result | None:
        try:
            return os.stat(self.path(p))
        except OSError:
            return None


@dataclass(frozen=True)
class User:
    uid: int
    gid: int
    name: str
    group: str
    gids: tuple[int, ...]
    home: str

    @classmethod
    def from_uid(cls, uid: int) -> "User":
        try:
            pw = pwd.getpwuid(uid)
        except KeyError:
            return cls(uid, uid, str(uid), str(uid), (uid,), "/")
        try:
            group = grp.getgrgid(pw.pw_gid).gr_name
        except KeyError:
            group = str(pw.pw_gid)
        try:
            gids = tuple(os.getgrouplist(pw.pw_name, pw.pw_gid))
        except OSError:
            gids = (pw.pw_gid,)
        return cls(uid, pw.pw_gid, pw.pw_name, group, gids, pw.pw_dir)


def engine_user(info) -> User:
    """Whose host settings matter: a rootless engine's owner (the owner of its
    unix socket, which may not be the caller: root can talk to a user's
    rootless engine), else the caller."""
    uid = os.getuid()
    endpoint = getattr(info, "endpoint", "") or ""
    if info is not None and info.rootless and endpoint.startswith("unix://"):
        try:
            uid = os.stat(endpoint[len("unix://"):]).st_uid
        except OSError:
            pass
    return User.from_uid(uid)


def _owned_dir(path: str, uid: int) -> bool:
    try:
        st = os.stat(path)
    except OSError:
        return False
    return stat.S_ISDIR(st.st_mode) and st.st_uid == uid


def v1_owned_dirs(files: HostFiles, mounts, proc_cgroup: str, uid: int) -> dict[str, str]:
    """controller -> a directory in that v1 hierarchy owned by uid: the
    caller's own cgroup when the user owns it, else one found at most two
    levels below the hierarchy's root."""
    own: dict[frozenset, str] = {}
    for line in proc_cgroup.splitlines():
        parts = line.split(":", 2)
        if len(parts) == 3 and parts[1]:
            own[frozenset(parts[1].split(","))] = parts[2]
    found: dict[str, str] = {}
    if uid == 0:
        return found
    for mnt, fstype, ctrls in mounts:
        if fstype != "cgroup":
            continue
        keys = [k for k in V1_INTERESTING if k in ctrls]
        if not keys:
            continue
        base = files.path(mnt)
        candidates = []
        if ctrls in own:
            candidates.append(os.path.join(base, own[ctrls].lstrip("/")))
        try:
            for d1 in sorted(os.scandir(base), key=lambda e: e.name):
                if not d1.is_dir(follow_symlinks=False):
                    continue
                candidates.append(d1.path)
                try:
                    candidates.extend(sorted(e.path for e in os.scandir(d1.path) if e.is_dir(follow_symlinks=False)))
                except OSError:
                    pass
        except OSError:
            pass
        hit = next((d for d in candidates if _owned_dir(d, uid)), None)
        if hit:
            shown = mnt + hit[len(base):] if hit.startswith(base) else hit
            for k in keys:
                found[k] = shown
    return found


def v2_delegated(files: HostFiles, mounts, proc_cgroup: str, uid: int) -> tuple[list[str] | None, str]:
    """(controllers, path of the cgroup.controllers read) of the cgroup v2
    subtree delegated to uid: systemd's user@UID.service, else the caller's
    own cgroup when uid owns it; (None, "") when there is none."""
    mnt = next((m for m, t, _ in mounts if t == "cgroup2"), "/sys/fs/cgroup")
    # (directory, must the user own it?): systemd's user@UID.service is the
    # delegated subtree by definition; the caller's own cgroup only if owned.
    candidates = [(f"{mnt}/user.slice/user-{uid}.slice/user@{uid}.service", False)]
    for line in proc_cgroup.splitlines():
        if line.startswith("0::"):
            candidates.append(((mnt + "/" + line[3:].strip().lstrip("/")).rstrip("/"), True))
    for d, must_own in candidates:
        st = files.stat(d)
        if st is None or (must_own and st.st_uid != uid):
            continue
        text = files.read(d + "/cgroup.controllers")
        if text is not None:
            return text.split(), d + "/cgroup.controllers"
    return None, ""


def _tool(name: str) -> c.ToolInfo:
    path = shutil.which(name) or next((p for p in (f"/usr/bin/{name}", f"/bin/{name}") if os.path.exists(p)), None)
    if not path:
        return c.ToolInfo(name, None)
    try:
        st = os.stat(path)
    except OSError:
        return c.ToolInfo(name, None)
    setuid_root = bool(st.st_mode & stat.S_ISUID) and st.st_uid == 0
    try:
        caps = bool(os.getxattr(path, "security.capability"))
    except OSError:
        caps = False
    return c.ToolInfo(name, path, setuid_root, caps)


def _loginctl(user: str) -> tuple[int | None, str]:
    exe = shutil.which("loginctl")
    if not exe:
        return None, ""
    try:
        res = subprocess.run([exe, "show-user", user, "--property=State", "--property=Linger"],
                             capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired) as e:
        return 1, str(e)
    return res.returncode, (res.stdout if res.returncode == 0 else (res.stderr or res.stdout))


def podman_confs(files: HostFiles, user: User, *, rootless: bool) -> tuple[list[tuple[str, str]], str]:
    """containers.conf files in increasing precedence and the file a fix
    should edit (the user's own under rootless, /etc's under rootful)."""
    override = os.environ.get("CONTAINERS_CONF") if user.uid == os.getuid() else None
    if override:
        text = files.read(override)
        return ([(override, text)] if text is not None else []), override
    paths = ["/usr/share/containers/containers.conf", "/etc/containers/containers.conf"]
    paths += _conf_d(files, "/etc/containers/containers.conf.d")
    target = "/etc/containers/containers.conf"
    if rootless:
        user_conf = f"{user.home}/.config/containers/containers.conf"
        paths += [user_conf] + _conf_d(files, f"{user.home}/.config/containers/containers.conf.d")
        target = user_conf
    out = [(p, t) for p in paths if (t := files.read(p)) is not None]
    return out, target


def _conf_d(files: HostFiles, d: str) -> list[str]:
    try:
        return sorted(str(p) for p in Path(files.path(d)).glob("*.conf"))
    except OSError:
        return []


def systemd_running(files: HostFiles) -> bool:
    return os.path.isdir(files.path("/run/systemd/system"))


def engine_fix_for_host(files: HostFiles, provider: str | None) -> str:
    script = shutil.which("dockerd-rootless.sh") or (DOCKER_ROOTLESS_SCRIPT if os.path.exists(DOCKER_ROOTLESS_SCRIPT)
                                                      else "")
    return c.engine_fix(provider, os.getuid(), systemd=systemd_running(files), have_dockerd=bool(shutil.which("dockerd")),
                        have_podman=bool(shutil.which("podman")), docker_host=os.environ.get("DOCKER_HOST", ""),
                        rootless_script=script, apt=bool(shutil.which("apt-get")))


def host_checks(info, *, cluster_cfg=None, allow_no_limits: bool = False, files: HostFiles | None = None,
                engine_name: str | None = None, user: User | None = None) -> tuple[list[c.Check], dict]:
    """Every host check (not the engine and probe lines), for the engine
    described by `info` (None: no engine; then a non-root caller is assumed to
    want a rootless one) and its user (default: engine_user(info)). Returns
    the checks and context the caller reuses."""
    files = files or HostFiles()
    user = user or engine_user(info)
    rootless = info.rootless if info is not None else os.getuid() != 0
    mountinfo = files.read("/proc/self/mountinfo") or ""
    proc_cgroup = files.read("/proc/self/cgroup") or ""
    mounts = c.parse_cgroup_mounts(mountinfo)
    layout = c.cgroup_layout(mounts)
    systemd = systemd_running(files)
    out: list[c.Check] = [c.check_cgroup_version(layout, rootless)]

    v2_ctrls, v2_path, v1_owned = None, "", {}
    if rootless:
        if layout == "v2":
            v2_ctrls, v2_path = v2_delegated(files, mounts, proc_cgroup, user.uid)
        elif layout in ("v1", "hybrid"):
            v1_owned = v1_owned_dirs(files, mounts, proc_cgroup, user.uid)
    out.append(c.check_cgroup_delegation(rootless=rootless, layout=layout, user=user.name, v2_controllers=v2_ctrls,
                                         v2_path=v2_path, v1_owned=v1_owned, allow_no_limits=allow_no_limits,
                                         systemd=systemd))

    init = (files.read("/proc/1/comm") or "").strip()
    rc, text = _loginctl(user.name) if systemd else (None, "")
    out.append(c.check_systemd_session(rootless=rootless, systemd=systemd, init=init, user=user.name,
                                       loginctl_rc=rc, loginctl_out=text))

    xdg = os.environ.get("XDG_RUNTIME_DIR", "") if user.uid == os.getuid() else f"/run/user/{user.uid}"
    st = files.stat(xdg) if xdg else files.stat(f"/run/user/{user.uid}")
    out.append(c.check_xdg_runtime_dir(rootless=rootless, uid=user.uid, user=user.name, group=user.group, path=xdg,
                                       exists=st is not None, owner=st.st_uid if st else None,
                                       mode=st.st_mode if st else None))

    for kind in ("subuid", "subgid"):
        out.append(c.check_subid(kind, rootless=rootless, text=files.read(f"/etc/{kind}"), user=user.name,
                                 uid=user.uid))
    out.append(c.check_idmap_tools([_tool("newuidmap"), _tool("newgidmap")], rootless=rootless))
    out.append(c.check_user_namespaces(rootless=rootless, max_user_namespaces=files.sysctl("user.max_user_namespaces"),
                                       unprivileged_userns_clone=files.sysctl("kernel.unprivileged_userns_clone"),
                                       apparmor_restrict=files.sysctl("kernel.apparmor_restrict_unprivileged_userns")))
    if cluster_cfg is None:
        cluster_cfg = load_config("").cluster
    out.append(c.check_unprivileged_ports(rootless=rootless, port_start=files.sysctl("net.ipv4.ip_unprivileged_port_start"),
                                          host_ports=c.host_ports_from_config(cluster_cfg)))
    out.append(c.check_ip_forward(files.sysctl("net.ipv4.ip_forward")))
    out.append(c.check_inotify(files.sysctl("fs.inotify.max_user_watches"), files.sysctl("fs.inotify.max_user_instances")))
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    inf = resource.RLIM_INFINITY
    out.append(c.check_nofile(-1 if soft == inf else soft, -1 if hard == inf else hard, user=user.name))

    kernel = (files.read("/proc/sys/kernel/osrelease") or os.uname().release).strip()
    native = (c.parse_kernel(kernel) or (0, 0)) >= c.NATIVE_OVERLAY_KERNEL
    for name, (path, *_rest) in c.DEVICES.items():
        st = files.stat(path)
        usable = st is not None and c.can_read_write(st.st_mode, st.st_uid, st.st_gid, user.uid, user.gids)
        out.append(c.check_device(name, rootless=rootless, user=user.name, exists=st is not None, usable=usable,
                                  mode=st.st_mode if st else None, kernel_native_overlay=native))
    out.append(c.check_overlayfs(rootless=rootless, kernel=kernel, fuse_overlayfs=shutil.which("fuse-overlayfs")))

    engine_name = info.name if info is not None else engine_name
    if engine_name == "podman":
        confs, target = podman_confs(files, user, rootless=rootless)
        target_text = files.read(target)
        out.append(c.check_podman_pids_limit(engine="podman", rootless=rootless, confs=confs,
                                             pids_enforced=bool(info.pids_limit) if info is not None else True,
                                             cgroup_manager=info.cgroup_driver if info is not None else "systemd",
                                             target=target, target_text=target_text))
    else:
        out.append(c.check_podman_pids_limit(engine=engine_name, rootless=rootless, confs=[], pids_enforced=False))
    if cluster_cfg.multi_host:
        modules = {m: files.stat(f"/sys/module/{m}") is not None for m in ("vxlan", "br_netfilter")}
        out.append(c.check_vxlan_host(modules, files.sysctl("net.ipv4.conf.all.rp_filter")))
    ctx = {"user": user, "rootless": rootless, "layout": layout, "systemd": systemd}
    return out, ctx
