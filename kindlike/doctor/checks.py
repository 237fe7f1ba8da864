"""The host checks as small pure functions.

Every function takes what the host layer (host.py) read - file contents,
sysctl values, stat results, the engine's facts - and returns one `Check`:
a status (ok, warn, fail), a one-line message, and the exact command that
fixes it. Nothing here touches the host, so each branch is unit-testable.

`fatal=True` marks the checks `create cluster` runs as its preflight: a
`fail` among them stops the create before anything is made.
"""
from __future__ import annotations

import dataclasses
import re
import tomllib
from dataclasses import dataclass
from typing import Iterable

from kindlike.cluster.versions import cgroup_v1_warning
from kindlike.nodeimage.components import DEFAULT_KUBERNETES

OK, WARN, FAIL = "ok", "warn", "fail"
STATUSES = (OK, WARN, FAIL)

# What kind and rootlesscontaine.rs recommend.
MIN_SUBIDS = 65536
INOTIFY_WATCHES = 524288
INOTIFY_INSTANCES = 512
MIN_NOFILE = 64000
NATIVE_OVERLAY_KERNEL = (5, 11)
# Controllers a rootless node needs delegated on cgroup v2 (kind's entrypoint
# refuses to start a kubelet without cpu: "UserNS: cpu controller needs to be
# delegated"); cpuset and io are wanted too (Usernetes' Delegate= line).
V2_REQUIRED = ("cpu", "memory", "pids")
V2_WANTED = ("cpu", "cpuset", "io", "memory", "pids")
ENV_ALLOW_NO_LIMITS = "KINDLIKE_ALLOW_NO_RESOURCE_LIMITS"
OPT_IN = f"--allow-no-resource-limits or {ENV_ALLOW_NO_LIMITS}=1"

ROOTFUL = "not needed by a rootful engine"

# The exact commands of the fixes that do not depend on what was read.
GRUB_CGROUP2_FIX = ("sudo sed -i 's/^GRUB_CMDLINE_LINUX=\"/&systemd.unified_cgroup_hierarchy=1 /' /etc/default/grub"
                    " && sudo update-grub && sudo reboot")
DELEGATE_FIX = ("sudo mkdir -p /etc/systemd/system/user@.service.d && printf '[Service]\\nDelegate=cpu cpuset io "
                "memory pids\\n' | sudo tee /etc/systemd/system/user@.service.d/delegate.conf"
                " && sudo systemctl daemon-reload")


@dataclass(frozen=True)
class Check:
    name: str
    status: str  # ok | warn | fail
    message: str
    fix: str = ""
    # Part of the `create cluster` preflight: a fail here blocks creation.
    fatal: bool = False

    def as_dict(self) -> dict:
        return {"name": self.name, "status": self.status, "message": self.message, "fix": self.fix}

    def line(self) -> str:
        """The one line `kindlike doctor` prints for this check."""
        text = f"{self.status:<4}  {self.name:<18} {self.message}"
        return text + (f"  fix: {self.fix}" if self.fix else "")


def sudo(uid: int) -> str:
    return "" if uid == 0 else "sudo "


def for_caller(check: Check, uid: int) -> Check:
    """Fixes are written for a user with sudo; root runs them as they are
    without it (and may not have sudo at all)."""
    if uid != 0 or "sudo " not in check.fix:
        return check
    return dataclasses.replace(check, fix=re.sub(r"(?<![\w-])sudo ", "", check.fix))


# -- engine -----------------------------------------------------------------
def check_engine(info, error: str = "", fix: str = "") -> Check:
    """`info` is the engine's EngineInfo, None when no engine answered."""
    if info is None:
        return Check("engine", FAIL, error or "no container engine found", fix, fatal=True)
    mode = "rootless" if info.rootless else "rootful"
    limits = ", ".join(f"{n} {'yes' if v else 'no'}" for n, v in
                       (("memory", info.memory_limit), ("pids", info.pids_limit), ("cpu", info.cpu_limit)))
    where = f" at {info.endpoint}" if info.endpoint else ""
    return Check("engine", OK, f"{mode} {info.name} {info.version}{where} (cgroup v{info.cgroup_version}, "
                               f"driver {info.cgroup_driver}; engine reports limits: {limits})", fatal=True)


