"""Every branch of the doctor's pure checks (kindlike/doctor/checks.py): the
status, the one-line message and the exact fix command."""
from __future__ import annotations

import pytest

from kindlike.config import load_config_text
from kindlike.doctor import checks as c
from kindlike.engines.base import EngineInfo

HYBRID_MOUNTINFO = """\
25 30 0:23 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
31 25 0:26 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:27 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:28 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
34 31 0:29 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
35 31 0:30 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:31 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
37 31 0:32 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
38 31 0:33 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
"""
V2_MOUNTINFO = "30 25 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate\n"
V1_MOUNTINFO = "32 31 0:27 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct\n"
GRUB = c.GRUB_CGROUP2_FIX


def info(**kw) -> EngineInfo:
    base = dict(name="podman", version="4.3.1", rootless=True, cgroup_version=1, cgroup_driver="cgroupfs",
                memory_limit=False, pids_limit=False, cpu_limit=False, endpoint="unix:///run/user/1001/podman.sock")
    base.update(kw)
    return EngineInfo(**base)


def test_for_caller_drops_sudo_for_root():
    ch = c.Check("x", c.WARN, "m", "sudo sysctl -w a=1 && printf 'x' | sudo tee -a /f && pseudo-sudo x")
    assert c.for_caller(ch, 0).fix == "sysctl -w a=1 && printf 'x' | tee -a /f && pseudo-sudo x"
    assert c.for_caller(ch, 1001) is ch
    assert c.for_caller(c.Check("y", c.OK, "m"), 0).fix == ""


def test_check_line_and_dict():
    ch = c.Check("subuid", c.FAIL, "no range", "sudo x", fatal=True)
    assert ch.as_dict() == {"name": "subuid", "status": "fail", "message": "no range", "fix": "sudo x"}
    assert ch.line() == "fail  subuid             no range  fix: sudo x"
    assert "\n" not in ch.line()
    assert c.Check("a", c.OK, "fine").line() == "ok    a                  fine"


# -- engine -----------------------------------------------------------------
def test_engine_ok_rootless_and_rootful():
    ch = c.check_engine(info())
    assert ch.status == c.OK and ch.fatal
    assert ch.message.startswith("rootless podman 4.3.1 at unix:///run/user/1001/podman.sock (cgroup v1")
    assert "memory no, pids no, cpu no" in ch.message
    ch = c.check_engine(info(name="docker", rootless=False, memory_limit=True, pids_limit=True, cpu_limit=True))
    assert ch.message.startswith("rootful docker") and "memory yes, pids yes, cpu yes" in ch.message


def test_engine_missing_is_a_fail_with_the_fix():
    ch = c.check_engine(None, "cannot reach a Docker daemon: unix:///x (no socket)", "sudo dockerd &")
    assert (ch.status, ch.message, ch.fix) == (c.FAIL, "cannot reach a Docker daemon: unix:///x (no socket)",
                                               "sudo dockerd &")
    assert c.check_engine(None).message == "no container engine found"


