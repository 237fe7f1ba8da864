#!/usr/bin/env python3
"""Time to a usable cluster, the time-to-k8s way (minikube's benchmark):
for each size, create a cluster with `--wait`, then apply a Deployment and
time its pod to Running, then an in-cluster DNS lookup from that pod, then
delete the cluster. kindlike and, with --kind, kind v0.33 run the same
sizes from the same node image, interleaved run by run; medians are printed
with the ratios kindlike/kind and kindlike size/1 node.

    .venv/bin/python hack/benchmark.py [--runs 3] [--sizes 1,1+2,3+1] [--provider docker]
                                       [--image IMG] [--kind PATH-TO-KIND]
    .venv/bin/python hack/benchmark.py --snapshot [--runs 3] [--sizes 1,1+2]

A size is N (one control plane and N-1 workers) or C+W (C control planes
behind the load balancer, W workers).

Per run it prints: the command (start until `create --wait` returns), the
workload (apply until the pod is Running), DNS (until `nslookup
kubernetes.default.svc.cluster.local` run in the pod answers), their total,
and the CPU time the machine spent from the command's start to the answer
(all processes, from /proc/stat: the engine, its containers, the tools).
For kindlike, each step's time as its status lines print it.

The two `--wait`s differ: kindlike's returns once the cluster is usable
(kindlike/cluster/usable.py: nodes Ready, Flannel and kube-proxy on every node, DNS
answering), kind's once its nodes are Ready; the total is what compares.
kind runs the image with a config that matches it: the kubelet on cgroupfs
(as the image's containerd is), no /kubelet cgroup root, failCgroupV1: false
on a cgroup v1 host. Its HA load balancer is Envoy
(docker.io/envoyproxy/envoy); where that image is missing, kind's HA runs
are left out and the reason printed.

--snapshot times warm starts: per size one cluster is created, settled and
saved as a snapshot, then each run times `create cluster --from-snapshot
--wait` plus the same workload and DNS lookup.

Uses the real engine; build the node image first (`kindlike build
node-image`). Prints figures; asserts nothing.
"""
from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from pathlib import Path

from kindlike import constants
from kindlike.nodeimage.components import LOCAL_PATH_HELPER_IMAGE

KIND_ENVOY = "docker.io/envoyproxy/envoy:v1.36.2"
KIND_PATCH = """\
kubeadmConfigPatches:
- |
  kind: KubeletConfiguration
  cgroupDriver: cgroupfs
  cgroupRoot: /
  failCgroupV1: false
"""

# The workload: one pod from an image every node holds (local-path's helper,
# a static busybox), so no registry is on the path.
WORKLOAD = textwrap.dedent(f"""\
    apiVersion: apps/v1
    kind: Deployment
    metadata: {{name: ttk}}
    spec:
      selector: {{matchLabels: {{app: ttk}}}}
      template:
        metadata: {{labels: {{app: ttk}}}}
        spec:
          containers:
          - name: ttk
            image: {LOCAL_PATH_HELPER_IMAGE}
            imagePullPolicy: Never
            command: [sleep, "1000000"]
    """)
LOOKUP = ["busybox", "nslookup", "kubernetes.default.svc.cluster.local"]
STEP_LINE = re.compile(r"✓ (.+?) (\d+(?:\.\d+)?)s$")
TOTALS = ("command", "workload Running", "DNS answering", "total", "CPU (s)")


def roles_for(size: str) -> list[str]:
    if "+" in size:
        cps, workers = (int(x) for x in size.split("+"))
        return ["control-plane"] * cps + ["worker"] * workers
    return ["control-plane"] + ["worker"] * (int(size) - 1)


def config_for(size: str) -> str:
    body = "".join(f"- role: {r}\n" for r in roles_for(size))
    return f"kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nnodes:\n{body}"