def engine_fix(provider: str | None, uid: int, *, systemd: bool, have_dockerd: bool, have_podman: bool,
               docker_host: str = "", rootless_script: str = "", apt: bool = True) -> str:
    """The command that gets an engine answering, for what is installed."""
    s = sudo(uid)
    install = (lambda pkgs: f"{s}apt-get install -y {pkgs}") if apt else (lambda pkgs: f"install {pkgs}")

    def docker_fix() -> str:
        if uid == 0:
            start = "systemctl enable --now docker" if systemd else "dockerd > /var/log/dockerd.log 2>&1 &"
            if not have_dockerd:
                return f"{install('docker.io')} && {start}"
            return start
        script = rootless_script or "dockerd-rootless.sh"
        if systemd:
            start = "dockerd-rootless-setuptool.sh install && systemctl --user start docker"
        else:
            start = f"{script} > ~/dockerd-rootless.log 2>&1 &"
        if not have_dockerd:
            return f"{install('docker.io rootlesskit slirp4netns uidmap')} && {start}"
        return start

    def podman_fix() -> str:
        if not have_podman:
            return install("podman" if uid == 0 else "podman uidmap slirp4netns")
        return "podman system service --time=0 &  (then run `podman info` if it still fails)"

    if provider == "podman":
        return podman_fix()
    if docker_host and provider == "docker":
        return f"unset DOCKER_HOST (nothing answers at {docker_host}), or start that daemon: {docker_fix()}"
    if provider == "docker":
        return docker_fix()
    if have_podman and not have_dockerd:
        return podman_fix()
    return f"{docker_fix()}  (or Podman: {podman_fix()})"


# -- cgroups ----------------------------------------------------------------
def parse_cgroup_mounts(mountinfo: str) -> list[tuple[str, str, frozenset[str]]]:
    """(mount point, fstype, controllers) of every cgroup/cgroup2 mount in a
    /proc/self/mountinfo text. v1 named hierarchies appear as "name=systemd"."""
    out = []
    for line in mountinfo.splitlines():
        pre, sep, post = line.partition(" - ")
        if not sep:
            continue
        fields, post_fields = pre.split(), post.split()
        if len(fields) < 5 or len(post_fields) < 3:
            continue
        fstype = post_fields[0]
        if fstype not in ("cgroup", "cgroup2"):
            continue
        mnt = fields[4].replace("\\040", " ")
        ctrls = frozenset()
        if fstype == "cgroup":
            known = {"cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "net_cls", "blkio", "perf_event",
                     "net_prio", "hugetlb", "pids", "rdma", "misc"}
            opts = post_fields[2].split(",")
            ctrls = frozenset(o for o in opts if o in known or o.startswith("name="))
        out.append((mnt, fstype, ctrls))
    return out


def cgroup_layout(mounts: Iterable[tuple[str, str, frozenset[str]]]) -> str:
    """"v2" (unified at /sys/fs/cgroup), "hybrid" (v1 controllers plus a
    cgroup2 mount), "v1", or "none"."""
    mounts = list(mounts)
    if any(m == "/sys/fs/cgroup" and t == "cgroup2" for m, t, _ in mounts):
        return "v2"
    v1 = [m for m, t, _ in mounts if t == "cgroup"]
    if v1:
        return "hybrid" if any(t == "cgroup2" for _, t, _ in mounts) else "v1"
    return "v2" if any(t == "cgroup2" for _, t, _ in mounts) else "none"


def check_cgroup_version(layout: str, rootless: bool, kubernetes_version: str | None = None) -> Check:
    """kubernetes_version: of the node image (default: the default image's),
    whose kubelet may need failCgroupV1: false on v1 (create warns the same)."""
    if layout == "v2":
        return Check("cgroup-version", OK, "cgroup v2 (unified hierarchy)")
    if layout in ("v1", "hybrid"):
        what = "cgroup v1 (hybrid: v1 controllers, an empty cgroup2 mount)" if layout == "hybrid" else "cgroup v1"
        deprecated = cgroup_v1_warning(kubernetes_version or DEFAULT_KUBERNETES, 1)
        if not rootless:
            if deprecated:
                return Check("cgroup-version", WARN, f"{what}: {deprecated}", GRUB_CGROUP2_FIX)
            return Check("cgroup-version", OK, f"{what}: fine for a rootful engine")
        return Check("cgroup-version", WARN, f"{what}: Kubernetes' rootless mode needs cgroup v2; rootless nodes "
                                             "get no resource limits on v1", GRUB_CGROUP2_FIX)
    return Check("cgroup-version", WARN, "no cgroup filesystem mounted under /sys/fs/cgroup",
                 "sudo mount -t cgroup2 none /sys/fs/cgroup")