@pytest.mark.parametrize("kw,fix", [
    (dict(provider="docker", uid=0, systemd=True, have_dockerd=True, have_podman=False), "systemctl enable --now docker"),
    (dict(provider="docker", uid=0, systemd=False, have_dockerd=True, have_podman=False),
     "dockerd > /var/log/dockerd.log 2>&1 &"),
    (dict(provider="docker", uid=0, systemd=False, have_dockerd=False, have_podman=False),
     "apt-get install -y docker.io && dockerd > /var/log/dockerd.log 2>&1 &"),
    (dict(provider="docker", uid=1001, systemd=False, have_dockerd=True, have_podman=False,
          rootless_script="/usr/share/docker.io/contrib/dockerd-rootless.sh"),
     "/usr/share/docker.io/contrib/dockerd-rootless.sh > ~/dockerd-rootless.log 2>&1 &"),
    (dict(provider="docker", uid=1001, systemd=True, have_dockerd=True, have_podman=False),
     "dockerd-rootless-setuptool.sh install && systemctl --user start docker"),
    (dict(provider="docker", uid=1001, systemd=True, have_dockerd=False, have_podman=False),
     "sudo apt-get install -y docker.io rootlesskit slirp4netns uidmap && dockerd-rootless-setuptool.sh install"
     " && systemctl --user start docker"),
    (dict(provider="podman", uid=1001, systemd=False, have_dockerd=True, have_podman=False),
     "sudo apt-get install -y podman uidmap slirp4netns"),
    (dict(provider="podman", uid=0, systemd=False, have_dockerd=True, have_podman=False), "apt-get install -y podman"),
    (dict(provider="podman", uid=1001, systemd=False, have_dockerd=False, have_podman=True),
     "podman system service --time=0 &  (then run `podman info` if it still fails)"),
    (dict(provider=None, uid=1001, systemd=False, have_dockerd=False, have_podman=True),
     "podman system service --time=0 &  (then run `podman info` if it still fails)"),
    (dict(provider="docker", uid=0, systemd=False, have_dockerd=True, have_podman=False, apt=False),
     "dockerd > /var/log/dockerd.log 2>&1 &"),
    (dict(provider="docker", uid=1001, systemd=False, have_dockerd=False, have_podman=False, apt=False),
     "install docker.io rootlesskit slirp4netns uidmap && dockerd-rootless.sh > ~/dockerd-rootless.log 2>&1 &"),
])
def test_engine_fix(kw, fix):
    assert c.engine_fix(kw.pop("provider"), kw.pop("uid"), **kw) == fix


def test_engine_fix_docker_host_and_auto():
    fix = c.engine_fix("docker", 0, systemd=False, have_dockerd=True, have_podman=False,
                       docker_host="unix:///tmp/none.sock")
    assert fix.startswith("unset DOCKER_HOST (nothing answers at unix:///tmp/none.sock), or start that daemon: ")
    fix = c.engine_fix(None, 0, systemd=True, have_dockerd=True, have_podman=True)
    assert fix == "systemctl enable --now docker  (or Podman: podman system service --time=0 &  (then run " \
                  "`podman info` if it still fails))"


# -- cgroups ----------------------------------------------------------------
def test_parse_cgroup_mounts_and_layout():
    mounts = c.parse_cgroup_mounts(HYBRID_MOUNTINFO)
    assert ("/sys/fs/cgroup/memory", "cgroup", frozenset({"memory"})) in mounts
    assert ("/sys/fs/cgroup/systemd", "cgroup", frozenset({"name=systemd"})) in mounts
    assert ("/sys/fs/cgroup/unified", "cgroup2", frozenset()) in mounts
    assert all(m != "/sys" for m, _, _ in mounts)
    assert c.cgroup_layout(mounts) == "hybrid"
    assert c.cgroup_layout(c.parse_cgroup_mounts(V2_MOUNTINFO)) == "v2"
    v1 = c.parse_cgroup_mounts(V1_MOUNTINFO)
    assert v1 == [("/sys/fs/cgroup/cpu,cpuacct", "cgroup", frozenset({"cpu", "cpuacct"}))]
    assert c.cgroup_layout(v1) == "v1"
    assert c.cgroup_layout([]) == "none"
    assert c.parse_cgroup_mounts("garbage\n1 2 3 - x\n") == []


def test_cgroup_version():
    assert c.check_cgroup_version("v2", True).status == c.OK
    ch = c.check_cgroup_version("hybrid", False, "v1.34.4")
    assert ch.status == c.OK and "fine for a rootful engine" in ch.message
    # 1.35+ deprecates cgroup v1: the same line create prints, as a warning.
    from kindlike.cluster.versions import cgroup_v1_warning

    ch = c.check_cgroup_version("hybrid", False, "v1.35.4")
    assert ch.status == c.WARN and ch.message.endswith(cgroup_v1_warning("v1.35.4", 1)) and ch.fix == GRUB
    assert "failCgroupV1: false" in ch.message
    ch = c.check_cgroup_version("hybrid", True)
    assert ch.status == c.WARN and "needs cgroup v2" in ch.message and ch.fix == GRUB
    assert c.check_cgroup_version("v1", True).message.startswith("cgroup v1:")
    ch = c.check_cgroup_version("none", False)
    assert ch.status == c.WARN and ch.fix == "sudo mount -t cgroup2 none /sys/fs/cgroup"
    assert "systemd.unified_cgroup_hierarchy=1" in GRUB and GRUB.startswith("sudo sed -i ")


