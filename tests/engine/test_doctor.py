"""`kindlike doctor` and the create preflight on this machine, with real
engines: rootful Docker run as root, rootless Docker and rootless Podman run
as the rootless user (hack/as-rootless.sh, after hack/install-venv.sh).

What each check should say is worked out here independently, from the host
itself (stat, /proc/sys, /etc/subuid, the engine's own facts), and compared
with what doctor printed. The failure paths use KINDLIKE_DOCTOR_ROOT (a fake
/etc/subuid, a 0600 /dev/net/tun device node) so the host the other engines
and clusters run on is never changed; the code that reads and decides is the
real one. A preflight failure must create nothing: no container, volume or
network of that cluster name.
"""
from __future__ import annotations

import json
import os
import pwd
import resource
import shutil
import stat
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import pytest

from kindlike.cluster.nodes import cluster_labels, delete_cluster, network_name
from kindlike.doctor.probe import PROBE_LABEL
from tests.conftest import REPO
from tests.engine_fixtures import ROOTLESS_USER, connect, install_user_venv, selected_engines, start_engine

pytestmark = pytest.mark.engine

NAMES = ["engine", "cgroup-version", "cgroup-delegation", "resource-limits", "systemd-session", "xdg-runtime-dir",
         "subuid", "subgid", "newuidmap", "user-namespaces", "unprivileged-ports", "ip-forward", "inotify", "nofile",
         "dev-net-tun", "dev-fuse", "overlayfs", "podman-pids-limit"]
ROOTLESS = [k for k in selected_engines() if k.startswith("rootless")]
OPT_IN = "KINDLIKE_ALLOW_NO_RESOURCE_LIMITS"


# -- running the CLI as its user --------------------------------------------
def clean_env(**extra: str) -> dict:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("KINDLIKE_") and k not in ("DOCKER_HOST", "CONTAINER_HOST", "CONTAINER_CONNECTION")}
    env.update(extra)
    return env