def check_cgroup_delegation(*, rootless: bool, layout: str, user: str, v2_controllers: Iterable[str] | None = None,
                            v2_path: str = "", v1_owned: dict[str, str] | None = None,
                            allow_no_limits: bool = False, systemd: bool = True) -> Check:
    """Which controllers the engine user may manage. v2: the controllers in the
    user's delegated cgroup.controllers; v1: directories the user owns."""
    name = "cgroup-delegation"
    if not rootless:
        return Check(name, OK, "rootful engine: it manages the nodes' cgroups itself", fatal=True)
    opt_in_fix = f"  (or run without limits: {OPT_IN})"
    accepted = f"; continuing WITHOUT resource limits ({OPT_IN})"
    required = "cgroup v2 with delegated controllers is required for resource limits in rootless nodes"

    def unless_opted_in(message: str, fix: str) -> Check:
        if allow_no_limits:
            return Check(name, WARN, message + accepted, fix, fatal=True)
        return Check(name, FAIL, message, fix + opt_in_fix, fatal=True)

    if layout == "v2":
        delegate = DELEGATE_FIX if systemd else (
            f"sudo sh -c 'mkdir -p /sys/fs/cgroup/{user} && chown -R {user}: /sys/fs/cgroup/{user}"
            f" && echo \"+cpu +cpuset +io +memory +pids\" > /sys/fs/cgroup/cgroup.subtree_control'")
        if v2_controllers is None:
            return unless_opted_in(f"no cgroup v2 subtree is delegated to {user}: {required}", delegate)
        have = set(v2_controllers)
        missing = [c for c in V2_REQUIRED if c not in have]
        shown = " ".join(c for c in V2_WANTED if c in have) or "none"
        where = f" ({v2_path})" if v2_path else ""
        if missing:
            return unless_opted_in(f"{' '.join(missing)} not delegated to {user} (delegated: {shown}){where}: "
                                   f"{required}", delegate)
        absent = [c for c in V2_WANTED if c not in have]
        if absent:
            return Check(name, WARN, f"{' '.join(absent)} not delegated to {user} (delegated: {shown}){where}: the "
                                     "kubelet cannot manage those controllers in the nodes", delegate, fatal=True)
        return Check(name, OK, f"delegated to {user}: {shown}{where}", fatal=True)

    if layout in ("v1", "hybrid"):
        owned = dict(v1_owned or {})
        if not owned:
            # Nothing at all: systemd in a rootless node dies at boot, opt-in or not.
            return Check(name, FAIL, f"cgroup v1 and no cgroup directory is delegated to {user}: systemd in rootless "
                                     "nodes cannot start ('Failed to create /init.scope control group'), and "
                                     f"{required}", GRUB_CGROUP2_FIX, fatal=True)
        shown = ", ".join(sorted(owned))
        where = _common_cgroup_dirs(owned.values())
        return unless_opted_in(f"cgroup v1: {required}; {user} only owns v1 directories ({shown}: {where}), enough "
                               "for systemd in the nodes, but rootless engines apply no limits on v1",
                               GRUB_CGROUP2_FIX)
    return unless_opted_in(f"no cgroup filesystem: {required}", "sudo mount -t cgroup2 none /sys/fs/cgroup")


def _common_cgroup_dirs(dirs: Iterable[str]) -> str:
    """/sys/fs/cgroup/*/kindlike-rootless for one directory per hierarchy."""
    dirs = sorted(set(dirs))
    if len(dirs) == 1:
        return dirs[0]
    split = [d.split("/") for d in dirs]
    if all(len(p) == len(split[0]) for p in split) and len(split[0]) > 4:
        heads = {"/".join(p[:4]) for p in split}
        tails = {"/".join(p[5:]) for p in split}
        if len(heads) == 1 and len(tails) == 1:
            return f"{heads.pop()}/*/{tails.pop()}"
    return f"{dirs[0]} and {len(dirs) - 1} more"


# -- functional limits probe ------------------------------------------------
@dataclass(frozen=True)
class ProbeResult:
    """What a container started with memory/pids limits read back from its
    own cgroup; raw text per limit ("max", a number, or "none" = no file)."""

    memory: str = ""
    pids: str = ""
    want_memory: int = 64 * 1024 * 1024
    want_pids: int = 64
    image: str = ""
    error: str = ""  # the probe could not run
    skipped: str = ""  # why it did not run (no engine, no image)


def parse_probe_output(text: str) -> tuple[str, str]:
    vals = {}
    for line in text.splitlines():
        k, sep, v = line.strip().partition("=")
        if sep:
            vals[k] = v.strip()
    return vals.get("memory", ""), vals.get("pids", "")


