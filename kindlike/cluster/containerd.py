"""containerd's config in a node: kind's containerdConfigPatches, and the
settings containerd needs to run in a user namespace.

`apply_patches` follows kind (kubernetes-sigs/kind pkg/internal/patch/toml.go):
the config is read as data ("TOML as JSON"); every merge patch is a TOML
document merged in with JSON merge-patch semantics (RFC 7386: tables merge
recursively, any other value -- arrays included -- replaces); a merge patch
that sets a `version` different from the config's is skipped; then every
JSON 6902 patch (RFC 6902, written as JSON or YAML) is applied to that data;
the result is written back as TOML. kind refuses a config without a
`version`; so does kindlike.

`userns_settings_present` lists what the containerd config lacks of the
settings the Kubernetes task "Running Kubernetes Node Components as a Non-root
User" requires for containerd in a user namespace.
"""
from __future__ import annotations

import tomllib
from collections.abc import Sequence
from typing import Any

import tomli_w

from kindlike.config.patches import PatchError, apply_json6902, apply_merge_patch, parse_json6902
from kindlike.constants import CONTAINERD_CONF
from kindlike.errors import ConfigError

# The CRI plugin's table, by config version (containerd 1.x writes v1/v2,
# containerd 2.x v3, where the runtime half of CRI moved to its own plugin).
CRI_PLUGIN = {
    1: ("plugins", "cri"),
    2: ("plugins", "io.containerd.grpc.v1.cri"),
    3: ("plugins", "io.containerd.cri.v1.runtime"),
}


# ---------------------------------------------------------------------------
# Parsing and writing


def parse(config_toml: str, what: str = "containerd config") -> dict[str, Any]:
    try:
        return tomllib.loads(config_toml)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError([f"{what}: not valid TOML: {e}"], source=what) from None


def dumps(config: dict[str, Any]) -> str:
    try:
        return tomli_w.dumps(config)
    except (TypeError, ValueError) as e:
        # e.g. a JSON 6902 patch put a null in: TOML has no null.
        raise ConfigError([f"patched containerd config cannot be written as TOML: {e}"],
                          source="containerdConfigPatchesJSON6902") from None


def config_version(config: dict[str, Any]) -> int:
    """The config's `version` (0 when unset)."""
    v = config.get("version", 0)
    return v if isinstance(v, int) and not isinstance(v, bool) else 0


# ---------------------------------------------------------------------------
# Public API


def apply_patches(config_toml: str, merge_patches: Sequence[str], json6902_patches: Sequence[str]) -> str:
    """kind's containerdConfigPatches then containerdConfigPatchesJSON6902,
    applied to a containerd config.toml; returns the new TOML text."""
    config = parse(config_toml)
    version = config_version(config)
    if version == 0:
        raise ConfigError(
            [f"{CONTAINERD_CONF} in the node has no `version`; kind's patch rules need it"],
            source="containerd config",
        )
    for n, text in enumerate(merge_patches):
        patch = parse(text, f"containerdConfigPatches[{n}]")
        pv = config_version(patch)
        if pv and pv != version:
            # kind: a patch written for another config version does not apply.
            continue
        config = apply_merge_patch(config, patch)
    for n, text in enumerate(json6902_patches):
        where = f"containerdConfigPatchesJSON6902[{n}]"
        try:
            config = apply_json6902(config, parse_json6902(text))
        except PatchError as e:
            raise ConfigError([f"{where}: {e.message}"], source=where) from None
        if not isinstance(config, dict):
            raise ConfigError([f"{where}: the result is not a table"], source=where)
    return dumps(config)


def _cri_table(config: dict[str, Any]) -> tuple[tuple[str, ...], dict[str, Any]]:
    version = config_version(config) or 1
    path = CRI_PLUGIN.get(version, CRI_PLUGIN[2])
    table: Any = config
    for key in path:
        table = table.get(key) if isinstance(table, dict) else None
    return path, table if isinstance(table, dict) else {}


def _dotted(path: Sequence[str]) -> str:
    return ".".join(f'"{p}"' if "." in p else p for p in path)


def runc_systemd_cgroup(config_toml: str) -> bool:
    """The runc runtime's SystemdCgroup option (containerd's default: false)."""
    _, cri = _cri_table(parse(config_toml))
    opts = (((cri.get("containerd") or {}).get("runtimes") or {}).get("runc") or {}).get("options") or {}
    return bool(opts.get("SystemdCgroup", False))


def cgroup_driver(config_toml: str) -> str:
    """The kubelet cgroupDriver that matches this containerd config."""
    return "systemd" if runc_systemd_cgroup(config_toml) else "cgroupfs"


def userns_settings_present(config_toml: str, cgroup_driver: str = "cgroupfs") -> list[str]:
    """What the config lacks for containerd in a user namespace, one TOML line per
    missing or wrong setting (empty list: all there).

    Required: disable_apparmor, restrict_oom_score_adj, disable_hugetlb_controller
    (all true) in the CRI plugin, and the runc option SystemdCgroup matching the
    kubelet's cgroup driver (false for cgroupfs, the usual choice: the cgroup
    tree is delegated, there is no systemd to ask).
    """
    config = parse(config_toml)
    path, cri = _cri_table(config)
    prefix = _dotted(path)
    missing = []
    for key in ("disable_apparmor", "restrict_oom_score_adj", "disable_hugetlb_controller"):
        if cri.get(key) is not True:
            missing.append(f"[{prefix}] {key} = true")
    want = cgroup_driver == "systemd"
    opts = (((cri.get("containerd") or {}).get("runtimes") or {}).get("runc") or {}).get("options") or {}
    if bool(opts.get("SystemdCgroup", False)) != want:
        missing.append(
            f"[{prefix}.containerd.runtimes.runc.options] SystemdCgroup = {'true' if want else 'false'}"
            f"  (kubelet cgroupDriver is {cgroup_driver})"
        )
    return missing
