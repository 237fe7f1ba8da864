"""kindlike.cluster.containerd: kind's containerd config patches and the
user-namespace settings check."""
from __future__ import annotations

import tomllib

import pytest

from kindlike.cluster import containerd
from kindlike.errors import ConfigError

CRI = "io.containerd.grpc.v1.cri"

BASE = f"""\
version = 2

[plugins."{CRI}"]
  sandbox_image = "k8s.gcr.io/pause:3.2"
  restrict_oom_score_adj = true
  [plugins."{CRI}".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."{CRI}".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."{CRI}".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."{CRI}".registry]
    config_path = "/etc/containerd/certs.d"

[grpc]
  max_recv_message_size = 16777216
"""

USERNS_OK = f"""\
version = 2
[plugins."{CRI}"]
  disable_apparmor = true
  restrict_oom_score_adj = true
  disable_hugetlb_controller = true
[plugins."{CRI}".containerd]
  snapshotter = "fuse-overlayfs"
[plugins."{CRI}".containerd.runtimes.runc.options]
  SystemdCgroup = false
"""


def cri(text: str) -> dict:
    return tomllib.loads(text)["plugins"][CRI]


# --------------------------------------------------------------------------- merge patches


def test_no_patches_round_trips_data():
    out = containerd.apply_patches(BASE, [], [])
    assert tomllib.loads(out) == tomllib.loads(BASE)


def test_merge_patch_adds_and_overrides_recursively():
    patch = f"""\
[plugins."{CRI}"]
  disable_apparmor = true
[plugins."{CRI}".containerd]
  snapshotter = "fuse-overlayfs"
"""
    out = cri(containerd.apply_patches(BASE, [patch], []))
    assert out["disable_apparmor"] is True
    assert out["restrict_oom_score_adj"] is True  # kept
    assert out["sandbox_image"] == "k8s.gcr.io/pause:3.2"  # kept
    assert out["containerd"]["snapshotter"] == "fuse-overlayfs"
    assert out["containerd"]["default_runtime_name"] == "runc"  # sibling kept
    assert out["containerd"]["runtimes"]["runc"]["options"]["SystemdCgroup"] is False


def test_kind_registry_mirror_example():
    patch = f"""\
[plugins."{CRI}".registry.mirrors."localhost:5000"]
  endpoint = ["http://kind-registry:5000"]
"""
    out = cri(containerd.apply_patches(BASE, [patch], []))
    assert out["registry"]["mirrors"]["localhost:5000"]["endpoint"] == ["http://kind-registry:5000"]
    assert out["registry"]["config_path"] == "/etc/containerd/certs.d"


def test_merge_patches_apply_in_order_last_wins():
    p1 = f'[plugins."{CRI}"]\nsandbox_image = "a"\n'
    p2 = f'[plugins."{CRI}"]\nsandbox_image = "b"\n'
    assert cri(containerd.apply_patches(BASE, [p1, p2], []))["sandbox_image"] == "b"


def test_arrays_are_replaced_not_merged():
    base = BASE + '\n[plugins."x"]\nlist = [1, 2, 3]\n'
    out = tomllib.loads(containerd.apply_patches(base, ['[plugins."x"]\nlist = [9]\n'], []))
    assert out["plugins"]["x"]["list"] == [9]


def test_patch_for_other_version_is_skipped():
    p = f'version = 3\n[plugins."{CRI}"]\nsandbox_image = "skipped"\n'
    same = f'version = 2\n[plugins."{CRI}"]\nenable_selinux = false\n'
    out = cri(containerd.apply_patches(BASE, [p, same], []))
    assert out["sandbox_image"] == "k8s.gcr.io/pause:3.2"
    assert out["enable_selinux"] is False


def test_types_survive():
    out = tomllib.loads(containerd.apply_patches(BASE, ['[grpc]\nmax_send_message_size = 100\n'], []))
    assert out["grpc"]["max_recv_message_size"] == 16777216
    assert isinstance(out["grpc"]["max_send_message_size"], int)
    assert out["version"] == 2


def test_config_without_version_is_refused():
    with pytest.raises(ConfigError):
        containerd.apply_patches('[plugins.cri]\nx = 1\n', [], [])


def test_invalid_toml_patch_is_reported():
    with pytest.raises(ConfigError) as e:
        containerd.apply_patches(BASE, ["[plugins\nbroken"], [])
    assert "containerdConfigPatches[0]" in e.value.problems[0]


