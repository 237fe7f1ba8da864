"""Per-node CPU and memory (the config's node `kindlike: {cpus, memory}`,
or `create cluster --node-cpus/--node-memory` for every node).

Three parts:
- the engine limits the node container (a CFS quota, a memory limit with no
  extra swap); refused where it cannot enforce them: a rootless engine
  without delegated cgroup v2 controllers (EngineInfo.cpu_limit /
  memory_limit), as on any cgroup v1 host;
- the kubelet is told the node's size: cAdvisor reads the machine's size
  from /proc/meminfo and the online CPUs in /sys, which in a container are
  the host's, so the node gets files saying its own size bind-mounted over
  them before the kubelet starts (a kubelet drop-in, kept across restarts);
- the kubelet reserves for the system a share that grows with the node, as
  managed Kubernetes offerings do (GKE's published scale): CPU 6% of the
  first core, 1% of the next, 0.5% of the next two, 0.25% above; memory 25%
  of the first 4 GiB, 20% of the next 4, 10% of the next 8, 6% of the next
  112, 2% above.
"""
from __future__ import annotations

import math
import re

from kindlike.errors import KindlikeError

_MEMORY = re.compile(r"^(\d+(?:\.\d+)?)\s*(Ki|Mi|Gi|Ti|K|M|G|T|k|B|b)?$")
_UNITS = {None: 1, "B": 1, "b": 1, "Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30, "Ti": 1 << 40,
          "k": 10**3, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}
MIN_MEMORY = 512 << 20  # below this the control plane does not come up
RESOURCES_DIR = "/kind/resources"
DROPIN = "/etc/systemd/system/kubelet.service.d/05-kindlike-resources.conf"


class ResourceError(KindlikeError):
    """Node resources that are malformed or cannot be enforced here."""


def parse_cpus(text: str) -> float:
    """"2", "1.5", "500m" -> CPUs; ValueError when it is none of those."""
    t = str(text).strip()
    value = float(t[:-1]) / 1000 if t.endswith("m") else float(t)
    if not math.isfinite(value) or value <= 0:
        raise ValueError(t)
    return value


def parse_memory(text: str) -> int:
    """"1Gi", "512Mi", "2G", "1073741824" -> bytes; ValueError otherwise."""
    m = _MEMORY.match(str(text).strip())
    if not m:
        raise ValueError(text)
    return int(float(m.group(1)) * _UNITS[m.group(2)])


def problems(cpus: str, memory: str, path: str) -> list[str]:
    """Config problems of one node's values (empty strings: not set)."""
    out = []
    if cpus:
        try:
            parse_cpus(cpus)
        except ValueError:
            out.append(f'{path}.cpus: "{cpus}" is not a CPU count (write e.g. 1, 1.5 or 500m)')
    if memory:
        try:
            size = parse_memory(memory)
        except ValueError:
            out.append(f'{path}.memory: "{memory}" is not a size (write e.g. 1Gi, 1536Mi or 2G)')
        else:
            if size < MIN_MEMORY:
                out.append(f'{path}.memory: "{memory}" is below 512Mi, too little for a node to run the kubelet')
    return out


def refuse_unenforceable(info, config) -> None:
    """One line naming what the engine cannot limit, when a node asks for it."""
    wants_cpu = any(n.cpus for n in config.nodes)
    wants_memory = any(n.memory for n in config.nodes)
    missing = [what for what, want, can in (("CPU", wants_cpu, info.cpu_limit),
                                            ("memory", wants_memory, info.memory_limit)) if want and not can]
    if not missing:
        return
    why = (f"cgroup v{info.cgroup_version} without the {' and '.join(m.lower() for m in missing)} controller "
           "delegated to the user" if info.rootless else "the engine reports no such limit")
    raise ResourceError(f"{' and '.join(missing)} limits for nodes cannot be enforced by {info.name}"
                        f"{' (rootless)' if info.rootless else ''}: {why}",
                        fix="leave out the nodes' cpus/memory (and --node-cpus/--node-memory), or use an engine "
                            "that enforces them (rootful, or rootless on cgroup v2 with delegation: kindlike doctor)")


