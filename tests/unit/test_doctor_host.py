"""The doctor's host layer on a fake host tree (KINDLIKE_DOCTOR_ROOT), the
create preflight and run_doctor with stub engines, the renderers, and the
CLI without any engine."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from kindlike.config import load_config_text
from kindlike.doctor import (
    PreflightError,
    allow_no_limits_from_env,
    exit_code,
    host,
    preflight,
    render_json,
    render_text,
    run_doctor,
)
from kindlike.doctor import checks as c
from kindlike.doctor.probe import PROBE_LABEL, SCRIPT, run_probe
from kindlike.engines.base import EngineInfo
from kindlike.engines.common import SdkEngine
from kindlike.status import Status
from tests.unit.test_doctor_checks import HYBRID_MOUNTINFO, PORT80

NAMES = ["engine", "cgroup-version", "cgroup-delegation", "resource-limits", "systemd-session", "xdg-runtime-dir",
         "subuid", "subgid", "newuidmap", "user-namespaces", "unprivileged-ports", "ip-forward", "inotify", "nofile",
         "dev-net-tun", "dev-fuse", "overlayfs", "podman-pids-limit"]
# The fake rootless user: a uid the files can be chowned to when the tests run
# as root, else the test runner itself.
UID = 4242 if os.getuid() == 0 else os.getuid()
USER = host.User(UID, UID, "kindlike", "kindlike", (UID,), "/home/kindlike")


def write(root, path: str, text: str, mode: int = 0o644):
    p = root / path.lstrip("/")
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text)
    p.chmod(mode)
    return p


def chown(p):
    if os.getuid() == 0:
        os.chown(p, UID, UID)


@pytest.fixture
def fake_root(tmp_path):
    """A host with everything a rootless engine needs, on cgroup v1 (hybrid)
    with directories delegated to the user, like the CI machine."""
    r = tmp_path / "root"
    write(r, "/etc/subuid", "kindlike:100000:65536\n")
    write(r, "/etc/subgid", "kindlike:100000:65536\n")
    write(r, "/proc/self/mountinfo", HYBRID_MOUNTINFO)
    write(r, "/proc/self/cgroup", "4:memory:/\n0::/\n")
    write(r, "/proc/1/comm", "process_api\n")
    for key, val in {"user/max_user_namespaces": "96365", "net/ipv4/ip_unprivileged_port_start": "1024",
                     "net/ipv4/ip_forward": "1", "fs/inotify/max_user_watches": "524288",
                     "fs/inotify/max_user_instances": "512", "kernel/osrelease": "6.18.44-fc-v657"}.items():
        write(r, f"/proc/sys/{key}", val + "\n")
    for ctrl in ("cpu", "cpuacct", "cpuset", "memory", "pids", "systemd"):
        d = r / "sys/fs/cgroup" / ctrl / "kindlike-rootless"
        d.mkdir(parents=True)
        chown(d)
        (r / "sys/fs/cgroup" / ctrl / "other").mkdir()
    write(r, "/dev/net/tun", "", 0o666)
    write(r, "/dev/fuse", "", 0o666)
    run = r / "run/user" / str(UID)
    run.mkdir(parents=True)
    run.chmod(0o700)
    chown(run)
    return r


def rootless_info(**kw):
    base = dict(name="podman", version="4.3.1", rootless=True, cgroup_version=1, cgroup_driver="cgroupfs",
                memory_limit=False, pids_limit=False, cpu_limit=False, endpoint="unix:///nonexistent.sock")
    base.update(kw)
    return EngineInfo(**base)


def by_name(checks):
    return {ch.name: ch for ch in checks}


# -- HostFiles --------------------------------------------------------------
def test_host_files_override_falls_back_to_the_real_path(tmp_path):
    write(tmp_path, "/etc/subuid", "x:1:2\n")
    files = host.HostFiles(str(tmp_path))
    assert files.path("/etc/subuid") == str(tmp_path / "etc/subuid")
    assert files.read("/etc/subuid") == "x:1:2\n"
    assert files.path("/etc/hostname") == "/etc/hostname"
    assert files.read("/nonexistent/file") is None and files.stat("/nonexistent/file") is None
    write(tmp_path, "/proc/sys/net/ipv4/ip_forward", " 0\n")
    assert files.sysctl("net.ipv4.ip_forward") == "0"
    assert host.HostFiles("").path("/etc/subuid") == "/etc/subuid"


def test_host_files_root_from_env(monkeypatch, tmp_path):
    monkeypatch.setenv(host.ROOT_ENV, str(tmp_path))
    assert host.HostFiles().root == str(tmp_path)


def test_engine_user_is_the_socket_owner(tmp_path):
    sock = tmp_path / "docker.sock"
    sock.write_text("")
    chown(sock)
    u = host.engine_user(rootless_info(endpoint=f"unix://{sock}"))
    assert u.uid == (UID if os.getuid() == 0 else os.getuid())
    assert host.engine_user(rootless_info(rootless=False)).uid == os.getuid()
    assert host.engine_user(None).uid == os.getuid()
    assert host.User.from_uid(0).name == "root"
    assert host.User.from_uid(987654).name == "987654"


# -- cgroups on the fake tree -----------------------------------------------
def test_v1_owned_dirs(fake_root):
    files = host.HostFiles(str(fake_root))
    mounts = c.parse_cgroup_mounts(HYBRID_MOUNTINFO)
    owned = host.v1_owned_dirs(files, mounts, "4:memory:/\n", UID)
    if os.getuid() == 0:
        assert owned == {k: f"/sys/fs/cgroup/{d}/kindlike-rootless" for k, d in
                         (("cpu", "cpu"), ("cpuset", "cpuset"), ("memory", "memory"), ("pids", "pids"),
                          ("name=systemd", "systemd"))}
    else:  # every directory is the runner's own: the first one found counts
        assert set(owned) == {"cpu", "cpuset", "memory", "pids", "name=systemd"}
    assert host.v1_owned_dirs(files, mounts, "", 0) == {}


def test_v1_owned_dirs_none_delegated(fake_root):
    if os.getuid() != 0:
        pytest.skip("needs root to create directories the user does not own")
    files = host.HostFiles(str(fake_root))
    assert host.v1_owned_dirs(files, c.parse_cgroup_mounts(HYBRID_MOUNTINFO), "", 31337) == {}


def test_v2_delegated(tmp_path):
    files = host.HostFiles(str(tmp_path))
    mounts = c.parse_cgroup_mounts("30 25 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n")
    svc = f"/sys/fs/cgroup/user.slice/user-{UID}.slice/user@{UID}.service"
    assert host.v2_delegated(files, mounts, "0::/\n", UID) == (None, "")
    write(tmp_path, svc + "/cgroup.controllers", "cpuset cpu io memory pids\n")
    ctrls, path = host.v2_delegated(files, mounts, "0::/\n", UID)
    assert ctrls == ["cpuset", "cpu", "io", "memory", "pids"] and path == svc + "/cgroup.controllers"


def test_v2_delegated_own_cgroup(tmp_path):
    files = host.HostFiles(str(tmp_path))
    mounts = c.parse_cgroup_mounts("30 25 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n")
    p = write(tmp_path, "/sys/fs/cgroup/mine/cgroup.controllers", "memory pids\n")
    chown(p.parent)
    assert host.v2_delegated(files, mounts, "0::/mine\n", UID)[0] == ["memory", "pids"]


# -- host_checks ------------------------------------------------------------
def checks_for(fake_root, info=None, cfg=None, allow=False, user=USER):
    out, ctx = host.host_checks(info if info is not None else rootless_info(), cluster_cfg=cfg,
                                allow_no_limits=allow, files=host.HostFiles(str(fake_root)), user=user)
    return by_name(out), ctx


def test_host_checks_names_and_context(fake_root):
    got, ctx = checks_for(fake_root)
    assert list(got) == [n for n in NAMES if n not in ("engine", "resource-limits")]
    assert ctx["layout"] == "hybrid" and ctx["rootless"] is True and ctx["user"] == USER
    assert got["subuid"].status == c.OK and got["subgid"].status == c.OK
    assert got["dev-net-tun"].status == c.OK and got["dev-fuse"].status == c.OK
    assert got["unprivileged-ports"].status == c.OK and got["inotify"].status == c.OK
    assert got["overlayfs"].status == c.OK and got["ip-forward"].status == c.OK
    assert got["xdg-runtime-dir"].status == (c.OK if os.getuid() == 0 else got["xdg-runtime-dir"].status)
    assert got["podman-pids-limit"].message.startswith("pids_limit=")
    if os.getuid() == 0:
        deleg = got["cgroup-delegation"]
        assert deleg.status == c.FAIL and "/sys/fs/cgroup/*/kindlike-rootless" in deleg.message


def test_host_checks_opt_in_turns_the_cgroup_fail_into_a_warning(fake_root):
    if os.getuid() != 0:
        pytest.skip("needs root for the delegated directories")
    got, _ = checks_for(fake_root, allow=True)
    assert got["cgroup-delegation"].status == c.WARN


def test_host_checks_missing_subuid_range(fake_root):
    write(fake_root, "/etc/subuid", "someoneelse:100000:65536\n")
    got, _ = checks_for(fake_root)
    ch = got["subuid"]
    assert ch.status == c.FAIL and ch.fatal
    assert ch.fix == "sudo sh -c 'echo \"kindlike:165536:65536\" >> /etc/subuid'"
    assert got["subgid"].status == c.OK


def test_host_checks_unreadable_tun(fake_root):
    (fake_root / "dev/net/tun").chmod(0o600)
    got, _ = checks_for(fake_root)
    if UID == os.getuid():  # the runner owns the fake device: still usable
        assert got["dev-net-tun"].status == c.OK
    else:
        ch = got["dev-net-tun"]
        assert (ch.status, ch.fix) == (c.FAIL, "sudo chmod 666 /dev/net/tun")
        assert ch.message == ("/dev/net/tun mode 0600: kindlike cannot read and write it; slirp4netns/rootlesskit "
                              "need it for the rootless engine's network")


def test_host_checks_privileged_port_from_config(fake_root):
    got, _ = checks_for(fake_root, cfg=load_config_text(PORT80).cluster)
    ch = got["unprivileged-ports"]
    assert ch.status == c.FAIL and ch.fix == "sudo sysctl -w net.ipv4.ip_unprivileged_port_start=80"
    write(fake_root, "/proc/sys/net/ipv4/ip_unprivileged_port_start", "0\n")
    got, _ = checks_for(fake_root, cfg=load_config_text(PORT80).cluster)
    assert got["unprivileged-ports"].status == c.OK


def test_host_checks_sysctls_and_kernel(fake_root):
    write(fake_root, "/proc/sys/user/max_user_namespaces", "0\n")
    write(fake_root, "/proc/sys/kernel/unprivileged_userns_clone", "0\n")
    write(fake_root, "/proc/sys/fs/inotify/max_user_watches", "8192\n")
    write(fake_root, "/proc/sys/net/ipv4/ip_forward", "0\n")
    write(fake_root, "/proc/sys/kernel/osrelease", "5.10.0-26-amd64\n")
    got, _ = checks_for(fake_root)
    assert got["user-namespaces"].status == c.FAIL
    assert got["inotify"].fix == "sudo sysctl -w fs.inotify.max_user_watches=524288"
    assert got["ip-forward"].status == c.WARN
    assert got["overlayfs"].message.startswith("kernel 5.10.0-26-amd64 < 5.11")


def test_host_checks_rootful(fake_root):
    info = rootless_info(rootless=False, name="docker", memory_limit=True, pids_limit=True, cpu_limit=True)
    got, ctx = checks_for(fake_root, info=info, cfg=load_config_text(PORT80).cluster,
                          user=host.User(0, 0, "root", "root", (0,), "/root"))
    assert ctx["rootless"] is False
    for name in ("cgroup-delegation", "subuid", "subgid", "newuidmap", "user-namespaces", "unprivileged-ports",
                 "dev-net-tun", "dev-fuse", "overlayfs", "xdg-runtime-dir"):
        assert got[name].status == c.OK, name
    # The fake host is a cgroup v1 hybrid: fine rootful, but the default
    # Kubernetes (1.35+) runs there only with failCgroupV1: false.
    assert got["cgroup-version"].status == c.WARN and "failCgroupV1: false" in got["cgroup-version"].message
    assert got["podman-pids-limit"].message == "not applicable: the engine is docker"


def test_host_checks_podman_confs(fake_root):
    write(fake_root, "/etc/containers/containers.conf", "[containers]\npids_limit = 4096\n")
    info = rootless_info(pids_limit=True)
    got, _ = checks_for(fake_root, info=info)
    ch = got["podman-pids-limit"]
    assert ch.status == c.WARN and "pids_limit=4096 (/etc/containers/containers.conf)" in ch.message
    assert ch.fix == ("mkdir -p /home/kindlike/.config/containers && printf '[containers]\\npids_limit = 0\\n' >> "
                      "/home/kindlike/.config/containers/containers.conf")


# -- engines for run_doctor / preflight -------------------------------------
class FakeContainer:
    def __init__(self, out: bytes):
        self.out, self.removed, self.started = out, False, False

    def start(self):
        self.started = True

    def wait(self, timeout=None):
        return 0

    def logs(self, stdout=True, stderr=True):
        return iter([self.out])  # podman-py gives a generator

    def remove(self, force=False):
        self.removed = True


class FakeContainers:
    def __init__(self, out: bytes, fail: Exception | None = None):
        self.out, self.fail, self.created = out, fail, []

    def create(self, image, **kw):
        if self.fail:
            raise self.fail
        c_ = FakeContainer(self.out)
        self.created.append((image, kw, c_))
        return c_


class FakeEngine:
    def __init__(self, info: EngineInfo, out: bytes = b"memory=max\npids=max\n", images=("kindlike/base:bookworm",),
                 fail: Exception | None = None):
        self._info, self.images = info, set(images)
        self.client = type("Client", (), {})()
        self.client.containers = FakeContainers(out, fail)

    def info(self):
        return self._info

    def image_exists(self, ref):
        return ref in self.images

    # The SDK engines' own implementation, over the fake client.
    run_limited = SdkEngine.run_limited


def test_probe_runs_with_limits_and_removes_the_container():
    eng = FakeEngine(rootless_info(), b"memory=67108864\npids=64\n")
    res = run_probe(eng)
    assert (res.memory, res.pids, res.image, res.error) == ("67108864", "64", "kindlike/base:bookworm", "")
    image, kw, cont = eng.client.containers.created[0]
    assert kw["mem_limit"] == 64 * 1024 * 1024 and kw["pids_limit"] == 64 and kw["cgroupns"] == "private"
    assert kw["entrypoint"] == ["sh", "-c", SCRIPT] and kw["labels"] == {PROBE_LABEL: "probe"}
    assert kw["network_mode"] == "none"
    assert cont.started and cont.removed


def test_probe_without_image_or_failing():
    res = run_probe(FakeEngine(rootless_info(), images=()))
    assert res.skipped.startswith("no local image to run it with (tried kindlike/base:bookworm, ")
    res = run_probe(FakeEngine(rootless_info(), fail=RuntimeError("boom")))
    assert res.error == "cannot create the probe container: RuntimeError: boom"
    res = run_probe(FakeEngine(rootless_info(), out=b""))
    assert res.error.startswith("no output from the probe container")


def test_probe_script_reads_v1_and_v2_files(tmp_path):
    # The script itself, against a fake /sys/fs/cgroup (paths rewritten).
    script = SCRIPT.replace("/sys/fs/cgroup", str(tmp_path))
    write(tmp_path, "/memory/memory.limit_in_bytes", "67108864\n")
    write(tmp_path, "/pids.max", "64\n")
    out = subprocess.run(["sh", "-c", script], capture_output=True, text=True).stdout
    assert c.parse_probe_output(out) == ("67108864", "64")
    out = subprocess.run(["sh", "-c", SCRIPT.replace("/sys/fs/cgroup", str(tmp_path / "none"))],
                         capture_output=True, text=True).stdout
    assert c.parse_probe_output(out) == ("none", "none")


def test_run_doctor_orders_every_check(fake_root, monkeypatch):
    monkeypatch.setattr(host, "engine_user", lambda info: USER)
    checks = run_doctor(FakeEngine(rootless_info()), files=host.HostFiles(str(fake_root)), allow_no_limits=True)
    assert [ch.name for ch in checks] == NAMES
    got = by_name(checks)
    assert got["engine"].status == c.OK and got["engine"].message.startswith("rootless podman 4.3.1")
    assert got["resource-limits"].status == c.WARN and "NOT enforced" in got["resource-limits"].message


def test_run_doctor_without_engine_still_checks_the_host(fake_root):
    checks = run_doctor(None, engine_error="cannot reach a Docker daemon: unix:///x (no socket)",
                        provider="docker", files=host.HostFiles(str(fake_root)))
    assert [ch.name for ch in checks] == NAMES
    got = by_name(checks)
    assert got["engine"].status == c.FAIL
    assert got["engine"].message == "cannot reach a Docker daemon: unix:///x (no socket)"
    assert got["engine"].fix  # an install/start command
    assert got["resource-limits"].message == "functional probe not run: no container engine"
    assert exit_code(checks) == 1


def test_run_doctor_engine_info_failure(fake_root):
    class Broken(FakeEngine):
        def info(self):
            raise ConnectionError("gone")

    checks = run_doctor(Broken(rootless_info()), files=host.HostFiles(str(fake_root)), probe=False)
    assert by_name(checks)["engine"].message == "the engine does not answer: ConnectionError: gone"


def test_preflight_fails_with_every_fatal_problem(fake_root, monkeypatch):
    monkeypatch.setattr(host, "engine_user", lambda info: USER)
    monkeypatch.delenv(c.ENV_ALLOW_NO_LIMITS, raising=False)
    write(fake_root, "/etc/subuid", "\n")
    with pytest.raises(PreflightError) as ei:
        preflight(FakeEngine(rootless_info()), load_config_text(PORT80).cluster, files=host.HostFiles(str(fake_root)))
    err = ei.value
    names = [f.name for f in err.failures]
    assert "subuid" in names and "unprivileged-ports" in names
    lines = err.lines()
    assert "ERROR: subuid: no /etc/subuid range for kindlike: rootless engines need >= 65536 subordinate uids " \
           "(else: 'No subuid ranges found for user')" in lines
    sudo = "" if os.getuid() == 0 else "sudo "  # root is given the commands without sudo
    assert f"  fix: {sudo}sh -c 'echo \"kindlike:100000:65536\" >> /etc/subuid'" in lines
    assert f"  fix: {sudo}sysctl -w net.ipv4.ip_unprivileged_port_start=80" in lines
    assert lines[-1].startswith("  (preflight: nothing was created")
    assert err.message.startswith(f"{err.failures[0].name}: ")


def test_preflight_cgroup_v1_needs_the_opt_in(fake_root, monkeypatch, capsys):
    if os.getuid() != 0:
        pytest.skip("needs root for the delegated directories")
    monkeypatch.setattr(host, "engine_user", lambda info: USER)
    monkeypatch.delenv(c.ENV_ALLOW_NO_LIMITS, raising=False)
    files = host.HostFiles(str(fake_root))
    cfg = load_config_text("kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\n").cluster
    with pytest.raises(PreflightError) as ei:
        preflight(FakeEngine(rootless_info()), cfg, files=files)
    assert [f.name for f in ei.value.failures] == ["cgroup-delegation"]
    assert "cgroup v2 with delegated controllers is required for resource limits in rootless nodes" \
           in ei.value.lines()[0]
    status = Status()
    passed = preflight(FakeEngine(rootless_info()), cfg, files=files, allow_no_resource_limits=True, status=status)
    assert all(ch.status != c.FAIL for ch in passed)
    err = capsys.readouterr().err
    assert err.startswith("WARNING: cgroup-delegation: cgroup v1: cgroup v2 with delegated controllers is required")
    assert "continuing WITHOUT resource limits" in err
    monkeypatch.setenv(c.ENV_ALLOW_NO_LIMITS, "1")
    preflight(FakeEngine(rootless_info()), cfg, files=files)  # the env opts in too


def test_preflight_rootful_passes(fake_root, monkeypatch):
    monkeypatch.setattr(host, "engine_user", lambda info: host.User(0, 0, "root", "root", (0,), "/root"))
    info = rootless_info(rootless=False, name="docker", memory_limit=True, pids_limit=True, cpu_limit=True)
    write(fake_root, "/etc/subuid", "\n")
    (fake_root / "dev/net/tun").chmod(0o600)
    out = preflight(FakeEngine(info), load_config_text(PORT80).cluster, files=host.HostFiles(str(fake_root)))
    assert all(ch.status == c.OK for ch in out)
    assert {ch.name for ch in out} == {"cgroup-delegation", "subuid", "subgid", "newuidmap", "user-namespaces",
                                       "unprivileged-ports", "dev-net-tun", "dev-fuse", "overlayfs"}


@pytest.mark.parametrize("val,allowed", [("1", True), ("true", True), ("yes", True), ("0", False), ("", False)])
def test_allow_env(val, allowed):
    assert allow_no_limits_from_env({c.ENV_ALLOW_NO_LIMITS: val}) is allowed


def test_renderers():
    checks = [c.Check("a", c.OK, "fine"), c.Check("b", c.WARN, "meh", "do x"), c.Check("c", c.FAIL, "bad", "do y")]
    text = render_text(checks)
    assert text.splitlines() == ["ok    a                  fine", "warn  b                  meh  fix: do x",
                                 "fail  c                  bad  fix: do y", "1 ok, 1 warn, 1 fail"]
    assert json.loads(render_json(checks)) == [{"name": "a", "status": "ok", "message": "fine", "fix": ""},
                                               {"name": "b", "status": "warn", "message": "meh", "fix": "do x"},
                                               {"name": "c", "status": "fail", "message": "bad", "fix": "do y"}]
    assert exit_code(checks) == 1 and exit_code(checks[:2]) == 0


# -- the CLI, no engine ------------------------------------------------------
def cli(*args, env=None):
    e = {k: v for k, v in os.environ.items() if not k.startswith("KINDLIKE_")}
    e.update(env or {})
    return subprocess.run([sys.executable, "-m", "kindlike.cli.main", *args], capture_output=True, text=True,
                          env=e, timeout=120)


def test_cli_doctor_without_engine(tmp_path):
    env = {"KINDLIKE_PROVIDER": "docker", "DOCKER_HOST": f"unix://{tmp_path}/none.sock"}
    res = cli("doctor", env=env)
    assert res.returncode == 1, res.stderr
    lines = res.stdout.splitlines()
    assert lines[0].startswith(f"fail  engine             cannot reach a Docker daemon: unix://{tmp_path}/none.sock")
    assert f"fix: unset DOCKER_HOST (nothing answers at unix://{tmp_path}/none.sock)" in lines[0]
    assert [ln.split()[1] for ln in lines[:-1]] == NAMES
    assert "Traceback" not in res.stderr
    res = cli("doctor", "--output", "json", env=env)
    assert res.returncode == 1
    doc = json.loads(res.stdout)
    assert [d["name"] for d in doc] == NAMES and all(set(d) == {"name", "status", "message", "fix"} for d in doc)
    assert doc[0]["status"] == "fail" and all(d["status"] in ("ok", "warn", "fail") for d in doc)


def test_cli_doctor_config_errors_are_one_line_each(tmp_path):
    res = cli("doctor", "--config", str(tmp_path / "missing.yaml"),
              env={"KINDLIKE_PROVIDER": "docker", "DOCKER_HOST": f"unix://{tmp_path}/none.sock"})
    assert res.returncode == 1 and "missing.yaml: no such file" in res.stderr and "Traceback" not in res.stderr


def test_cli_create_has_the_opt_in_flag():
    res = cli("create", "cluster", "--help")
    assert "--allow-no-resource-limits" in res.stdout and "KINDLIKE_ALLOW_NO_RESOURCE_LIMITS" in res.stdout


def test_preflight_survives_a_broken_check(fake_root, monkeypatch, capsys):
    def boom(*a, **kw):
        raise ValueError("bug")

    monkeypatch.setattr(host, "host_checks", boom)
    assert preflight(FakeEngine(rootless_info()), None, status=Status()) == []
    assert capsys.readouterr().err.startswith("WARNING: preflight checks could not run (ValueError: bug)")