def _limit_value(raw: str) -> int | None:
    """A cgroup limit file's value as an int; None when unlimited/absent."""
    raw = raw.strip()
    if not raw.isdigit():
        return None
    v = int(raw)
    return None if v >= 1 << 62 else v  # v1 "unlimited" is 0x7FFFFFFFFFFFF000


def check_resource_limits(probe: ProbeResult, *, rootless: bool, layout: str, engine: str = "docker",
                          systemd: bool = True) -> Check:
    name = "resource-limits"
    if probe.skipped:
        return Check(name, WARN, f"functional probe not run: {probe.skipped}",
                     f"{engine} pull docker.io/library/busybox:latest" if "image" in probe.skipped else "")
    if probe.error:
        return Check(name, WARN, f"functional probe failed: {probe.error}")
    mem, pids = _limit_value(probe.memory), _limit_value(probe.pids)
    asked = f"a container started with --memory {probe.want_memory // (1024 * 1024)}m --pids-limit {probe.want_pids}"
    seen = f"sees memory={probe.memory or '?'} pids={probe.pids or '?'} ({probe.image})"
    if mem == probe.want_memory and pids == probe.want_pids:
        return Check(name, OK, f"{asked} {seen}: limits are enforced")
    lost = [n for n, ok in (("memory", mem == probe.want_memory), ("pids", pids == probe.want_pids)) if not ok]
    fix = ""
    if rootless:
        fix = GRUB_CGROUP2_FIX if layout in ("v1", "hybrid") else (DELEGATE_FIX if systemd else "")
    return Check(name, WARN, f"{asked} {seen}: {' and '.join(lost)} limits are NOT enforced - node containers and "
                             "the pods in them can use all of the host's memory and processes, and Kubernetes "
                             "resource limits and evictions do not protect the host", fix)