# --------------------------------------------------------------------------- JSON 6902


def test_json6902_yaml_form():
    p = f"""\
- op: replace
  path: /plugins/{CRI}/containerd/snapshotter
  value: fuse-overlayfs
- op: add
  path: /plugins/{CRI}/disable_hugetlb_controller
  value: true
"""
    out = cri(containerd.apply_patches(BASE, [], [p]))
    assert out["containerd"]["snapshotter"] == "fuse-overlayfs"
    assert out["disable_hugetlb_controller"] is True


def test_json6902_json_form_and_escaped_pointer():
    base = BASE + '\n[plugins."a/b"]\nk = "v"\n'
    p = '[{"op": "remove", "path": "/plugins/a~1b/k"}]'
    out = tomllib.loads(containerd.apply_patches(base, [], [p]))
    assert out["plugins"]["a/b"] == {}


def test_json6902_after_merge_patches():
    merge = f'[plugins."{CRI}"]\nsandbox_image = "merged"\n'
    j = f'- op: test\n  path: /plugins/{CRI}/sandbox_image\n  value: merged\n' \
        f'- op: replace\n  path: /plugins/{CRI}/sandbox_image\n  value: final\n'
    assert cri(containerd.apply_patches(BASE, [merge], [j]))["sandbox_image"] == "final"


def test_json6902_failure_is_a_config_error():
    with pytest.raises(ConfigError) as e:
        containerd.apply_patches(BASE, [], ["- op: remove\n  path: /nope\n"])
    assert "containerdConfigPatchesJSON6902[0]" in e.value.problems[0]


def test_json6902_null_cannot_be_written_as_toml():
    with pytest.raises(ConfigError):
        containerd.apply_patches(BASE, [], ["- op: add\n  path: /grpc/x\n  value: null\n"])


# --------------------------------------------------------------------------- user-namespace settings


def test_userns_complete_config_has_nothing_missing():
    assert containerd.userns_settings_present(USERNS_OK) == []


def test_userns_missing_settings_listed():
    missing = containerd.userns_settings_present(BASE)
    joined = "\n".join(missing)
    assert len(missing) == 2
    assert "disable_apparmor = true" in joined
    assert "disable_hugetlb_controller = true" in joined
    assert "restrict_oom_score_adj" not in joined  # present in BASE


def test_userns_patch_fixes_everything():
    patch = f'[plugins."{CRI}"]\ndisable_apparmor = true\ndisable_hugetlb_controller = true\n'
    assert containerd.userns_settings_present(containerd.apply_patches(BASE, [patch], [])) == []


def test_systemd_cgroup_must_match_driver():
    assert containerd.userns_settings_present(USERNS_OK, cgroup_driver="cgroupfs") == []
    missing = containerd.userns_settings_present(USERNS_OK, cgroup_driver="systemd")
    assert len(missing) == 1 and "SystemdCgroup = true" in missing[0]
    on = USERNS_OK.replace("SystemdCgroup = false", "SystemdCgroup = true")
    missing = containerd.userns_settings_present(on, cgroup_driver="cgroupfs")
    assert len(missing) == 1 and "SystemdCgroup = false" in missing[0]


def test_absent_systemd_cgroup_means_false():
    text = USERNS_OK.replace("SystemdCgroup = false", "")
    assert containerd.userns_settings_present(text, "cgroupfs") == []
    assert containerd.cgroup_driver(text) == "cgroupfs"


def test_false_values_count_as_missing():
    text = USERNS_OK.replace("disable_apparmor = true", "disable_apparmor = false")
    assert containerd.userns_settings_present(text) == [f'[plugins."{CRI}"] disable_apparmor = true']


def test_version3_config_paths():
    v3 = """\
version = 3
[plugins."io.containerd.cri.v1.runtime"]
  disable_apparmor = true
  restrict_oom_score_adj = true
[plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc.options]
  SystemdCgroup = true
"""
    missing = containerd.userns_settings_present(v3)
    assert missing[0] == '[plugins."io.containerd.cri.v1.runtime"] disable_hugetlb_controller = true'
    assert "SystemdCgroup = false" in missing[1]
    assert containerd.cgroup_driver(v3) == "systemd"


def test_cgroup_driver_of_config():
    assert containerd.cgroup_driver(BASE) == "cgroupfs"
    assert containerd.cgroup_driver(BASE.replace("SystemdCgroup = false", "SystemdCgroup = true")) == "systemd"