def deleg(**kw):
    base = dict(rootless=True, layout="v2", user="kindlike")
    base.update(kw)
    return c.check_cgroup_delegation(**base)


def test_delegation_rootful_ok():
    ch = deleg(rootless=False, layout="hybrid")
    assert ch.status == c.OK and ch.fatal


def test_delegation_v2_all_delegated():
    ch = deleg(v2_controllers=["cpuset", "cpu", "io", "memory", "pids", "hugetlb"], v2_path="/sys/fs/cgroup/u")
    assert ch.status == c.OK
    assert ch.message == "delegated to kindlike: cpu cpuset io memory pids (/sys/fs/cgroup/u)"


def test_delegation_v2_missing_required_fails_unless_opted_in():
    ch = deleg(v2_controllers=["memory", "pids"])
    assert ch.status == c.FAIL and ch.fatal
    assert ch.message.startswith("cpu not delegated to kindlike (delegated: memory pids): ")
    assert "cgroup v2 with delegated controllers is required for resource limits in rootless nodes" in ch.message
    assert ch.fix.startswith(c.DELEGATE_FIX)
    assert ch.fix.endswith("(or run without limits: --allow-no-resource-limits or KINDLIKE_ALLOW_NO_RESOURCE_LIMITS=1)")
    ch = deleg(v2_controllers=["memory", "pids"], allow_no_limits=True)
    assert ch.status == c.WARN and ch.fix == c.DELEGATE_FIX
    assert ch.message.endswith("continuing WITHOUT resource limits (--allow-no-resource-limits or "
                               "KINDLIKE_ALLOW_NO_RESOURCE_LIMITS=1)")


def test_delegation_v2_optional_missing_warns():
    ch = deleg(v2_controllers=["cpu", "memory", "pids"])
    assert ch.status == c.WARN and ch.message.startswith("cpuset io not delegated to kindlike")
    assert ch.fix == c.DELEGATE_FIX


def test_delegation_v2_nothing_delegated():
    ch = deleg(v2_controllers=None)
    assert ch.status == c.FAIL and ch.message.startswith("no cgroup v2 subtree is delegated to kindlike: ")
    ch = deleg(v2_controllers=None, systemd=False)
    assert ch.fix.startswith("sudo sh -c 'mkdir -p /sys/fs/cgroup/kindlike && chown -R kindlike: /sys/fs/cgroup/kindlike")
    assert "DELEGATE" not in ch.fix and "subtree_control" in ch.fix


def test_delegation_v1_with_owned_dirs_fails_unless_opted_in():
    owned = {k: f"/sys/fs/cgroup/{k}/kindlike-rootless" for k in ("cpu", "memory", "pids")}
    owned["name=systemd"] = "/sys/fs/cgroup/systemd/kindlike-rootless"
    ch = deleg(layout="hybrid", v1_owned=owned)
    assert ch.status == c.FAIL and ch.fatal
    assert ch.message == ("cgroup v1: cgroup v2 with delegated controllers is required for resource limits in "
                          "rootless nodes; kindlike only owns v1 directories (cpu, memory, name=systemd, pids: "
                          "/sys/fs/cgroup/*/kindlike-rootless), enough for systemd in the nodes, but rootless "
                          "engines apply no limits on v1")
    assert ch.fix == GRUB + "  (or run without limits: --allow-no-resource-limits or KINDLIKE_ALLOW_NO_RESOURCE_LIMITS=1)"
    ch = deleg(layout="hybrid", v1_owned=owned, allow_no_limits=True)
    assert ch.status == c.WARN and "continuing WITHOUT resource limits" in ch.message and ch.fix == GRUB


def test_delegation_v1_single_and_mixed_dirs():
    ch = deleg(layout="v1", v1_owned={"memory": "/sys/fs/cgroup/memory/u"})
    assert "(memory: /sys/fs/cgroup/memory/u)" in ch.message
    ch = deleg(layout="v1", v1_owned={"memory": "/sys/fs/cgroup/memory/a", "pids": "/sys/fs/cgroup/pids/b"})
    assert "/sys/fs/cgroup/memory/a and 1 more" in ch.message