# -- systemd session, XDG_RUNTIME_DIR ---------------------------------------
def parse_loginctl(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        k, sep, v = line.partition("=")
        if sep:
            out[k.strip()] = v.strip()
    return out


def check_systemd_session(*, rootless: bool, systemd: bool, init: str, user: str,
                          loginctl_rc: int | None = None, loginctl_out: str = "") -> Check:
    """`loginctl_rc` None: loginctl is not installed."""
    name = "systemd-session"
    if not systemd:
        msg = f"systemd is not running (PID 1 is {init or '?'})"
        if not rootless:
            return Check(name, OK, f"{msg}: {ROOTFUL}")
        return Check(name, WARN, f"{msg}: no user session or linger for {user}, so nothing delegates cgroups to "
                                 f"{user} and the rootless engine must be started by hand after every boot",
                     "boot the host with systemd as init (see rootlesscontaine.rs/getting-started/common/login/)")
    if loginctl_rc is None:
        return Check(name, OK if not rootless else WARN, "systemd is running but loginctl is not installed",
                     "" if not rootless else "sudo apt-get install -y systemd")
    props = parse_loginctl(loginctl_out)
    if loginctl_rc != 0 or not props:
        if not rootless:
            return Check(name, OK, f"systemd is running; no session for {user}: {ROOTFUL}")
        detail = loginctl_out.strip().splitlines()[-1] if loginctl_out.strip() else f"exit {loginctl_rc}"
        return Check(name, WARN, f"no systemd user session for {user} ({detail}): its user@.service, which "
                                 "delegates cgroups, is not running", f"sudo loginctl enable-linger {user}")
    state, linger = props.get("State", "?"), props.get("Linger", "no")
    if linger != "yes":
        if not rootless:
            return Check(name, OK, f"user session {state}, linger off: {ROOTFUL}")
        return Check(name, WARN, f"user session {state} but linger is off for {user}: its rootless engine and "
                                 "clusters stop when the last session ends", f"sudo loginctl enable-linger {user}")
    return Check(name, OK, f"user session {state}, linger on for {user}")


def check_xdg_runtime_dir(*, rootless: bool, uid: int, user: str, group: str, path: str, exists: bool,
                          owner: int | None = None, mode: int | None = None) -> Check:
    name = "xdg-runtime-dir"
    if not rootless:
        return Check(name, OK, f"{path or 'unset'}: {ROOTFUL}")
    want = f"/run/user/{uid}"
    if not path:
        return Check(name, FAIL, "XDG_RUNTIME_DIR is not set: rootless engines keep their sockets and state there",
                     f"export XDG_RUNTIME_DIR={want}" + ("" if exists else
                                                         f"  (after: sudo install -d -m 0700 -o {user} -g {group} {want})"))
    if not exists:
        return Check(name, FAIL, f"XDG_RUNTIME_DIR {path} does not exist",
                     f"sudo install -d -m 0700 -o {user} -g {group} {path}")
    if owner is not None and owner != uid:
        return Check(name, FAIL, f"XDG_RUNTIME_DIR {path} is owned by uid {owner}, not {user} ({uid})",
                     f"sudo chown {user}:{group} {path} && sudo chmod 0700 {path}")
    if mode is not None and mode & 0o077:
        return Check(name, WARN, f"XDG_RUNTIME_DIR {path} has mode {mode & 0o7777:04o}; it should be 0700",
                     f"chmod 0700 {path}")
    return Check(name, OK, f"{path} (owned by {user}, 0700)")


# -- subordinate ids, newuidmap ---------------------------------------------
def parse_subid(text: str) -> list[tuple[str, int, int]]:
    """(owner, start, count) entries of an /etc/subuid or /etc/subgid text."""
    out = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(":")
        if len(parts) != 3 or not parts[1].isdigit() or not parts[2].isdigit():
            continue
        out.append((parts[0], int(parts[1]), int(parts[2])))
    return out


def next_free_subid(entries: list[tuple[str, int, int]]) -> int:
    """Where a new range can start without overlapping any existing one."""
    end = max((s + c for _, s, c in entries), default=0)
    return max(100000, end)


def check_subid(kind: str, *, rootless: bool, text: str | None, user: str, uid: int, path: str = "") -> Check:
    """kind: "subuid" or "subgid"."""
    path = path or f"/etc/{kind}"
    ids = "uids" if kind == "subuid" else "gids"
    if not rootless:
        return Check(kind, OK, f"{ROOTFUL}", fatal=True)
    entries = parse_subid(text or "")
    start = next_free_subid(entries)
    fix = f"sudo sh -c 'echo \"{user}:{start}:{MIN_SUBIDS}\" >> {path}'"
    if text is None:
        return Check(kind, FAIL, f"{path} does not exist: rootless engines need >= {MIN_SUBIDS} subordinate {ids} "
                                 f"for {user}", fix, fatal=True)
    mine = [(s, c) for o, s, c in entries if o in (user, str(uid))]
    if not mine:
        return Check(kind, FAIL, f"no {path} range for {user}: rootless engines need >= {MIN_SUBIDS} subordinate "
                                 f"{ids} (else: 'No {kind} ranges found for user')", fix, fatal=True)
    total = sum(c for _, c in mine)
    shown = ", ".join(f"{user}:{s}:{c}" for s, c in mine)
    if total < MIN_SUBIDS:
        return Check(kind, FAIL, f"{user} has {total} subordinate {ids} in {path} ({shown}), fewer than "
                                 f"{MIN_SUBIDS}", fix, fatal=True)
    return Check(kind, OK, f"{shown} ({total} {ids})", fatal=True)


@dataclass(frozen=True)
class ToolInfo:
    name: str
    path: str | None  # None: not on PATH
    setuid_root: bool = False
    file_caps: bool = False


def check_idmap_tools(tools: list[ToolInfo], *, rootless: bool) -> Check:
    name = "newuidmap"
    if not rootless:
        return Check(name, OK, ROOTFUL, fatal=True)
    missing = [t.name for t in tools if not t.path]
    if missing:
        return Check(name, FAIL, f"{' and '.join(missing)} not found: rootless engines map the subordinate ids "
                                 "with them", "sudo apt-get install -y uidmap", fatal=True)
    weak = [t for t in tools if not (t.setuid_root or t.file_caps)]
    if weak:
        paths = " ".join(t.path for t in weak)
        return Check(name, FAIL, f"{paths}: neither setuid root nor file capabilities, so they cannot write "
                                 "uid maps", f"sudo chmod u+s {paths}", fatal=True)
    how = ", ".join(f"{t.path} ({'setuid root' if t.setuid_root else 'file capabilities'})" for t in tools)
    return Check(name, OK, how, fatal=True)


# -- sysctls ----------------------------------------------------------------
def check_user_namespaces(*, rootless: bool, max_user_namespaces: str | None, unprivileged_userns_clone: str | None,
                          apparmor_restrict: str | None = None) -> Check:
    name = "user-namespaces"
    vals = [f"user.max_user_namespaces={max_user_namespaces}"] if max_user_namespaces is not None else []
    if unprivileged_userns_clone is not None:
        vals.append(f"kernel.unprivileged_userns_clone={unprivileged_userns_clone}")
    shown = ", ".join(vals)
    if not rootless:
        return Check(name, OK, f"{shown}: {ROOTFUL}" if shown else ROOTFUL, fatal=True)
    if max_user_namespaces is None:
        return Check(name, FAIL, "this kernel has no user namespaces (no /proc/sys/user/max_user_namespaces)",
                     "boot a kernel built with CONFIG_USER_NS=y", fatal=True)
    fixes, problems = [], []
    if not max_user_namespaces.strip().isdigit() or int(max_user_namespaces) <= 0:
        problems.append(f"user.max_user_namespaces={max_user_namespaces}")
        fixes.append("sudo sysctl -w user.max_user_namespaces=28633")
    if unprivileged_userns_clone is not None and unprivileged_userns_clone.strip() != "1":
        problems.append(f"kernel.unprivileged_userns_clone={unprivileged_userns_clone}")
        fixes.append("sudo sysctl -w kernel.unprivileged_userns_clone=1")
    if problems:
        return Check(name, FAIL, f"{', '.join(problems)}: unprivileged users cannot create user namespaces",
                     " && ".join(fixes), fatal=True)
    if apparmor_restrict is not None and apparmor_restrict.strip() == "1":
        return Check(name, WARN, f"{shown}, but kernel.apparmor_restrict_unprivileged_userns=1: user namespaces "
                                 "of programs without an AppArmor profile lack capabilities",
                     "sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0", fatal=True)
    return Check(name, OK, shown, fatal=True)


def host_ports_from_config(cfg) -> list[tuple[int, str]]:
    """Fixed host ports a cluster config asks for, each with its field path
    (0 and -1 pick free ports, so they are not listed)."""
    out = []
    for i, node in enumerate(cfg.nodes):
        for j, m in enumerate(node.extra_port_mappings):
            if m.host_port > 0:
                out.append((m.host_port, f"nodes[{i}].extraPortMappings[{j}].hostPort"))
    if cfg.networking.api_server_port > 0:
        out.append((cfg.networking.api_server_port, "networking.apiServerPort"))
    return out


def check_unprivileged_ports(*, rootless: bool, port_start: str | None, host_ports: list[tuple[int, str]]) -> Check:
    name = "unprivileged-ports"
    # Kernels before 4.11 have no such sysctl: the floor is then fixed at 1024.
    floor = int(port_start) if port_start and port_start.strip().isdigit() else 1024
    sysctl = f"net.ipv4.ip_unprivileged_port_start={floor}"
    if not rootless:
        return Check(name, OK, f"{sysctl}: a rootful engine can publish any host port", fatal=True)
    if not host_ports:
        return Check(name, OK, f"no fixed host port asked for ({sysctl})", fatal=True)
    port, where = min(host_ports)
    if port < floor:
        return Check(name, FAIL, f"host port {port} ({where}) is below {sysctl}: a rootless engine cannot expose "
                                 f"privileged port {port}", f"sudo sysctl -w net.ipv4.ip_unprivileged_port_start={port}",
                     fatal=True)
    return Check(name, OK, f"lowest host port asked for is {port} ({where}), not below {sysctl}", fatal=True)


def check_ip_forward(value: str | None) -> Check:
    name = "ip-forward"
    if value is None:
        return Check(name, WARN, "cannot read net.ipv4.ip_forward", "sudo sysctl -w net.ipv4.ip_forward=1")
    if value.strip() == "1":
        return Check(name, OK, "net.ipv4.ip_forward=1")
    return Check(name, WARN, f"net.ipv4.ip_forward={value.strip()}: nodes cannot reach outside the host through it "
                             "(rootful Docker turns it on when it starts; rootless engines do not)",
                 "sudo sysctl -w net.ipv4.ip_forward=1")


# -- nodes on several hosts ------------------------------------------------
def check_hosts(answers: list[tuple[str, str, str]]) -> Check:
    """The engines of the other hosts a config places nodes on: (config
    path, engine URL, "" when it answered else why not). A create fails at
    its first node on a host whose engine does not answer."""
    name = "hosts"
    down = [(path, url, why) for path, url, why in answers if why]
    if down:
        path, url, why = down[0]
        return Check(name, FAIL, f"{path}: the engine at {url} does not answer ({why})"
                     + (f"; {len(down) - 1} more" if len(down) > 1 else ""),
                     f"start the engine on that host, or fix {path}", fatal=True)
    return Check(name, OK, f"the engines of {len(answers)} other host{'s' if len(answers) != 1 else ''} answer",
                 fatal=True)


def check_vxlan_host(modules: dict[str, bool], rp_filter: str | None) -> Check:
    """What Flannel's VXLAN between hosts needs of this host's kernel: the
    vxlan module (a node container cannot load it, rootless least of all),
    br_netfilter (kube-proxy sees bridged pod traffic), and reverse-path
    filtering that does not drop the VXLAN packets the host's NAT hands on
    (strict mode, 1, can). Every host needs the same."""
    name = "multi-host-kernel"
    missing = [m for m, loaded in modules.items() if not loaded]
    if missing:
        return Check(name, WARN, f"kernel module{'s' if len(missing) > 1 else ''} {', '.join(missing)} not "
                                 "loaded: pods on other hosts may be unreachable",
                     f"sudo modprobe {' '.join(missing)} (on every host)")
    if (rp_filter or "").strip() == "1":
        return Check(name, WARN, "net.ipv4.conf.all.rp_filter=1 (strict) may drop VXLAN packets between hosts",
                     "sudo sysctl -w net.ipv4.conf.all.rp_filter=2 (on every host)")
    return Check(name, OK, f"{', '.join(modules)} loaded; rp_filter={(rp_filter or '?').strip()}")


def check_inotify(watches: str | None, instances: str | None) -> Check:
    name = "inotify"
    low, fixes, shown = [], [], []
    for key, val, want in (("fs.inotify.max_user_watches", watches, INOTIFY_WATCHES),
                           ("fs.inotify.max_user_instances", instances, INOTIFY_INSTANCES)):
        shown.append(f"{key}={val if val is not None else '?'}")
        if val is None or not val.strip().isdigit() or int(val) < want:
            low.append(f"{key}={val if val is not None else '?'} < {want}")
            fixes.append(f"{key}={want}")
    if low:
        return Check(name, WARN, f"{', '.join(low)} (kind's recommendation): pods fail with 'too many open files' "
                                 "when many of them watch files", f"sudo sysctl -w {' '.join(fixes)}")
    return Check(name, OK, ", ".join(shown))


def check_nofile(soft: int, hard: int, *, user: str) -> Check:
    """RLIMIT_NOFILE of this process (-1 = unlimited)."""
    name = "nofile"

    def big(v: int) -> bool:
        return v < 0 or v >= MIN_NOFILE

    show = lambda v: "unlimited" if v < 0 else str(v)  # noqa: E731
    if big(soft):
        return Check(name, OK, f"RLIMIT_NOFILE {show(soft)} (hard {show(hard)})")
    if big(hard):
        return Check(name, WARN, f"RLIMIT_NOFILE soft limit {soft} < {MIN_NOFILE} (hard {show(hard)}): the engine "
                                 "and the nodes it starts inherit it", f"ulimit -n {MIN_NOFILE}")
    who = "root" if user == "root" else user
    return Check(name, WARN, f"RLIMIT_NOFILE {soft} (hard {hard}) < {MIN_NOFILE}: the engine and the nodes it starts "
                             "inherit it", f"sudo sh -c 'echo \"{who} - nofile 65536\" >> /etc/security/limits.conf'"
                                           "  (then log in again)")


# -- devices, kernel --------------------------------------------------------
def can_read_write(mode: int, owner: int, group: int, uid: int, gids: Iterable[int]) -> bool:
    """Whether uid (member of gids) may open a file of this mode for read+write
    by the classic permission bits (root always may)."""
    if uid == 0:
        return True
    if owner == uid:
        bits = (mode >> 6) & 0o7
    elif group in set(gids):
        bits = (mode >> 3) & 0o7
    else:
        bits = mode & 0o7
    return bits & 0o6 == 0o6


DEVICES = {
    "dev-net-tun": ("/dev/net/tun", 10, 200, "slirp4netns/rootlesskit need it for the rootless engine's network"),
    "dev-fuse": ("/dev/fuse", 10, 229, "kindlike passes it into rootless nodes for fuse-overlayfs"),
}


def check_device(name: str, *, rootless: bool, user: str, exists: bool, usable: bool, mode: int | None = None,
                 kernel_native_overlay: bool = True) -> Check:
    path, major, minor, why = DEVICES[name]
    shown = f"{path} mode {mode & 0o777:04o}" if mode is not None else path
    if not rootless:
        return Check(name, OK, f"{shown}: {ROOTFUL}", fatal=True)
    if not exists:
        return Check(name, FAIL, f"{path} does not exist: {why}",
                     f"sudo mkdir -p {path.rsplit('/', 1)[0]} && sudo mknod {path} c {major} {minor} && "
                     f"sudo chmod 666 {path}", fatal=True)
    if usable:
        return Check(name, OK, f"{shown}: readable and writable by {user}", fatal=True)
    msg = f"{shown}: {user} cannot read and write it; {why}"
    if name == "dev-fuse" and kernel_native_overlay:
        return Check(name, WARN, msg + " (only needed where native overlayfs fails; this kernel has it)",
                     f"sudo chmod 666 {path}", fatal=True)
    return Check(name, FAIL, msg, f"sudo chmod 666 {path}", fatal=True)


def parse_kernel(release: str) -> tuple[int, int] | None:
    m = re.match(r"\s*(\d+)\.(\d+)", release or "")
    return (int(m.group(1)), int(m.group(2))) if m else None


def check_overlayfs(*, rootless: bool, kernel: str, fuse_overlayfs: str | None) -> Check:
    name = "overlayfs"
    ver = parse_kernel(kernel)
    if ver is None:
        return Check(name, WARN, f"cannot parse the kernel release {kernel!r}", fatal=True)
    if not rootless:
        return Check(name, OK, f"kernel {kernel.strip()}: rootful engines use native overlayfs", fatal=True)
    if ver >= NATIVE_OVERLAY_KERNEL:
        return Check(name, OK, f"kernel {kernel.strip()} >= 5.11: native overlayfs in a user namespace", fatal=True)
    if fuse_overlayfs:
        return Check(name, WARN, f"kernel {kernel.strip()} < 5.11: no native overlayfs in a user namespace; "
                                 f"image storage uses fuse-overlayfs ({fuse_overlayfs}), which is slower",
                     "upgrade to a kernel >= 5.11 (sudo apt-get install -y linux-image-amd64 && sudo reboot)",
                     fatal=True)
    return Check(name, FAIL, f"kernel {kernel.strip()} < 5.11 has no native overlayfs in a user namespace and "
                             "fuse-overlayfs is not installed", "sudo apt-get install -y fuse-overlayfs", fatal=True)


# -- Podman -----------------------------------------------------------------
PODMAN_DEFAULT_PIDS = 2048


def podman_pids_setting(confs: list[tuple[str, str]]) -> tuple[int | None, str, str]:
    """(pids_limit, file that set it, problem) from containers.conf files in
    increasing precedence; a later file overrides an earlier one."""
    value, source = None, ""
    for path, text in confs:
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as e:
            return value, source, f"{path} is not valid TOML ({e})"
        v = (data.get("containers") or {}).get("pids_limit")
        if isinstance(v, int) and not isinstance(v, bool):
            value, source = v, path
    return value, source, ""


def pids_limit_fix(path: str, text: str | None, *, root: bool) -> str:
    """The command that sets `pids_limit = 0` in `path` (content `text`)."""
    pre = "sudo " if root else ""
    text = text or ""
    if re.search(r"^\s*pids_limit\s*=", text, re.M):
        return f"{pre}sed -i 's/^[[:space:]]*pids_limit[[:space:]]*=.*/pids_limit = 0/' {path}"
    if re.search(r"^\s*\[containers\]", text, re.M):
        return f"{pre}sed -i '/^\\[containers\\]/a pids_limit = 0' {path}"
    if root:
        return f"printf '[containers]\\npids_limit = 0\\n' | sudo tee -a {path}"
    d = path.rsplit("/", 1)[0]
    return f"mkdir -p {d} && printf '[containers]\\npids_limit = 0\\n' >> {path}"


def check_podman_pids_limit(*, engine: str | None, rootless: bool, confs: list[tuple[str, str]],
                            pids_enforced: bool, cgroup_manager: str = "systemd", target: str = "",
                            target_text: str | None = None) -> Check:
    name = "podman-pids-limit"
    if engine != "podman":
        return Check(name, OK, f"not applicable: the engine is {engine or 'unknown'}")
    value, source, problem = podman_pids_setting(confs)
    if problem:
        return Check(name, WARN, problem, f"podman info  (shows the parse error; fix {problem.split(' ')[0]})")
    if value is None:
        # containers/common: rootless with the cgroupfs manager gets no default limit.
        value = 0 if rootless and cgroup_manager == "cgroupfs" else PODMAN_DEFAULT_PIDS
        source = "Podman's default"
    setting = f"pids_limit={value} ({source})"
    if not pids_enforced:
        return Check(name, OK, f"{setting}; not enforced: this engine applies no pids limits")
    if value <= 0:
        return Check(name, OK, f"{setting}: node containers have no pids limit")
    return Check(name, WARN, f"{setting}: every node container is capped at {value} processes, which a node running "
                             "many pods reaches (kind #3451)",
                 pids_limit_fix(target, target_text, root=not rootless) if target else "")
