"""The functional resource-limits probe: start a tiny container with a memory
and a pids limit and read the limits back from inside it.

An engine may accept a limit and silently not apply it (rootless engines on
cgroup v1: Docker runs "without cgroups", Podman logs "Resource limits are
not supported and ignored on cgroups V1 rootless systems"), so what the
engine reports about itself is not enough.
"""
from __future__ import annotations

from kindlike import constants
from kindlike.doctor.checks import ProbeResult, parse_probe_output
from kindlike.engines.base import ContainerNotCreated

# Images that are likely in a local store already (no registry needed).
PROBE_IMAGES = (
    "kindlike/base:bookworm",
    constants.DEFAULT_NODE_IMAGE,
    "docker.io/library/busybox:latest",
    "busybox:latest",
    "docker.io/library/alpine:latest",
    "docker.io/library/debian:bookworm",
)
PROBE_MEMORY = 64 * 1024 * 1024
PROBE_PIDS = 64
PROBE_LABEL = "io.kindlike.doctor"

# With a private cgroup namespace the container's own cgroup is the root of
# what it sees: memory.max/pids.max on v2, memory/memory.limit_in_bytes and
# pids/pids.max on v1.
SCRIPT = (
    'cg() { for f in "$@"; do if [ -r "$f" ]; then cat "$f"; return; fi; done; echo none; }; '
    'echo "memory=$(cg /sys/fs/cgroup/memory.max /sys/fs/cgroup/memory/memory.limit_in_bytes)"; '
    'echo "pids=$(cg /sys/fs/cgroup/pids.max /sys/fs/cgroup/pids/pids.max)"'
)


def _short(e: BaseException) -> str:
    text = " ".join(str(e).split())
    return f"{type(e).__name__}: {text[:200]}"


def run_probe(engine, images: tuple[str, ...] = PROBE_IMAGES, timeout: int = 60) -> ProbeResult:
    """Run the probe in a container of the first local image; the engine
    removes the container whatever happens."""
    want = dict(want_memory=PROBE_MEMORY, want_pids=PROBE_PIDS)
    try:
        image = next((i for i in images if engine.image_exists(i)), None)
    except Exception as e:  # the engine went away
        return ProbeResult(error=_short(e), **want)
    if image is None:
        return ProbeResult(skipped=f"no local image to run it with (tried {', '.join(images)})", **want)
    try:
        out = engine.run_limited(image, ["sh", "-c", SCRIPT], memory=PROBE_MEMORY, pids=PROBE_PIDS,
                                 labels={PROBE_LABEL: "probe"}, timeout=timeout)
    except ContainerNotCreated as e:
        return ProbeResult(image=image, error=f"cannot create the probe container: {_short(e.__cause__ or e)}", **want)
    except Exception as e:
        return ProbeResult(image=image, error=_short(e), **want)
    memory, pids = parse_probe_output(out)
    if not memory and not pids:
        return ProbeResult(image=image, error=f"no output from the probe container: {out.encode()[:200]!r}", **want)
    return ProbeResult(memory=memory, pids=pids, image=image, **want)