def busy_cpu_seconds() -> float:
    """CPU time spent so far by every process on the machine (not idle, not
    waiting for I/O)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    busy = sum(fields[:8]) - fields[3] - fields[4]  # user..steal minus idle and iowait
    return busy / os.sysconf("SC_CLK_TCK")


def step_name(shown: str) -> str:
    """A status line's title without what it adds (the image, the wait's limit)."""
    return re.sub(r" ≤ \S+ for ", " for ", re.sub(r" \(.*\)$", "", shown.strip()))


def run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


def until(what: str, check, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what}: not after {timeout:.0f}s")
        time.sleep(0.1)


def time_to_k8s(create: list[str], kubectl: list[str], env: dict[str, str] | None = None) -> dict[str, float]:
    """Runs `create`, then the workload and the lookup; the figures of one run."""
    cpu, start = busy_cpu_seconds(), time.monotonic()
    res = run(create, env=env)
    if res.returncode != 0:
        raise RuntimeError(f"{' '.join(create[:3])} failed:\n{res.stderr[-3000:]}")
    took = {step_name(m.group(1)): float(m.group(2)) for m in map(STEP_LINE.search, res.stderr.splitlines()) if m}
    took["command"] = time.monotonic() - start
    t = time.monotonic()
    applied = run(kubectl + ["apply", "-f", "-"], input=WORKLOAD)
    if applied.returncode != 0:
        raise RuntimeError(f"applying the workload: {applied.stderr.strip()}")

    def running() -> bool:
        out = run(kubectl + ["get", "pods", "-l", "app=ttk", "-o", "jsonpath={.items[*].status.phase}"]).stdout
        return out.strip() == "Running"

    until("the workload's pod Running", running)
    took["workload Running"] = time.monotonic() - t
    t = time.monotonic()
    until("DNS from the workload's pod",
          lambda: run(kubectl + ["exec", "deploy/ttk", "--", *LOOKUP], timeout=30).returncode == 0)
    took["DNS answering"] = time.monotonic() - t
    took["total"] = time.monotonic() - start
    took["CPU (s)"] = busy_cpu_seconds() - cpu
    return took


class Kindlike:
    label = "kindlike"

    def __init__(self, provider: str | None, image: str | None, tmp: Path, kubectl: str):
        self.cli = [str(Path(sys.executable).with_name("kindlike"))] + (["--provider", provider] if provider else [])
        self.image, self.tmp, self.kubectl = image, tmp, kubectl

    def create(self, size: str, snapshot: str | None = None) -> dict[str, float]:
        name = f"bench{uuid.uuid4().hex[:6]}"
        kubeconfig = self.tmp / f"{name}.kubeconfig"
        if snapshot:
            cmd = [*self.cli, "create", "cluster", "--name", name, "--from-snapshot", snapshot]
        else:
            cfg = self.tmp / f"{name}.yaml"
            cfg.write_text(config_for(size))
            cmd = [*self.cli, "create", "cluster", "--name", name, "--config", str(cfg),
                   *(["--image", self.image] if self.image else [])]
        try:
            return time_to_k8s([*cmd, "--wait", "5m", "--kubeconfig", str(kubeconfig)],
                               [self.kubectl, f"--kubeconfig={kubeconfig}", f"--context=kindlike-{name}"])
        finally:
            run([*self.cli, "delete", "cluster", "--name", name, "--kubeconfig", str(kubeconfig)])


class Kind:
    label = "kind"

    def __init__(self, binary: str, image: str, tmp: Path, kubectl: str):
        self.binary, self.image, self.tmp, self.kubectl = binary, image, tmp, kubectl

    def cannot(self, size: str) -> str | None:
        if len([r for r in roles_for(size) if r == "control-plane"]) > 1:
            if run(["docker", "image", "inspect", KIND_ENVOY]).returncode != 0:
                return f"kind's HA load balancer image {KIND_ENVOY} is not on this machine"
        return None

    def create(self, size: str) -> dict[str, float]:
        name = f"kindb{uuid.uuid4().hex[:6]}"
        cfg, kubeconfig = self.tmp / f"{name}.yaml", self.tmp / f"{name}.kubeconfig"
        cfg.write_text(config_for(size) + KIND_PATCH)
        try:
            return time_to_k8s([self.binary, "create", "cluster", "--name", name, "--image", self.image,
                                "--config", str(cfg), "--kubeconfig", str(kubeconfig), "--wait", "5m"],
                               [self.kubectl, f"--kubeconfig={kubeconfig}"])
        finally:
            run([self.binary, "delete", "cluster", "--name", name, "--kubeconfig", str(kubeconfig)])


def node_kubectl(image: str, tmp: Path, engine_cmd: list[str]) -> str:
    """The node image's own kubectl, copied out: the same client for both tools."""
    path = tmp / "kubectl"
    with open(path, "wb") as out:
        subprocess.run([*engine_cmd, "run", "--rm", "--entrypoint", "cat", image, "/usr/bin/kubectl"],
                       stdout=out, check=True)
    path.chmod(0o755)
    return str(path)