def test_delegation_v1_nothing_owned_fails_even_opted_in():
    for allow in (False, True):
        ch = deleg(layout="hybrid", v1_owned={}, allow_no_limits=allow)
        assert ch.status == c.FAIL and ch.fatal
        assert "no cgroup directory is delegated to kindlike" in ch.message
        assert "Failed to create /init.scope control group" in ch.message
        assert ch.fix == GRUB


def test_delegation_no_cgroupfs():
    ch = deleg(layout="none")
    assert ch.status == c.FAIL and ch.fix.startswith("sudo mount -t cgroup2 none /sys/fs/cgroup")


# -- probe ------------------------------------------------------------------
def test_parse_probe_output():
    assert c.parse_probe_output("memory=67108864\npids=64\n") == ("67108864", "64")
    assert c.parse_probe_output("noise\n") == ("", "")


def probe(**kw):
    return c.ProbeResult(image="kindlike/base:bookworm", **kw)


def test_limits_enforced():
    ch = c.check_resource_limits(probe(memory="67108864", pids="64"), rootless=False, layout="hybrid")
    assert ch.status == c.OK and ch.fix == ""
    assert ch.message == ("a container started with --memory 64m --pids-limit 64 sees memory=67108864 pids=64 "
                          "(kindlike/base:bookworm): limits are enforced")


def test_limits_not_enforced_warns_with_meaning():
    ch = c.check_resource_limits(probe(memory="9223372036854771712", pids="max"), rootless=True, layout="hybrid")
    assert ch.status == c.WARN and ch.fix == GRUB
    assert "memory and pids limits are NOT enforced" in ch.message
    assert "can use all of the host's memory and processes" in ch.message
    ch = c.check_resource_limits(probe(memory="max", pids="64"), rootless=True, layout="v2")
    assert ch.status == c.WARN and "memory limits are NOT" in ch.message and ch.fix == c.DELEGATE_FIX
    ch = c.check_resource_limits(probe(memory="max", pids="64"), rootless=True, layout="v2", systemd=False)
    assert ch.fix == ""
    ch = c.check_resource_limits(probe(memory="none", pids="none"), rootless=False, layout="v1")
    assert ch.status == c.WARN and ch.fix == ""


def test_limits_probe_skipped_or_failed():
    ch = c.check_resource_limits(c.ProbeResult(skipped="no container engine"), rootless=True, layout="v2")
    assert (ch.status, ch.message, ch.fix) == (c.WARN, "functional probe not run: no container engine", "")
    ch = c.check_resource_limits(c.ProbeResult(skipped="no local image to run it with (tried a)"), rootless=True,
                                 layout="v2", engine="podman")
    assert ch.fix == "podman pull docker.io/library/busybox:latest"
    ch = c.check_resource_limits(c.ProbeResult(error="APIError: boom"), rootless=True, layout="v2")
    assert (ch.status, ch.message) == (c.WARN, "functional probe failed: APIError: boom")


# -- systemd, XDG -----------------------------------------------------------
def sd(**kw):
    base = dict(rootless=True, systemd=True, init="systemd", user="kindlike")
    base.update(kw)
    return c.check_systemd_session(**base)


def test_systemd_absent():
    ch = sd(systemd=False, init="process_api")
    assert ch.status == c.WARN and ch.message.startswith("systemd is not running (PID 1 is process_api): ")
    assert "must be started by hand" in ch.message
    ch = sd(systemd=False, init="tini", rootless=False)
    assert ch.status == c.OK and "not needed by a rootful engine" in ch.message


def test_systemd_linger():
    ch = sd(loginctl_rc=0, loginctl_out="State=active\nLinger=yes\n")
    assert (ch.status, ch.message) == (c.OK, "user session active, linger on for kindlike")
    ch = sd(loginctl_rc=0, loginctl_out="State=active\nLinger=no\n")
    assert ch.status == c.WARN and ch.fix == "sudo loginctl enable-linger kindlike"
    assert "linger is off" in ch.message
    assert sd(loginctl_rc=0, loginctl_out="State=active\nLinger=no\n", rootless=False).status == c.OK


