#!/usr/bin/env python3
"""Where does `create cluster` spend its time? Creates and deletes 1-node and
3-node clusters several times and prints each step's median (and min/max)
and the total, per node count.

    .venv/bin/python hack/benchmark.py [--runs 3] [--nodes 1,3] [--provider docker] [--image IMG]

Uses the real engine and the default node image (build it first:
`kindlike build node-image`). Prints figures; asserts nothing.
"""
from __future__ import annotations

import argparse
import statistics
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
    args = ap.parse_args()
    counts = [int(x) for x in args.nodes.split(",") if x.strip()]
    engine = get_engine(args.provider)
    info = engine.info()
    print(f"engine: {info.name} {info.version} rootless={info.rootless}; runs per size: {args.runs}")
    with tempfile.TemporaryDirectory() as tmp:
        kubeconfig = Path(tmp) / "kubeconfig"
        for n in counts:
            samples: list[dict[str, float]] = []
            for i in range(args.runs):
                samples.append(run_once(engine, n, args.image, kubeconfig))
                print(f"  {n}-node run {i + 1}: {samples[-1]['total (create, --wait)']:.1f}s", file=sys.stderr)
            steps = list(samples[0])
            print(f"\n{n} node{'s' if n > 1 else ''} ({args.runs} runs)   median    min    max")
            for s in steps:
                vals = [x[s] for x in samples if s in x]
                print(f"  {s:<34} {statistics.median(vals):6.1f}s {min(vals):6.1f} {max(vals):6.1f}")
    engine.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