def print_table(title: str, samples: list[dict[str, float]]) -> None:
    print(f"\n{title} ({len(samples)} runs)".ljust(44) + "median    min    max")
    keys = [k for k in samples[0] if k not in TOTALS] + list(TOTALS)
    for k in keys:
        vals = [s[k] for s in samples if k in s]
        if vals:
            print(f"  {k:<40} {statistics.median(vals):6.1f}  {min(vals):6.1f} {max(vals):6.1f}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--sizes", default="1,1+2,3+1", help="comma-separated: N nodes or C+W")
    ap.add_argument("--provider", default=None)
    ap.add_argument("--image", default=None, help=f"node image (default {constants.DEFAULT_NODE_IMAGE})")
    ap.add_argument("--kind", default=None, help="a kind binary: time it too, interleaved, on the same image")
    ap.add_argument("--snapshot", action="store_true", help="time create --from-snapshot instead")
    args = ap.parse_args()
    sizes = [s.strip() for s in args.sizes.split(",") if s.strip()]
    image = args.image or constants.DEFAULT_NODE_IMAGE
    from kindlike.engines.detect import get_engine

    engine = get_engine(args.provider)
    info = engine.info()
    print(f"engine: {info.name} {info.version} rootless={info.rootless}; {os.cpu_count()} CPUs; "
          f"image {image}; runs per size: {args.runs}")
    totals: dict[tuple[str, str], float] = {}
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        kubectl = node_kubectl(image, tmp, engine.build_command())
        ours = Kindlike(args.provider, args.image, tmp, kubectl)
        kind = Kind(args.kind, image, tmp, kubectl) if args.kind else None
        if args.snapshot:
            for size in sizes:
                snapshot_runs(ours, size, args.runs)
            return 0
        for size in sizes:
            why_not = kind.cannot(size) if kind else None
            results: dict[str, list[dict[str, float]]] = {"kindlike": [], "kind": []}
            for i in range(args.runs):
                for tool in [ours] + ([kind] if kind and not why_not else []):
                    took = tool.create(size)
                    results[tool.label].append(took)
                    print(f"  {size} run {i + 1}: {tool.label} total {took['total']:.1f}s "
                          f"(command {took['command']:.1f}s)", file=sys.stderr, flush=True)
            for label, samples in results.items():
                if samples:
                    print_table(f"{label}, {size}", samples)
                    totals[(label, size)] = statistics.median(s["total"] for s in samples)
            if ("kind", size) in totals:
                print(f"  kindlike / kind, total: {totals[('kindlike', size)] / totals[('kind', size)]:.2f}x")
            elif why_not:
                print(f"  kind: not run ({why_not})")
    print()
    for size in sizes:
        if size != "1" and ("kindlike", "1") in totals:
            print(f"kindlike {size} / 1 node, total: {totals[('kindlike', size)] / totals[('kindlike', '1')]:.2f}x")
    engine.close()
    return 0


def snapshot_runs(ours: Kindlike, size: str, runs: int) -> None:
    """Save one settled cluster of `size` as a snapshot, then time copies of it."""
    name, snap = f"bench{uuid.uuid4().hex[:6]}", f"bench-{uuid.uuid4().hex[:6]}"
    cfg = ours.tmp / f"{name}.yaml"
    cfg.write_text(config_for(size))
    kubeconfig = ours.tmp / f"{name}.kubeconfig"
    try:
        run([*ours.cli, "create", "cluster", "--name", name, "--config", str(cfg), "--wait", "5m",
             "--kubeconfig", str(kubeconfig)], check=True)
        # Saved settled: every pod Running, so its images are unpacked (else
        # each copy unpacks them as it boots).
        run([ours.kubectl, f"--kubeconfig={kubeconfig}", "wait", "--for=condition=Ready", "pods", "--all", "-A",
             "--timeout=300s"], check=True)
        t = time.monotonic()
        run([*ours.cli, "snapshot", "save", "--name", name, "--leave-stopped", snap], check=True)
        saved = time.monotonic() - t
        run([*ours.cli, "delete", "cluster", "--name", name, "--kubeconfig", str(kubeconfig)], check=True)
        samples = []
        for i in range(runs):
            samples.append(ours.create(size, snapshot=snap))
            print(f"  {size} from a snapshot, run {i + 1}: total {samples[-1]['total']:.1f}s "
                  f"(command {samples[-1]['command']:.1f}s)", file=sys.stderr, flush=True)
        print(f"\nsnapshot save of {size} (once): {saved:.1f}s")
        print_table(f"kindlike, {size} from a snapshot", samples)
    finally:
        run([*ours.cli, "delete", "cluster", "--name", name, "--kubeconfig", str(kubeconfig)])
        run([*ours.cli, "snapshot", "delete", snap])


if __name__ == "__main__":
    sys.exit(main())