def test_systemd_no_session_or_loginctl():
    ch = sd(loginctl_rc=1, loginctl_out="Failed to get user: User ID 1001 is not logged in or lingering\n")
    assert ch.status == c.WARN and ch.fix == "sudo loginctl enable-linger kindlike"
    assert "(Failed to get user: User ID 1001 is not logged in or lingering)" in ch.message
    assert sd(loginctl_rc=1, loginctl_out="", rootless=False).status == c.OK
    ch = sd(loginctl_rc=None)
    assert ch.status == c.WARN and "loginctl is not installed" in ch.message
    assert sd(loginctl_rc=None, rootless=False).status == c.OK


def xdg(**kw):
    base = dict(rootless=True, uid=1001, user="kindlike", group="kindlike", path="/run/user/1001", exists=True,
                owner=1001, mode=0o40700)
    base.update(kw)
    return c.check_xdg_runtime_dir(**base)


def test_xdg_runtime_dir():
    assert xdg().status == c.OK
    assert xdg(rootless=False, path="").status == c.OK
    ch = xdg(path="", exists=False)
    assert ch.status == c.FAIL and ch.fix == ("export XDG_RUNTIME_DIR=/run/user/1001  (after: sudo install -d -m 0700 "
                                              "-o kindlike -g kindlike /run/user/1001)")
    assert xdg(path="", exists=True).fix == "export XDG_RUNTIME_DIR=/run/user/1001"
    ch = xdg(exists=False)
    assert ch.status == c.FAIL and ch.fix == "sudo install -d -m 0700 -o kindlike -g kindlike /run/user/1001"
    ch = xdg(owner=0)
    assert ch.status == c.FAIL and ch.fix == "sudo chown kindlike:kindlike /run/user/1001 && sudo chmod 0700 /run/user/1001"
    ch = xdg(mode=0o40755)
    assert ch.status == c.WARN and "mode 0755" in ch.message and ch.fix == "chmod 0700 /run/user/1001"


# -- subordinate ids --------------------------------------------------------
def test_parse_subid_and_next_free():
    text = "# comment\nkindlike:100000:65536\nbad line\nother:165536:65536\n1005:231072:1000\n"
    entries = c.parse_subid(text)
    assert entries == [("kindlike", 100000, 65536), ("other", 165536, 65536), ("1005", 231072, 1000)]
    assert c.next_free_subid(entries) == 232072
    assert c.next_free_subid([]) == 100000


def test_subid_ok_by_name_and_uid():
    ch = c.check_subid("subuid", rootless=True, text="kindlike:100000:65536\n", user="kindlike", uid=1001)
    assert (ch.status, ch.message, ch.fatal) == (c.OK, "kindlike:100000:65536 (65536 uids)", True)
    ch = c.check_subid("subgid", rootless=True, text="1001:100000:70000\n", user="kindlike", uid=1001)
    assert ch.status == c.OK and ch.message == "kindlike:100000:70000 (70000 gids)"


def test_subid_missing_range():
    ch = c.check_subid("subuid", rootless=True, text="other:100000:65536\n", user="kindlike", uid=1001)
    assert ch.status == c.FAIL and ch.fatal
    assert ch.message == ("no /etc/subuid range for kindlike: rootless engines need >= 65536 subordinate uids "
                          "(else: 'No subuid ranges found for user')")
    assert ch.fix == "sudo sh -c 'echo \"kindlike:165536:65536\" >> /etc/subuid'"
    ch = c.check_subid("subgid", rootless=True, text="", user="kindlike", uid=1001)
    assert ch.fix == "sudo sh -c 'echo \"kindlike:100000:65536\" >> /etc/subgid'"


def test_subid_too_small_and_missing_file():
    ch = c.check_subid("subuid", rootless=True, text="kindlike:100000:1000\n", user="kindlike", uid=1001)
    assert ch.status == c.FAIL
    assert ch.message == "kindlike has 1000 subordinate uids in /etc/subuid (kindlike:100000:1000), fewer than 65536"
    assert ch.fix == "sudo sh -c 'echo \"kindlike:101000:65536\" >> /etc/subuid'"
    ch = c.check_subid("subgid", rootless=True, text=None, user="kindlike", uid=1001)
    assert ch.status == c.FAIL and ch.message.startswith("/etc/subgid does not exist")
    assert ch.fix == "sudo sh -c 'echo \"kindlike:100000:65536\" >> /etc/subgid'"


def test_subid_rootful():
    ch = c.check_subid("subuid", rootless=False, text=None, user="root", uid=0)
    assert ch.status == c.OK and "rootful" in ch.message


