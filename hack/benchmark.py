#!/usr/bin/env python3
"""Where does `create cluster` spend its time? Creates and deletes 1-node and
3-node clusters several times and prints each step's median (and min/max)
and the total, per node count; with --kind, kind itself creates the same
clusters from the same node image, interleaved run by run, and the ratio
kindlike/kind of the medians is printed.

    .venv/bin/python hack/benchmark.py [--runs 3] [--nodes 1,3,3+1] [--provider docker] [--image IMG]
                                       [--kind PATH-TO-KIND] [--lifecycle] [--snapshot]

A size is a node count (one control plane, the rest workers) or C+W:
C control planes (behind the load balancer when C > 1) and W workers.
--lifecycle also times `stop cluster` and `start cluster` until every node
is Ready again, on each created cluster before it is deleted.
--snapshot times warm starts instead: per size, one cluster is created and
saved as a snapshot (`snapshot save` timed once), then each run creates a
cluster from it (`create cluster --from-snapshot --wait`, from the call until
every node is Ready with a status posted since its start) and deletes it.

Uses the real engine and the default node image (build it first:
`kindlike build node-image`). kind v0.33 (`go install sigs.k8s.io/kind@v0.33.0`)
runs the image with a config that matches it: the kubelet on cgroupfs (as
the image's containerd is), no /kubelet cgroup root (kind's own entrypoint
makes it; ours does not), and failCgroupV1: false on a cgroup v1 host.
Both are timed from the command's start until their `--wait` returns:
kindlike's waits until the cluster is usable (every node Ready, Flannel and
kube-proxy on every node, DNS answering; kindlike/usable.py), kind's until
its nodes are Ready, so kindlike's figure covers more.
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


def roles_for(size: str) -> list[str]:
    if "+" in size:
        cps, workers = (int(x) for x in size.split("+"))
        return ["control-plane"] * cps + ["worker"] * workers
    return ["control-plane"] + ["worker"] * (int(size) - 1)


def config_for(nodes) -> str:
    roles = roles_for(str(nodes))
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
        all_ready(kubectl, kubeconfig, len(roles_for(str(nodes))))
        return {"total (create, --wait)": time.monotonic() - start}
    finally:
        subprocess.run([kind, "delete", "cluster", "--name", name, "--kubeconfig", str(kubeconfig)],
                       capture_output=True)


def run_once(engine, nodes, image: str | None, kubeconfig: Path, lifecycle: bool = False) -> dict[str, float]:
    name = f"bench{uuid.uuid4().hex[:6]}"
    cfg = load_config_text(config_for(nodes), "benchmark").cluster
    status = Status(quiet=True)
    start = time.monotonic()
    try:
        create_cluster(engine, CreateOptions(name=name, config=cfg, image=image, wait=300,
                                             kubeconfig=str(kubeconfig), status=status))
        took = dict(status.durations)
        took["total (create, --wait)"] = time.monotonic() - start
        if lifecycle:
            from kindlike.lifecycle import start_cluster, stop_cluster

            t = time.monotonic()
            stop_cluster(engine, name)
            took["stop cluster"] = time.monotonic() - t
            t = time.monotonic()
            start_cluster(engine, name, wait=300, kubeconfig=str(kubeconfig))
            took["start cluster, nodes Ready"] = time.monotonic() - t
    finally:
        t = time.monotonic()
        delete_cluster(engine, name)
        from kindlike.kubeconfig import remove_cluster_entries

        remove_cluster_entries(name, str(kubeconfig))
    took["delete"] = time.monotonic() - t
    return took


def run_snapshot(engine, nodes, image: str | None, kubeconfig: Path, runs: int) -> None:
    from kindlike import snapshot

    name = f"bench{uuid.uuid4().hex[:6]}"
    snap = f"bench-{uuid.uuid4().hex[:6]}"
    cfg = load_config_text(config_for(nodes), "benchmark").cluster
    try:
        create_cluster(engine, CreateOptions(name=name, config=cfg, image=image, wait=300,
                                             kubeconfig=str(kubeconfig), status=Status(quiet=True)))
        # A settled cluster is what one saves: every pod Running, so its
        # images are unpacked (else each copy unpacks them as it boots).
        from kindlike.create.bootstrap import kubectl
        from kindlike.runtime import control_planes

        kubectl(control_planes(engine, name)[0], "wait", "--for=condition=Ready", "pods", "--all", "-A",
                "--timeout=300s", timeout=320)
        t = time.monotonic()
        snapshot.save(engine, name, snap, restart=False)
        saved = time.monotonic() - t
        delete_cluster(engine, name)
        samples = []
        for i in range(runs):
            copy = f"{name}c{i}"
            status = Status(quiet=True)
            start = time.monotonic()
            try:
                create_cluster(engine, CreateOptions(name=copy, config=cfg, wait=300, kubeconfig=str(kubeconfig),
                                                     status=status, from_snapshot=snap))
                took = dict(status.durations)
                took["total (from snapshot, --wait)"] = time.monotonic() - start
                samples.append(took)
                print(f"  {nodes}-node run {i + 1}: from snapshot {took['total (from snapshot, --wait)']:.1f}s",
                      file=sys.stderr)
            finally:
                delete_cluster(engine, copy)
        print(f"\n{nodes} node{'s' if str(nodes) != '1' else ''} from a snapshot ({runs} runs)   median    min    max")
        print(f"  {'snapshot save (once)':<34} {saved:6.1f}s")
        for s in samples[0]:
            vals = [x[s] for x in samples if s in x]
            print(f"  {s:<34} {statistics.median(vals):6.1f}s {min(vals):6.1f} {max(vals):6.1f}")
    finally:
        delete_cluster(engine, name)
        if snapshot.find(engine, snap) is not None:
            snapshot.delete(engine, snap)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--nodes", default="1,3", help="comma-separated node counts")
    ap.add_argument("--provider", default=None)
    ap.add_argument("--image", default=None, help=f"node image (default {constants.DEFAULT_NODE_IMAGE})")
    ap.add_argument("--kind", default=None, help="a kind binary: time it too, interleaved, on the same image")
    ap.add_argument("--lifecycle", action="store_true", help="also time stop cluster and start cluster")
    ap.add_argument("--snapshot", action="store_true", help="time create --from-snapshot instead")
    args = ap.parse_args()
    counts = [x.strip() for x in args.nodes.split(",") if x.strip()]
    engine = get_engine(args.provider)
    info = engine.info()
    print(f"engine: {info.name} {info.version} rootless={info.rootless}; runs per size: {args.runs}")
    image = args.image or constants.DEFAULT_NODE_IMAGE
    medians: dict[tuple[str, int], float] = {}
    if args.snapshot:
        with tempfile.TemporaryDirectory() as tmp:
            for n in counts:
                run_snapshot(engine, n, args.image, Path(tmp) / "kubeconfig", args.runs)
        engine.close()
        return 0
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
                samples.append(run_once(engine, n, args.image, kubeconfig, args.lifecycle))
                print(f"  {n}-node run {i + 1}: kindlike {samples[-1]['total (create, --wait)']:.1f}s", file=sys.stderr)
                if args.kind:
                    kind_samples.append(run_kind(args.kind, kubectl, n, image, Path(tmp))["total (create, --wait)"])
                    print(f"  {n}-node run {i + 1}: kind {kind_samples[-1]:.1f}s", file=sys.stderr)
            steps = list(samples[0])
            print(f"\n{n} node{'s' if n != '1' else ''} ({args.runs} runs)   median    min    max")
            for s in steps:
                vals = [x[s] for x in samples if s in x]
                print(f"  {s:<34} {statistics.median(vals):6.1f}s {min(vals):6.1f} {max(vals):6.1f}")
            medians[("kindlike", n)] = statistics.median(x["total (create, --wait)"] for x in samples)
            if kind_samples:
                medians[("kind", n)] = statistics.median(kind_samples)
                print(f"  {'kind create, all nodes Ready':<34} {medians[('kind', n)]:6.1f}s {min(kind_samples):6.1f}"
                      f" {max(kind_samples):6.1f}")
                print(f"  kindlike / kind: {medians[('kindlike', n)] / medians[('kind', n)]:.2f}x")
    if ("kindlike", "1") in medians:
        for n in counts[1:] if counts[0] == "1" else counts:
            if n != "1":
                print(f"\nkindlike {n} nodes / 1 node: {medians[('kindlike', n)] / medians[('kindlike', '1')]:.2f}x")
    engine.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