def _tiers(total: float, tiers: list[tuple[float, float]]) -> float:
    out, left = 0.0, total
    for size, share in tiers:
        part = min(left, size)
        out += part * share
        left -= part
        if left <= 0:
            break
    return out


def reserved(cpus: float, memory: int) -> dict[str, str]:
    """The kubelet's system reservation for a node of this size ({} when
    neither is set: the kubelet's defaults, as before)."""
    out = {}
    if cpus:
        out["cpu"] = f"{max(1, round(1000 * _tiers(cpus, [(1, .06), (1, .01), (2, .005), (math.inf, .0025)])))}m"
    if memory:
        gib = 1 << 30
        mib = _tiers(memory, [(4 * gib, .25), (4 * gib, .2), (8 * gib, .1), (112 * gib, .06), (math.inf, .02)])
        out["memory"] = f"{int(mib) >> 20}Mi"
    return out


def meminfo(host_meminfo: str, memory: int) -> str:
    """The host's /proc/meminfo with the node's size as MemTotal (and no
    more free than that): what cAdvisor, and so the kubelet, reads."""
    kib = memory >> 10
    lines = []
    for line in host_meminfo.splitlines():
        key, _, rest = line.partition(":")
        if key in ("MemTotal", "MemFree", "MemAvailable"):
            have = int(rest.split()[0]) if rest.split() else 0
            line = f"{key}:{max(kib if key == 'MemTotal' else min(have, kib), 0):>16} kB"
        lines.append(line)
    return "\n".join(lines) + "\n"


def online(cpus: float) -> str:
    """/sys/devices/system/cpu/online for a node of `cpus` CPUs (rounded up:
    the kubelet counts whole CPUs; the engine's quota is the exact limit)."""
    n = max(1, math.ceil(cpus))
    return "0" if n == 1 else f"0-{n - 1}"


def dropin(cpus: float, memory: int) -> str:
    mounts = []
    if memory:
        mounts.append(f"{RESOURCES_DIR}/meminfo /proc/meminfo")
    if cpus:
        mounts.append(f"{RESOURCES_DIR}/cpu-online /sys/devices/system/cpu/online")
    lines = ["# written by kindlike: the node's size, as the kubelet must see it", "[Service]"]
    # "+": as root outside the unit's sandboxing; findmnt: once per boot.
    lines += [f"ExecStartPre=+/bin/sh -c 'findmnt -rn {dst} >/dev/null || mount --bind {src} {dst}'"
              for src, dst in (m.split() for m in mounts)]
    return "\n".join(lines) + "\n"


def configure_node(node, cpus: float, memory: int) -> None:
    """Write the node's size files and the kubelet drop-in (before the
    kubelet's first start; systemd is told of the drop-in)."""
    if not cpus and not memory:
        return
    node.exec("mkdir", "-p", RESOURCES_DIR, DROPIN.rsplit("/", 1)[0])
    if memory:
        node.write_file(f"{RESOURCES_DIR}/meminfo", meminfo(node.read_file("/proc/meminfo"), memory))
    if cpus:
        node.write_file(f"{RESOURCES_DIR}/cpu-online", online(cpus) + "\n")
    node.write_file(DROPIN, dropin(cpus, memory))
    node.exec("systemctl", "daemon-reload")


def describe(cpus: float, memory: int) -> str:
    """"2 CPU, 1Gi" for listings; "-" when unlimited."""
    parts = []
    if cpus:
        parts.append(f"{cpus:g} CPU")
    if memory:
        parts.append(f"{memory / (1 << 30):g}Gi" if memory % (1 << 30) == 0 else f"{memory >> 20}Mi")
    return ", ".join(parts) or "-"