def test_idmap_tools():
    good = [c.ToolInfo("newuidmap", "/usr/bin/newuidmap", setuid_root=True),
            c.ToolInfo("newgidmap", "/usr/bin/newgidmap", file_caps=True)]
    ch = c.check_idmap_tools(good, rootless=True)
    assert ch.status == c.OK and "/usr/bin/newgidmap (file capabilities)" in ch.message
    ch = c.check_idmap_tools([c.ToolInfo("newuidmap", None), c.ToolInfo("newgidmap", None)], rootless=True)
    assert ch.status == c.FAIL and ch.fix == "sudo apt-get install -y uidmap"
    assert ch.message.startswith("newuidmap and newgidmap not found")
    ch = c.check_idmap_tools([c.ToolInfo("newuidmap", "/usr/bin/newuidmap"), good[1]], rootless=True)
    assert ch.status == c.FAIL and ch.fix == "sudo chmod u+s /usr/bin/newuidmap"
    assert c.check_idmap_tools([c.ToolInfo("newuidmap", None)], rootless=False).status == c.OK


# -- sysctls ----------------------------------------------------------------
def test_user_namespaces():
    ok = c.check_user_namespaces(rootless=True, max_user_namespaces="96365", unprivileged_userns_clone=None)
    assert (ok.status, ok.message) == (c.OK, "user.max_user_namespaces=96365")
    ch = c.check_user_namespaces(rootless=True, max_user_namespaces="0", unprivileged_userns_clone="0")
    assert ch.status == c.FAIL and ch.fatal
    assert ch.fix == "sudo sysctl -w user.max_user_namespaces=28633 && sudo sysctl -w kernel.unprivileged_userns_clone=1"
    ch = c.check_user_namespaces(rootless=True, max_user_namespaces="100", unprivileged_userns_clone="0")
    assert ch.fix == "sudo sysctl -w kernel.unprivileged_userns_clone=1"
    ch = c.check_user_namespaces(rootless=True, max_user_namespaces="100", unprivileged_userns_clone="1",
                                 apparmor_restrict="1")
    assert ch.status == c.WARN and ch.fix == "sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0"
    ch = c.check_user_namespaces(rootless=True, max_user_namespaces=None, unprivileged_userns_clone=None)
    assert ch.status == c.FAIL and "no user namespaces" in ch.message
    ch = c.check_user_namespaces(rootless=False, max_user_namespaces="0", unprivileged_userns_clone=None)
    assert ch.status == c.OK and "rootful" in ch.message


def cluster(yaml_text: str):
    return load_config_text(yaml_text).cluster


PORT80 = """\
kind: Cluster
apiVersion: kind.x-k8s.io/v1alpha4
nodes:
- role: control-plane
- role: worker
  extraPortMappings:
  - {containerPort: 30080, hostPort: 8080}
  - {containerPort: 80, hostPort: 80}
  - {containerPort: 81, hostPort: 0}
"""


def test_host_ports_from_config():
    assert c.host_ports_from_config(cluster(PORT80)) == [(8080, "nodes[1].extraPortMappings[0].hostPort"),
                                                         (80, "nodes[1].extraPortMappings[1].hostPort")]
    api = cluster("kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nnetworking: {apiServerPort: 443}\n")
    assert c.host_ports_from_config(api) == [(443, "networking.apiServerPort")]


def test_unprivileged_ports():
    ports = c.host_ports_from_config(cluster(PORT80))
    ch = c.check_unprivileged_ports(rootless=True, port_start="1024", host_ports=ports)
    assert ch.status == c.FAIL and ch.fatal
    assert ch.message == ("host port 80 (nodes[1].extraPortMappings[1].hostPort) is below "
                          "net.ipv4.ip_unprivileged_port_start=1024: a rootless engine cannot expose privileged port 80")
    assert ch.fix == "sudo sysctl -w net.ipv4.ip_unprivileged_port_start=80"
    assert c.check_unprivileged_ports(rootless=True, port_start="80", host_ports=ports).status == c.OK
    assert c.check_unprivileged_ports(rootless=False, port_start="1024", host_ports=ports).status == c.OK
    ch = c.check_unprivileged_ports(rootless=True, port_start="1024", host_ports=[])
    assert (ch.status, ch.message) == (c.OK, "no fixed host port asked for (net.ipv4.ip_unprivileged_port_start=1024)")
    # no such sysctl (kernel < 4.11): the floor is 1024
    assert c.check_unprivileged_ports(rootless=True, port_start=None, host_ports=[(443, "x")]).status == c.FAIL