def kindlike(kind: str, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """rootful-docker: as root; rootless kinds: as the rootless user."""
    provider = "podman" if kind.endswith("podman") else "docker"
    if kind.startswith("rootless"):
        cmd = [str(REPO / "hack" / "as-rootless.sh"), "kindlike", "--provider", provider, *args]
        full_env = clean_env(**(env or {}))
    else:
        cmd = [sys.executable, "-m", "kindlike.cli.main", "--provider", provider, *args]
        full_env = clean_env(DOCKER_HOST="unix:///var/run/docker.sock", **(env or {}))
    res = subprocess.run(cmd, capture_output=True, text=True, env=full_env, timeout=300)
    print(f"$ {' '.join(cmd)}\n{res.stdout}\n{res.stderr}")
    return res


def doctor_json(kind: str, *args: str, env: dict | None = None) -> tuple[int, dict]:
    res = kindlike(kind, "doctor", "--output", "json", *args, env=env)
    assert "Traceback" not in res.stderr, res.stderr
    doc = json.loads(res.stdout)
    assert [d["name"] for d in doc] == NAMES
    for d in doc:
        assert set(d) == {"name", "status", "message", "fix"} and d["status"] in ("ok", "warn", "fail"), d
        assert "\n" not in d["message"] and "\n" not in d["fix"], d
        if d["status"] != "ok":
            assert d["fix"] or d["name"] == "resource-limits", f"{d['name']}: a warn/fail names its fix"
    return res.returncode, {d["name"]: d for d in doc}


@pytest.fixture(scope="module")
def user_venv():
    if ROOTLESS:
        install_user_venv()


@pytest.fixture
def user_tmp():
    """A directory the rootless user can read (configs, fake host roots)."""
    d = Path(tempfile.mkdtemp(prefix="kindlike-doctor-", dir="/tmp"))
    d.chmod(0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def engine_for(kind: str):
    start_engine(kind)
    return connect(kind)


def assert_nothing_created(eng, name: str) -> None:
    assert eng.list_containers(cluster_labels(name)) == []
    assert eng.list_volumes(cluster_labels(name)) == []
    assert not eng.network_exists(network_name(name))


def assert_no_probe_left(eng) -> None:
    assert eng.list_containers({PROBE_LABEL: None}) == [], "the probe container is removed"


# -- what each check should report, from the host itself ---------------------
def sysctl(key: str) -> str | None:
    try:
        return Path("/proc/sys/" + key.replace(".", "/")).read_text().strip()
    except OSError:
        return None


def cgroup_v2() -> bool:
    return subprocess.run(["stat", "-fc", "%T", "/sys/fs/cgroup"], capture_output=True,
                          text=True).stdout.strip() == "cgroup2fs"


def user_subids(path: str, user: str, uid: int) -> int:
    total = 0
    for line in Path(path).read_text().splitlines():
        parts = line.strip().split(":")
        if len(parts) == 3 and parts[0] in (user, str(uid)) and parts[2].isdigit():
            total += int(parts[2])
    return total


def other_rw(path: str) -> bool:
    return stat.S_IMODE(os.stat(path).st_mode) & 0o006 == 0o006


def expected(kind: str, info) -> dict[str, str]:
    from kindlike.cluster.versions import cgroup_v1_warning
    from kindlike.nodeimage.components import DEFAULT_KUBERNETES

    """name -> status doctor must print for this engine on this host."""
    rootless = kind.startswith("rootless")
    pw = pwd.getpwnam(ROOTLESS_USER) if rootless else pwd.getpwuid(0)
    ok_if = lambda cond, bad="warn": "ok" if cond else bad  # noqa: E731
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    kernel = tuple(int(x) for x in os.uname().release.split(".")[:2])
    tools = [shutil.which(t) for t in ("newuidmap", "newgidmap")]
    exp = {
        "engine": "ok",
        # v1 warns rootless (no limits) and, for a 1.35+ default image, rootful too.
        "cgroup-version": ok_if(cgroup_v2() or (not rootless and not cgroup_v1_warning(DEFAULT_KUBERNETES, 1))),
        "resource-limits": ok_if(info.memory_limit and info.pids_limit),
        "systemd-session": "ok" if not rootless else None,  # checked below
        "xdg-runtime-dir": "ok",  # as-rootless.sh sets it to /run/user/UID, made by setup-host.sh
        "subuid": ok_if(not rootless or user_subids("/etc/subuid", pw.pw_name, pw.pw_uid) >= 65536, "fail"),
        "subgid": ok_if(not rootless or user_subids("/etc/subgid", pw.pw_name, pw.pw_uid) >= 65536, "fail"),
        "newuidmap": ok_if(not rootless or all(t and os.stat(t).st_mode & stat.S_ISUID for t in tools), "fail"),
        "user-namespaces": ok_if(not rootless or int(sysctl("user.max_user_namespaces") or 0) > 0, "fail"),
        "unprivileged-ports": "ok",  # the default config asks for no fixed host port
        "ip-forward": ok_if(sysctl("net.ipv4.ip_forward") == "1"),
        "inotify": ok_if(int(sysctl("fs.inotify.max_user_watches")) >= 524288
                         and int(sysctl("fs.inotify.max_user_instances")) >= 512),
        "nofile": ok_if(soft == resource.RLIM_INFINITY or soft >= 64000),
        "dev-net-tun": ok_if(not rootless or other_rw("/dev/net/tun"), "fail"),
        "dev-fuse": ok_if(not rootless or other_rw("/dev/fuse")),
        "overlayfs": ok_if(not rootless or kernel >= (5, 11), "fail"),
        "podman-pids-limit": "ok" if info.name == "docker" or not info.pids_limit else None,
    }
    if not rootless:
        exp["cgroup-delegation"] = "ok"
    elif not cgroup_v2():
        # v1: the user's directories exist (hack/as-rootless.sh --delegate), but
        # rootless engines apply no limits there: fail unless opted in.
        exp["cgroup-delegation"] = "fail"
    if rootless and not os.path.isdir("/run/systemd/system"):
        exp["systemd-session"] = "warn"
    return {k: v for k, v in exp.items() if v is not None}


def check_against_host(kind: str, eng, got: dict, code: int) -> None:
    info = eng.info()
    exp = expected(kind, info)
    for name, status in exp.items():
        assert got[name]["status"] == status, f"{name}: {got[name]}"
    assert code == (1 if any(d["status"] == "fail" for d in got.values()) else 0)

    mode = "rootless" if kind.startswith("rootless") else "rootful"
    assert got["engine"]["message"].startswith(f"{mode} {info.name} {info.version}")
    assert f"cgroup v{info.cgroup_version}" in got["engine"]["message"]
    if not cgroup_v2():
        assert got["cgroup-version"]["message"].startswith("cgroup v1")
    # the functional probe read the limits back from inside a container
    lim = got["resource-limits"]["message"]
    assert lim.startswith("a container started with --memory 64m --pids-limit 64 sees memory=")
    if got["resource-limits"]["status"] == "ok":
        assert "memory=67108864 pids=64" in lim
    else:
        assert "NOT enforced" in lim and "can use all of the host's memory" in lim
    if kind == "rootful-docker":
        assert got["podman-pids-limit"]["message"] == "not applicable: the engine is docker"
    if got["inotify"]["status"] == "warn":
        # root is given the command without sudo (it may have none)
        sudo = "" if kind == "rootful-docker" else "sudo "
        assert got["inotify"]["fix"].startswith(f"{sudo}sysctl -w fs.inotify.")
    port_start = sysctl("net.ipv4.ip_unprivileged_port_start")
    assert f"net.ipv4.ip_unprivileged_port_start={port_start}" in got["unprivileged-ports"]["message"]


# -- doctor on this machine ---------------------------------------------------
@pytest.mark.skipif("rootful-docker" not in selected_engines(), reason="rootful-docker not selected")
def test_doctor_rootful_docker():
    eng = engine_for("rootful-docker")
    try:
        code, got = doctor_json("rootful-docker")
        check_against_host("rootful-docker", eng, got, code)
        # rootful: the rootless-only checks say they are not needed
        for name in ("subuid", "subgid", "newuidmap", "dev-net-tun", "dev-fuse", "cgroup-delegation"):
            assert got[name]["status"] == "ok", got[name]
        assert "not needed by a rootful engine" in got["subuid"]["message"]
        assert_no_probe_left(eng)
        # the text form: one line per check, then the counts
        res = kindlike("rootful-docker", "doctor")
        lines = res.stdout.splitlines()
        assert [ln.split()[1] for ln in lines[:-1]] == NAMES
        for ln, name in zip(lines, NAMES):
            assert ln.split()[0] == got[name]["status"]
            assert ln.endswith(f"  fix: {got[name]['fix']}") if got[name]["fix"] else True
        counts = {s: sum(1 for d in got.values() if d["status"] == s) for s in ("ok", "warn", "fail")}
        assert lines[-1] == f"{counts['ok']} ok, {counts['warn']} warn, {counts['fail']} fail"
        assert res.returncode == code
    finally:
        eng.close()


@pytest.mark.parametrize("kind", ROOTLESS)
def test_doctor_rootless(kind, user_venv):
    eng = engine_for(kind)
    try:
        code, got = doctor_json(kind)
        check_against_host(kind, eng, got, code)
        uid = pwd.getpwnam(ROOTLESS_USER).pw_uid
        assert got["engine"]["message"].startswith(f"rootless {eng.info().name}")
        assert got["xdg-runtime-dir"]["message"].startswith(f"/run/user/{uid} ")
        assert got["subuid"]["message"].startswith(f"{ROOTLESS_USER}:")
        if not cgroup_v2():
            # the v1 delegation hack/as-rootless.sh made, and why it is not enough
            dirs = subprocess.run([str(REPO / "hack" / "as-rootless.sh"), "--cgroup-dirs"], capture_output=True,
                                  text=True, check=True).stdout.split()
            leaf = {d.rsplit("/", 1)[1] for d in dirs}
            assert len(leaf) == 1 and f"/sys/fs/cgroup/*/{leaf.pop()}" in got["cgroup-delegation"]["message"]
            deleg = got["cgroup-delegation"]
            assert deleg["message"].startswith("cgroup v1: cgroup v2 with delegated controllers is required for "
                                               "resource limits in rootless nodes")
            assert "systemd.unified_cgroup_hierarchy=1" in deleg["fix"]
            assert deleg["fix"].endswith(f"(or run without limits: --allow-no-resource-limits or {OPT_IN}=1)")
            assert code == 1
            # opted in: a warning, the rest unchanged
            code2, got2 = doctor_json(kind, env={OPT_IN: "1"})
            assert got2["cgroup-delegation"]["status"] == "warn"
            assert "continuing WITHOUT resource limits" in got2["cgroup-delegation"]["message"]
            assert code2 == (1 if any(d["status"] == "fail" for d in got2.values()) else 0)
        if kind == "rootless-podman":
            assert got["podman-pids-limit"]["message"].startswith("pids_limit=")
        assert_no_probe_left(eng)
    finally:
        eng.close()


# -- failure paths: doctor's line and the create preflight --------------------
def create_refused(kind: str, eng, *args: str, env: dict | None = None) -> str:
    """Run `create cluster` that the preflight must refuse; return stderr."""
    name = f"pf{uuid.uuid4().hex[:6]}"
    try:
        res = kindlike(kind, "create", "cluster", "--name", name, *args, env=env)
        assert res.returncode == 1, res.stderr
        assert "Traceback" not in res.stderr
        assert "(preflight: nothing was created;" in res.stderr
        assert "Ensuring node image" not in res.stderr and "Preparing nodes" not in res.stderr
        assert_nothing_created(eng, name)
        return res.stderr
    finally:
        delete_cluster(eng, name)  # leaves nothing even when an assertion failed


def one_error(stderr: str, check: dict) -> None:
    """The preflight printed the same one line + fix as doctor."""
    lines = stderr.splitlines()
    line = f"ERROR: {check['name']}: {check['message']}"
    assert line in lines, stderr
    assert lines[lines.index(line) + 1] == f"  fix: {check['fix']}"


def fake_root(base: Path) -> Path:
    root = base / "root"
    root.mkdir()
    root.chmod(0o755)
    return root


@pytest.mark.parametrize("kind", ROOTLESS)
def test_missing_subuid_range(kind, user_venv, user_tmp):
    eng = engine_for(kind)
    try:
        root = fake_root(user_tmp)
        (root / "etc").mkdir(mode=0o755)
        kept = [ln for ln in Path("/etc/subuid").read_text().splitlines()
                if ln.split(":")[0] not in (ROOTLESS_USER, str(pwd.getpwnam(ROOTLESS_USER).pw_uid))]
        (root / "etc" / "subuid").write_text("\n".join(kept + ["someoneelse:100000:65536"]) + "\n")
        (root / "etc" / "subuid").chmod(0o644)
        start = max([100000] + [int(s) + int(c) for _, s, c in (ln.split(":") for ln in kept + ["x:100000:65536"])])
        env = {"KINDLIKE_DOCTOR_ROOT": str(root)}
        code, got = doctor_json(kind, env=env)
        ch = got["subuid"]
        assert code == 1 and ch["status"] == "fail"
        assert ch["message"] == (f"no /etc/subuid range for {ROOTLESS_USER}: rootless engines need >= 65536 "
                                 "subordinate uids (else: 'No subuid ranges found for user')")
        assert ch["fix"] == f"sudo sh -c 'echo \"{ROOTLESS_USER}:{start}:65536\" >> /etc/subuid'"
        assert got["subgid"]["status"] == "ok", "only the overridden file changed"
        stderr = create_refused(kind, eng, "--allow-no-resource-limits", env=env)
        one_error(stderr, ch)
    finally:
        eng.close()


@pytest.mark.parametrize("kind", ROOTLESS)
def test_unreadable_dev_net_tun(kind, user_venv, user_tmp):
    eng = engine_for(kind)
    try:
        root = fake_root(user_tmp)
        (root / "dev" / "net").mkdir(parents=True, mode=0o755)
        (root / "dev").chmod(0o755)
        tun = root / "dev" / "net" / "tun"
        # A device node like the real one, root's and 0600 (mknod needs no
        # open; a regular file stands in where mknod is refused).
        try:
            os.mknod(tun, stat.S_IFCHR | 0o600, os.makedev(10, 200))
        except OSError:
            tun.write_text("")
        tun.chmod(0o600)
        env = {"KINDLIKE_DOCTOR_ROOT": str(root)}
        code, got = doctor_json(kind, env=env)
        ch = got["dev-net-tun"]
        assert code == 1 and ch["status"] == "fail"
        assert ch["message"] == (f"/dev/net/tun mode 0600: {ROOTLESS_USER} cannot read and write it; "
                                 "slirp4netns/rootlesskit need it for the rootless engine's network")
        assert ch["fix"] == "sudo chmod 666 /dev/net/tun"
        assert got["dev-fuse"]["status"] == "ok"
        assert stat.S_IMODE(os.stat("/dev/net/tun").st_mode) == 0o666, "the real device is untouched"
        stderr = create_refused(kind, eng, "--allow-no-resource-limits", env=env)
        one_error(stderr, ch)
    finally:
        eng.close()


PORT80 = """\
kind: Cluster
apiVersion: kind.x-k8s.io/v1alpha4
nodes:
- role: control-plane
  extraPortMappings:
  - containerPort: 80
    hostPort: 80
"""


@pytest.mark.parametrize("kind", ROOTLESS)
def test_privileged_port_below_the_floor(kind, user_venv, user_tmp):
    eng = engine_for(kind)
    try:
        cfg = user_tmp / "port80.yaml"
        cfg.write_text(PORT80)
        cfg.chmod(0o644)
        env = {}
        floor = int(sysctl("net.ipv4.ip_unprivileged_port_start") or 1024)
        if floor <= 80:  # a host that already allows it: show the path with a fake floor
            root = fake_root(user_tmp)
            p = root / "proc/sys/net/ipv4/ip_unprivileged_port_start"
            p.parent.mkdir(parents=True)
            for d in (root / "proc", root / "proc/sys", root / "proc/sys/net", p.parent):
                d.chmod(0o755)
            p.write_text("1024\n")
            p.chmod(0o644)
            env["KINDLIKE_DOCTOR_ROOT"] = str(root)
            floor = 1024
        code, got = doctor_json(kind, "--config", str(cfg), env=env)
        ch = got["unprivileged-ports"]
        assert code == 1 and ch["status"] == "fail"
        assert ch["message"] == (f"host port 80 (nodes[0].extraPortMappings[0].hostPort) is below "
                                 f"net.ipv4.ip_unprivileged_port_start={floor}: a rootless engine cannot expose "
                                 "privileged port 80")
        assert ch["fix"] == "sudo sysctl -w net.ipv4.ip_unprivileged_port_start=80"
        # the opt-in does not cover this one, and its warning still shows
        stderr = create_refused(kind, eng, "--config", str(cfg), env={**env, OPT_IN: "1"})
        one_error(stderr, ch)
        if got["cgroup-delegation"]["status"] != "ok":
            assert "WARNING: cgroup-delegation: " in stderr and "continuing WITHOUT resource limits" in stderr
    finally:
        eng.close()


@pytest.mark.parametrize("kind", ROOTLESS)
def test_create_without_cgroup_v2_delegation_needs_the_opt_in(kind, user_venv):
    eng = engine_for(kind)
    try:
        code, got = doctor_json(kind)
        ch = got["cgroup-delegation"]
        if ch["status"] != "fail":
            pytest.fail(f"this test expects a host without cgroup v2 delegation (like the CI machine): {ch}")
        stderr = create_refused(kind, eng)
        one_error(stderr, ch)
        assert "cgroup v2 with delegated controllers is required for resource limits in rootless nodes" in stderr
        assert "--allow-no-resource-limits" in stderr
    finally:
        eng.close()


@pytest.mark.parametrize("who", ["root", "rootless"])
def test_no_engine_at_all(who, user_venv, user_tmp):
    if who == "rootless":
        if not ROOTLESS:
            pytest.skip("no rootless engine selected")
        start_engine(ROOTLESS[0])  # the rootless user and its runtime dir
    missing = f"unix://{user_tmp}/missing.sock"
    env = {"KINDLIKE_PROVIDER": "docker", "DOCKER_HOST": missing}
    if who == "root":
        cmd = [sys.executable, "-m", "kindlike.cli.main", "doctor", "--output", "json"]
    else:
        cmd = [str(REPO / "hack" / "as-rootless.sh"), "kindlike", "doctor", "--output", "json"]
    res = subprocess.run(cmd, capture_output=True, text=True, env=clean_env(**env), timeout=120)
    print(res.stdout, res.stderr)
    assert res.returncode == 1 and "Traceback" not in res.stderr
    doc = {d["name"]: d for d in json.loads(res.stdout)}
    assert list(doc) == NAMES, "the host checks still run"
    eng_line = doc["engine"]
    assert eng_line["status"] == "fail"
    assert eng_line["message"] == f"cannot reach a Docker daemon: {missing} (no socket)"
    assert eng_line["fix"].startswith(f"unset DOCKER_HOST (nothing answers at {missing}), or start that daemon: ")
    assert doc["resource-limits"]["message"] == "functional probe not run: no container engine"
    # the host checks are those of a rootful (root) or rootless (user) engine
    if who == "root":
        assert "not needed by a rootful engine" in doc["subuid"]["message"]
    else:
        assert doc["subuid"]["message"].startswith(f"{ROOTLESS_USER}:")
    # and the text form says it in one line
    cmd[-2:] = []
    res = subprocess.run(cmd, capture_output=True, text=True, env=clean_env(**env), timeout=120)
    assert res.returncode == 1
    first = res.stdout.splitlines()[0]
    assert first == f"fail  engine             {eng_line['message']}  fix: {eng_line['fix']}"
