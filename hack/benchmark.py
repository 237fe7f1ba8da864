#!/usr/bin/env python3
"""Where does `create cluster` spend its time? Creates and deletes 1-node and
3-node clusters several times and prints each step's median (and min/max)
and the total, per node count; with --kind, kind itself creates the same
clusters from the same node image, interleaved run by run, and the ratio
kindlike/kind of the medians is printed.

    .venv/bin/python hack/benchmark.py [--runs 3] [--nodes 1,3] [--provider docker] [--image IMG]
                                       [--kind PATH-TO-KIND]

Uses the real engine and the default node image (build it first:
`kindlike build node-image`). kind v0.33 (`go install sigs.k8s.io/kind@v0.33.0`)
runs the image with a config that matches it: the kubelet on cgroupfs (as
the image's containerd is), no /kubelet cgroup root (kind's own entrypoint
makes it; ours does not), and failCgroupV1: false on a cgroup v1 host.
Both are timed from the command's start until every node is Ready.
Prints figures; asserts nothing.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from kindlike import constants
from kindlike.config import load_config_text
from kindlike.create.pipeline import CreateOptions, create_cluster
from kindlike.runtime import delete_cluster
from kindlike.engines.detect import get_engine
from kindlike.status import Status


def config_for(nodes: int) -> str:
    roles = ["control-plane"] + ["worker"] * (nodes - 1)
    body = "".join(f"- role: {r}\n" for r in roles)
    return f"kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nnodes:\n{body}"


KIND_PATCH = """\
kubeadmConfigPatches:
- |
  kind: KubeletConfiguration
  cgroupDriver: cgroupfs
  cgroupRoot: /
  failCgroupV1: false
"""


def all_ready(kubectl: str, kubeconfig: Path, nodes: int, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        out = subprocess.run([kubectl, f"--kubeconfig={kubeconfig}", "get", "nodes", "--no-headers"],
                             capture_output=True, text=True).stdout.split("\n")
        if sum(1 for line in out if line.split()[1:2] == ["Ready"]) == nodes:
            return
        time.sleep(0.2)
    raise RuntimeError(f"kind: {nodes} nodes not Ready after {timeout:.0f}s")


def run_kind(kind: str, kubectl: str, nodes: int, image: str, tmp: Path) -> dict[str, float]:
    name = f"kindb{uuid.uuid4().hex[:6]}"
    cfg, kubeconfig = tmp / f"{name}.yaml", tmp / f"{name}.kubeconfig"
    cfg.write_text(config_for(nodes) + KIND_PATCH)
    start = time.monotonic()
    try:
        res = subprocess.run([kind, "create", "cluster", "--name", name, "--image", image, "--config", str(cfg),
                              "--kubeconfig", str(kubeconfig), "--wait", "5m"], capture_output=True, text=True)
        if res.returncode != 0:
            raise RuntimeError(f"kind create failed:\n{res.stderr[-2000:]}")
        all_ready(kubectl, kubeconfig, nodes)
        return {"total (create, --wait)": time.monotonic() - start}
    finally:
        subprocess.run([kind, "delete", "cluster", "--name", name, "--kubeconfig", str(kubeconfig)],
                       capture_output=True)


def run_once(engine, nodes: int, image: str | None, kubeconfig: Path) -> dict[str, float]:
    name = f"bench{uuid.uuid4().hex[:6]}"
    cfg = load_config_text(config_for(nodes), "benchmark").cluster
    status = Status(quiet=True)
    start = time.monotonic()
    try:
        create_cluster(engine, CreateOptions(name=name, config=cfg, image=image, wait=300,
                                             kubeconfig=str(kubeconfig), status=status))
        took = dict(status.durations)
        took["total (create, --wait)"] = time.monotonic() - start
    finally:
        t = time.monotonic()
        delete_cluster(engine, name)
        from kindlike.kubeconfig import remove_cluster_entries

        remove_cluster_entries(name, str(kubeconfig))
    took["delete"] = time.monotonic() - t
    return took


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--nodes", default="1,3", help="comma-separated node counts")
    ap.add_argument("--provider", default=None)
    ap.add_argument("--image", default=None, help=f"node image (default {constants.DEFAULT_NODE_IMAGE})")
    ap.add_argument("--kind", default=None, help="a kind binary: time it too, interleaved, on the same image")
    args = ap.parse_args()
    counts = [int(x) for x in args.nodes.split(",") if x.strip()]
    engine = get_engine(args.provider)
    info = engine.info()
    print(f"engine: {info.name} {info.version} rootless={info.rootless}; runs per size: {args.runs}")
    image = args.image or constants.DEFAULT_NODE_IMAGE
    medians: dict[tuple[str, int], float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        kubeconfig = Path(tmp) / "kubeconfig"
        kubectl = str(Path(tmp) / "kubectl")
        if args.kind:
            subprocess.run([*engine.build_command(), "run", "--rm", "--entrypoint", "cat", image, "/usr/bin/kubectl"],
                           stdout=open(kubectl, "wb"), check=True)
            os.chmod(kubectl, 0o755)
        for n in counts:
            samples: list[dict[str, float]] = []
            kind_samples: list[float] = []
            for i in range(args.runs):
                samples.append(run_once(engine, n, args.image, kubeconfig))
                print(f"  {n}-node run {i + 1}: kindlike {samples[-1]['total (create, --wait)']:.1f}s", file=sys.stderr)
                if args.kind:
                    kind_samples.append(run_kind(args.kind, kubectl, n, image, Path(tmp))["total (create, --wait)"])
                    print(f"  {n}-node run {i + 1}: kind {kind_samples[-1]:.1f}s", file=sys.stderr)
            steps = list(samples[0])
            print(f"\n{n} node{'s' if n > 1 else ''} ({args.runs} runs)   median    min    max")
            for s in steps:
                vals = [x[s] for x in samples if s in x]
                print(f"  {s:<34} {statistics.median(vals):6.1f}s {min(vals):6.1f} {max(vals):6.1f}")
            medians[("kindlike", n)] = statistics.median(x["total (create, --wait)"] for x in samples)
            if kind_samples:
                medians[("kind", n)] = statistics.median(kind_samples)
                print(f"  {'kind create, all nodes Ready':<34} {medians[('kind', n)]:6.1f}s {min(kind_samples):6.1f}"
                      f" {max(kind_samples):6.1f}")
                print(f"  kindlike / kind: {medians[('kindlike', n)] / medians[('kind', n)]:.2f}x")
    if ("kindlike", 1) in medians and ("kindlike", 3) in medians:
        print(f"\nkindlike 3 nodes / 1 node: {medians[('kindlike', 3)] / medians[('kindlike', 1)]:.2f}x")
    engine.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