def test_ip_forward():
    assert c.check_ip_forward("1").status == c.OK
    ch = c.check_ip_forward("0")
    assert ch.status == c.WARN and ch.fix == "sudo sysctl -w net.ipv4.ip_forward=1"
    assert c.check_ip_forward(None).status == c.WARN


def test_inotify():
    assert c.check_inotify("524288", "512").status == c.OK
    ch = c.check_inotify("192536", "128")
    assert ch.status == c.WARN
    assert ch.fix == "sudo sysctl -w fs.inotify.max_user_watches=524288 fs.inotify.max_user_instances=512"
    assert "fs.inotify.max_user_watches=192536 < 524288" in ch.message
    ch = c.check_inotify("1000000", "128")
    assert ch.fix == "sudo sysctl -w fs.inotify.max_user_instances=512"
    assert c.check_inotify(None, "512").status == c.WARN


def test_nofile():
    assert c.check_nofile(1048576, 1048576, user="kindlike").status == c.OK
    assert c.check_nofile(-1, -1, user="kindlike").message == "RLIMIT_NOFILE unlimited (hard unlimited)"
    ch = c.check_nofile(1024, 1048576, user="kindlike")
    assert ch.status == c.WARN and ch.fix == "ulimit -n 64000"
    ch = c.check_nofile(20000, 20000, user="kindlike")
    assert ch.status == c.WARN
    assert ch.fix == "sudo sh -c 'echo \"kindlike - nofile 65536\" >> /etc/security/limits.conf'  (then log in again)"


# -- devices, kernel --------------------------------------------------------
@pytest.mark.parametrize("mode,owner,group,uid,gids,ok", [
    (0o20666, 0, 0, 1001, [1001], True),
    (0o20600, 0, 0, 1001, [1001], False),
    (0o20660, 0, 44, 1001, [1001, 44], True),
    (0o20660, 0, 44, 1001, [1001], False),
    (0o20600, 1001, 0, 1001, [1001], True),
    (0o20644, 0, 0, 1001, [1001], False),
    (0o20600, 0, 0, 0, [0], True),
])
def test_can_read_write(mode, owner, group, uid, gids, ok):
    assert c.can_read_write(mode, owner, group, uid, gids) is ok


def test_dev_net_tun():
    ch = c.check_device("dev-net-tun", rootless=True, user="kindlike", exists=True, usable=True, mode=0o20666)
    assert (ch.status, ch.message) == (c.OK, "/dev/net/tun mode 0666: readable and writable by kindlike")
    ch = c.check_device("dev-net-tun", rootless=True, user="kindlike", exists=True, usable=False, mode=0o20600)
    assert ch.status == c.FAIL and ch.fatal and ch.fix == "sudo chmod 666 /dev/net/tun"
    assert ch.message.startswith("/dev/net/tun mode 0600: kindlike cannot read and write it")
    ch = c.check_device("dev-net-tun", rootless=True, user="kindlike", exists=False, usable=False)
    assert ch.status == c.FAIL
    assert ch.fix == "sudo mkdir -p /dev/net && sudo mknod /dev/net/tun c 10 200 && sudo chmod 666 /dev/net/tun"
    ch = c.check_device("dev-net-tun", rootless=False, user="root", exists=True, usable=True, mode=0o20600)
    assert ch.status == c.OK and "rootful" in ch.message


def test_dev_fuse():
    ch = c.check_device("dev-fuse", rootless=True, user="kindlike", exists=True, usable=False, mode=0o20600)
    assert ch.status == c.WARN and ch.fix == "sudo chmod 666 /dev/fuse"
    ch = c.check_device("dev-fuse", rootless=True, user="kindlike", exists=True, usable=False, mode=0o20600,
                        kernel_native_overlay=False)
    assert ch.status == c.FAIL
    ch = c.check_device("dev-fuse", rootless=True, user="kindlike", exists=False, usable=False)
    assert ch.status == c.FAIL and "mknod /dev/fuse c 10 229" in ch.fix


def test_overlayfs():
    assert c.parse_kernel("6.18.44-fc-v657") == (6, 18) and c.parse_kernel("x") is None
    ch = c.check_overlayfs(rootless=True, kernel="6.18.44-fc-v657", fuse_overlayfs=None)
    assert ch.status == c.OK and ">= 5.11" in ch.message
    ch = c.check_overlayfs(rootless=True, kernel="5.10.0-26-amd64", fuse_overlayfs="/usr/bin/fuse-overlayfs")
    assert ch.status == c.WARN and "fuse-overlayfs (/usr/bin/fuse-overlayfs)" in ch.message
    ch = c.check_overlayfs(rootless=True, kernel="5.10.0-26-amd64", fuse_overlayfs=None)
    assert ch.status == c.FAIL and ch.fix == "sudo apt-get install -y fuse-overlayfs"
    assert c.check_overlayfs(rootless=False, kernel="4.19.0", fuse_overlayfs=None).status == c.OK
    assert c.check_overlayfs(rootless=True, kernel="weird", fuse_overlayfs=None).status == c.WARN


# -- Podman pids_limit ------------------------------------------------------
USER_CONF = "/home/kindlike/.config/containers/containers.conf"


def pids(**kw):
    base = dict(engine="podman", rootless=True, confs=[], pids_enforced=True, cgroup_manager="systemd",
                target=USER_CONF, target_text=None)
    base.update(kw)
    return c.check_podman_pids_limit(**base)


def test_podman_pids_not_podman():
    ch = pids(engine="docker")
    assert (ch.status, ch.message) == (c.OK, "not applicable: the engine is docker")


def test_podman_pids_default_warns_with_fix():
    ch = pids()
    assert ch.status == c.WARN and ch.message.startswith("pids_limit=2048 (Podman's default): ")
    assert ch.fix == ("mkdir -p /home/kindlike/.config/containers && printf '[containers]\\npids_limit = 0\\n' >> "
                      + USER_CONF)


def test_podman_pids_from_files_later_wins():
    confs = [("/usr/share/containers/containers.conf", "[containers]\npids_limit = 2048\n"),
             ("/etc/containers/containers.conf", "[engine]\nruntime = \"runc\"\n"),
             (USER_CONF, "[containers]\npids_limit = 0\n")]
    ch = pids(confs=confs)
    assert (ch.status, ch.message) == (c.OK, f"pids_limit=0 ({USER_CONF}): node containers have no pids limit")
    ch = pids(confs=confs[:2], target_text="[containers]\nlog_driver = \"k8s-file\"\n")
    assert ch.status == c.WARN and "(/usr/share/containers/containers.conf)" in ch.message
    assert ch.fix == f"sed -i '/^\\[containers\\]/a pids_limit = 0' {USER_CONF}"
    ch = pids(confs=[(USER_CONF, "[containers]\npids_limit = 4096\n")], target_text="[containers]\npids_limit = 4096\n")
    assert ch.fix == f"sed -i 's/^[[:space:]]*pids_limit[[:space:]]*=.*/pids_limit = 0/' {USER_CONF}"


def test_podman_pids_rootful_fix_and_other_branches():
    ch = pids(rootless=False, target="/etc/containers/containers.conf")
    assert ch.fix == "printf '[containers]\\npids_limit = 0\\n' | sudo tee -a /etc/containers/containers.conf"
    ch = pids(rootless=False, target="/etc/containers/containers.conf", target_text="[containers]\n")
    assert ch.fix == "sudo sed -i '/^\\[containers\\]/a pids_limit = 0' /etc/containers/containers.conf"
    # rootless + cgroupfs: containers/common defaults to no limit
    assert pids(cgroup_manager="cgroupfs").message.startswith("pids_limit=0 (Podman's default)")
    ch = pids(pids_enforced=False)
    assert ch.status == c.OK and "not enforced" in ch.message
    ch = pids(confs=[("/etc/containers/containers.conf", "[containers\n")])
    assert ch.status == c.WARN and ch.message.startswith("/etc/containers/containers.conf is not valid TOML")
    assert pids(confs=[("/x", "[containers]\npids_limit = -1\n")]).status == c.OK
