"""Building node images through the engine's CLI (`engine.build_command()`),
so the same code drives `docker` and `podman`.

Offline flavour:
  1. Kubernetes binaries: built from Debian's `kubernetes` source package in
     the builder image (images/offline/builder), with the Go build cache and
     the binaries in the host cache directory; skipped entirely when the cache
     already holds binaries built by the current build script. Or taken from a
     directory the caller gives.
  2. `kubeadm config images list` names the control-plane images.
  3. A build context (images/node, images/offline, bin/) is assembled and
     images/offline/Dockerfile is built.
Online flavour: the top-level Dockerfile on top of kindest/node.

The image is built under a temporary tag and only tagged with its final names
once the build succeeded; on any failure nothing half-built is left tagged,
and the builder container is removed.
"""
from __future__ import annotations

import collections
import contextlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Callable, Iterable

from kindlike import constants
from kindlike.cluster.versions import kubeadm_api_version, minor, parse_release
from kindlike.errors import KindlikeError
from kindlike.nodeimage import gomodules
from kindlike.nodeimage.files import cache_dir, data_root, engine_rootless, link_or_copy, locked, sha256_file
from kindlike.nodeimage.gomodules import up_to_date
from kindlike.nodeimage.metadata import image_metadata
from kindlike.nodeimage.plan import (
    ALL_BINARIES,
    BUILDER_IMAGE,
    DEBIAN_SOURCE_VERSION,
    GO_MODULES,
    MIN_VERSION,
    BuildPlan,
    NodeImageError,
    check_binaries_dir,
    make_plan,
)
from kindlike.nodeimage.unpacked import unpack_images

Progress = Callable[[str], None]
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


# ------------------------------------------------------------------ places
# ------------------------------------------------------------------ running
class _Cli:
    """Runs engine CLI commands, streaming output to a callback and keeping
    the tail for error messages."""

    def __init__(self, argv0: list[str], output: Progress | None):
        self.argv0 = list(argv0)
        self.output = output
        self.env = dict(os.environ)

    def run(self, args: list[str], *, timeout: float | None = None) -> subprocess.CompletedProcess:
        try:
            return subprocess.run(
                self.argv0 + args, capture_output=True, text=True, timeout=timeout, env=self.env, check=False
            )
        except FileNotFoundError as e:
            raise KindlikeError(f"engine CLI {self.argv0[0]!r} not found", fix="install it or put it on PATH") from e
        except subprocess.TimeoutExpired as e:
            raise KindlikeError(f"{' '.join(self.argv0 + args[:2])} timed out after {timeout:.0f} s") from e

    def stream(self, args: list[str], *, what: str, timeout: float | None = None) -> None:
        """Run, passing each output line on; raise NodeImageError with the
        output's tail when the command fails."""
        tail: collections.deque[str] = collections.deque(maxlen=40)
        try:
            proc = subprocess.Popen(
                self.argv0 + args,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                text=True,
                bufsize=1,
                env=self.env,
            )
        except FileNotFoundError as e:
            raise KindlikeError(f"engine CLI {self.argv0[0]!r} not found", fix="install it or put it on PATH") from e
        deadline = time.monotonic() + timeout if timeout else None
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                line = _ANSI.sub("", line.rstrip("\n"))
                tail.append(line)
                if self.output:
                    self.output(line)
                if deadline and time.monotonic() > deadline:
                    raise NodeImageError(f"{what} timed out after {timeout:.0f} s")
            code = proc.wait()
        finally:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        if code != 0:
            shown = "\n".join(l for l in tail if l.strip())
            raise NodeImageError(f"{what} failed (exit {code}):\n{shown}")


# ------------------------------------------------------------------ checks
def _check_engine(cli: _Cli) -> None:
    res = cli.run(["version"], timeout=60)
    if res.returncode != 0:
        tail = (res.stderr or res.stdout).strip().splitlines()[-3:]
        raise KindlikeError(
            f"the container engine ({' '.join(cli.argv0)}) does not answer: {' '.join(tail)}",
            fix="start the engine (see hack/setup-host.sh) or point DOCKER_HOST/CONTAINER_HOST at it",
        )


def _image_present(cli: _Cli, ref: str) -> bool:
    return cli.run(["image", "inspect", ref], timeout=60).returncode == 0


def _ensure_base(cli: _Cli, plan: BuildPlan, say: Progress) -> None:
    if _image_present(cli, plan.base_image):
        return
    if plan.flavour == "offline":
        engine = os.path.basename(cli.argv0[0])
        raise NodeImageError(
            f"base image {plan.base_image} is not present in the engine (it cannot be pulled: it is built locally)",
            fix=f"build it with images/base/build.sh {engine} (hack/setup-host.sh does it too)",
        )
    say(f"pulling base image {plan.base_image}")
    res = cli.run(["pull", plan.base_image], timeout=1800)
    if res.returncode != 0 or not _image_present(cli, plan.base_image):
        tail = " ".join((res.stderr or res.stdout).strip().splitlines()[-2:])
        raise NodeImageError(
            f"base image {plan.base_image} is not present and cannot be pulled: {tail}",
            fix="connect to its registry (or load it), or build the offline flavour (kubernetes='debian-source')",
        )


# ------------------------------------------------------------------ offline parts
def _binaries_current(out: Path, script: Path) -> bool:
    info = out / "build-info.json"
    if not info.is_file():
        return False
    try:
        data = json.loads(info.read_text())
    except (OSError, ValueError):
        return False
    if data.get("script_sha256") != sha256_file(script) or data.get("only"):
        return False
    return not check_binaries_dir(out / "bin", need_pause=True)


def _run_builder(cli: _Cli, engine, base_image: str, cache: Path, data: Path, say: Progress, *, only_pause: bool,
                 force: bool, no_cache: bool = False) -> None:
    builder_dir = data / "images" / "offline" / "builder"
    say(f"building the Kubernetes builder image {BUILDER_IMAGE}")
    cli.stream(
        ["build", "--force-rm", "-t", BUILDER_IMAGE, "--build-arg", f"BASE_IMAGE={base_image}"]
        + (["--no-cache"] if no_cache else []) + [str(builder_dir)],
        what=f"building {BUILDER_IMAGE}",
        timeout=3600,
    )
    name = f"kindlike-k8s-build-{uuid.uuid4().hex[:8]}"
    args = ["run", "--rm", "--name", name, "-v", f"{cache}:/cache"]
    if os.geteuid() != 0 and not engine_rootless(engine):
        args += ["-e", f"KINDLIKE_CHOWN={os.getuid()}:{os.getgid()}"]
    args.append(BUILDER_IMAGE)
    if only_pause:
        args += ["--only", "pause"]
    if force:
        args.append("--force")
    say("building Kubernetes from Debian's source package (first time: several minutes; cached after)")
    try:
        cli.stream(args, what="building Kubernetes in the builder container", timeout=6 * 3600)
    finally:
        cli.run(["rm", "-f", name], timeout=120)


def _kubeadm_runner(cli: _Cli, bindir: Path, base_image: str) -> Callable[..., subprocess.CompletedProcess]:
    """Run the kubeadm of `bindir`: directly on a linux/amd64 host, else in a
    container of the (linux/amd64) base image."""
    kubeadm = bindir / "kubeadm"
    if sys.platform == "linux" and platform.machine() in ("x86_64", "amd64"):
        def run(*a: str) -> subprocess.CompletedProcess:
            return subprocess.run([str(kubeadm), *a], capture_output=True, text=True, timeout=120, check=False)
    else:
        def run(*a: str) -> subprocess.CompletedProcess:
            return cli.run(["run", "--rm", "-v", f"{bindir}:/kindlike-bin:ro", "--entrypoint", "/kindlike-bin/kubeadm",
                            base_image, *a], timeout=300)
    return run


def _kubeadm_version(run) -> str:
    res = run("version", "-o", "short")
    have = res.stdout.strip()
    if res.returncode != 0 or parse_release(have) is None:
        raise NodeImageError(f"kubeadm does not run or report a version: {(res.stderr or res.stdout).strip()[-300:]}")
    return have


def _kubeadm_images(run, version: str) -> list[str]:
    """The images kubeadm wants for `version` (`kubeadm config images list`)."""
    res = run("config", "images", "list", "--kubernetes-version", version)
    refs = [l.strip() for l in res.stdout.splitlines() if l.strip()]
    if res.returncode != 0 or not refs:
        raise NodeImageError(f"kubeadm config images list failed: {(res.stderr or res.stdout).strip()[-300:]}")
    return refs


def _offline_context(data: Path, ctx: Path, binaries: dict[str, Path]) -> Path:
    (ctx / "images").mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "builder")
    shutil.copytree(data / "images" / "node", ctx / "images" / "node", ignore=ignore)
    shutil.copytree(data / "images" / "offline", ctx / "images" / "offline", ignore=ignore)
    (ctx / "bin").mkdir()
    for name, src in binaries.items():
        link_or_copy(src, ctx / "bin" / name)
    return ctx / "images" / "offline" / "Dockerfile"


def _online_context(data: Path, ctx: Path) -> Path:
    (ctx / "images").mkdir(parents=True)
    shutil.copytree(data / "images" / "node", ctx / "images" / "node",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    shutil.copy2(data / "Dockerfile", ctx / "Dockerfile")
    return ctx / "Dockerfile"


# ------------------------------------------------------------------ entry point
def build_node_image(
    engine,
    *,
    image: str = constants.DEFAULT_NODE_IMAGE,
    flavour: str = "auto",
    kubernetes: str | None = None,
    base_image: str | None = None,
    progress: Progress | None = None,
    output: Progress | None = None,
    cache: str | os.PathLike | None = None,
    no_cache: bool = False,
    rebuild_kubernetes: bool = False,
    extra_build_args: dict[str, str] | None = None,
) -> dict:
    """Build a node image and tag it `image` and kindlike/node:<version>-<flavour>.

    flavour     "auto" or "offline" (built here: from Go modules, Debian's
                source or your binaries), "online" (FROM kindest/node)
    kubernetes  None (the default version), any vX.Y.Z from 1.20 (built from
                Go modules; online: kindest/node's), "debian-source"
                (v1.20.2 from Debian's source package), or a directory
                holding kubelet kubeadm kubectl kube-apiserver
                kube-controller-manager kube-scheduler kube-proxy [pause]
    base_image  offline: the Debian base (kindlike/base:bookworm); online:
                the kindest/node image (pinned by digest for v1.31.4)
    progress    called with one line per step; output: with every line of
                the engine's output (default: kept for error messages only)
    cache       cache directory (default $KINDLIKE_CACHE_DIR, else
                $XDG_CACHE_HOME/kindlike, else ~/.cache/kindlike)

    Returns the image's metadata (see image_metadata) plus "tags" and
    "build_seconds". Raises KindlikeError (NodeImageError) on bad input or a
    failed build; nothing half-built stays tagged.
    """
    say = progress or (lambda _m: None)
    t0 = time.monotonic()
    plan = make_plan(image=image, flavour=flavour, kubernetes=kubernetes, base_image=base_image)
    cli = _Cli(engine.build_command(), output)
    data = data_root()
    _check_engine(cli)
    _ensure_base(cli, plan, say)

    cache_root = Path(cache).expanduser() if cache else cache_dir()
    build_cache = cache_root / "build"
    build_cache.mkdir(parents=True, exist_ok=True)
    build_args: dict[str, str] = {"BASE_IMAGE": plan.base_image}

    with contextlib.ExitStack() as stack:
        if plan.source == GO_MODULES:
            stack.enter_context(locked(build_cache / ".lock"))
            ctx = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="ctx-", dir=build_cache)))
            dockerfile = gomodules.prepare(cli, engine, plan, data, build_cache, build_args, say, ctx,
                                           rebuild=rebuild_kubernetes, no_cache=no_cache)
        elif plan.flavour == "offline":
            stack.enter_context(locked(build_cache / ".lock"))
            dockerfile, ctx = _prepare_offline(cli, engine, plan, data, build_cache, build_args, say, stack,
                                               rebuild=rebuild_kubernetes, no_cache=no_cache)
        else:
            ctx = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="kindlike-ctx-")))
            dockerfile = _online_context(data, ctx)
            build_args["KUBERNETES_VERSION"] = plan.kubernetes_version or ""
        build_args.update(extra_build_args or {})
        plan.tags = _unique([plan.image, plan.flavour_tag])
        key = build_args.get("BUILD_KEY", "")
        if key and not no_cache and _up_to_date(cli, plan, key):
            say(f"image {plan.image} is up to date (same inputs: build key {key})")
        else:
            _build_and_tag(cli, plan, dockerfile, ctx, build_args, no_cache, say)

    meta = image_metadata(engine, plan.image)
    meta["tags"] = plan.tags
    meta["build_seconds"] = round(time.monotonic() - t0, 1)
    say(f"built {', '.join(plan.tags)} in {meta['build_seconds']} s")
    return meta


def _up_to_date(cli: _Cli, plan: BuildPlan, key: str) -> bool:
    """Every tag already names an image built from the same inputs."""
    return all(up_to_date(cli, tag, key) for tag in plan.tags)


def _unique(items: Iterable[str]) -> list[str]:
    out: list[str] = []
    for i in items:
        if i and i not in out:
            out.append(i)
    return out


def _prepare_offline(cli, engine, plan: BuildPlan, data: Path, build_cache: Path, build_args: dict[str, str],
                     say: Progress, stack: contextlib.ExitStack, *, rebuild: bool,
                     no_cache: bool = False) -> tuple[Path, Path]:
    script = data / "images" / "offline" / "builder" / "build-kubernetes.sh"
    debian_out = build_cache / "out" / DEBIAN_SOURCE_VERSION
    binaries: dict[str, Path]
    if plan.source == "debian-source":
        if rebuild or not _binaries_current(debian_out, script):
            t = time.monotonic()
            _run_builder(cli, engine, plan.base_image, build_cache, data, say, only_pause=False, force=rebuild,
                         no_cache=no_cache)
            say(f"Kubernetes binaries ready in {time.monotonic() - t:.0f} s ({debian_out / 'bin'})")
        else:
            say(f"Kubernetes binaries: cached in {debian_out / 'bin'}")
        missing = check_binaries_dir(debian_out / "bin", need_pause=True)
        if missing:
            raise NodeImageError(f"the Kubernetes build left no {', '.join(missing)} in {debian_out / 'bin'}")
        binaries = {n: debian_out / "bin" / n for n in ALL_BINARIES}
        source = "debian-source"
    else:
        assert plan.binaries_dir is not None
        binaries = {n: plan.binaries_dir / n for n in ALL_BINARIES if (plan.binaries_dir / n).is_file()}
        if "pause" not in binaries:
            if not (debian_out / "bin" / "pause").is_file():
                _run_builder(cli, engine, plan.base_image, build_cache, data, say, only_pause=True, force=False)
            binaries["pause"] = debian_out / "bin" / "pause"
        source = "binaries"

    run = _kubeadm_runner(cli, binaries["kubeadm"].parent, plan.base_image)
    have = _kubeadm_version(run)
    version = plan.kubernetes_version or have  # a binaries directory is what its kubeadm says
    if have != version:
        raise NodeImageError(f"kubeadm reports {have}, expected {version}")
    if minor(version) < MIN_VERSION:
        raise NodeImageError(f"the binaries are Kubernetes {version}; kindlike needs 1.20 or newer")
    refs = _kubeadm_images(run, version)
    plan.kubernetes_version = version
    images = [r for r in refs if r.rsplit("/", 1)[-1].split(":")[0] != "coredns"]
    sandbox = next((r for r in images if r.rsplit("/", 1)[-1].startswith("pause:")), "")
    if not sandbox:
        raise NodeImageError(f"kubeadm names no pause image for {version}: {refs}")
    say(f"control-plane images: {', '.join(images)}")

    ctx = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="ctx-", dir=build_cache)))
    dockerfile = _offline_context(data, ctx, binaries)
    build_args.update(
        KUBERNETES_VERSION=version,
        SOURCE=source,
        SANDBOX_IMAGE=sandbox,
        KUBEADM_API=kubeadm_api_version(version),
        IMAGES=" ".join(images),
        IMAGES_LABEL=",".join(images),
    )
    return dockerfile, ctx


def _build_and_tag(cli: _Cli, plan: BuildPlan, dockerfile: Path, ctx: Path, build_args: dict[str, str],
                   no_cache: bool, say: Progress) -> None:
    tmp_tag = f"kindlike/node-build:{uuid.uuid4().hex[:12]}"
    args = ["build", "--force-rm", "-f", str(dockerfile), "-t", tmp_tag]
    for k, v in build_args.items():
        args += ["--build-arg", f"{k}={v}"]
    if no_cache:
        args.append("--no-cache")
    args.append(str(ctx))
    say(f"building the {plan.flavour} node image (Kubernetes {plan.kubernetes_version}) from {plan.base_image}")
    t = time.monotonic()
    try:
        cli.stream(args, what=f"building node image {plan.image}", timeout=4 * 3600)
        unpack_images(cli, tmp_tag, say)
        for tag in plan.tags:
            res = cli.run(["tag", tmp_tag, tag], timeout=120)
            if res.returncode != 0:
                raise NodeImageError(f"tagging {tag} failed: {(res.stderr or res.stdout).strip()}")
    except BaseException:
        # Nothing half-built stays tagged: the temporary tag goes (final tags
        # are only set once the build succeeded).
        cli.run(["rmi", "-f", tmp_tag], timeout=300)
        raise
    # The final names hold the image now; the temporary tag is only a name.
    cli.run(["rmi", tmp_tag], timeout=300)
    say(f"node image built in {time.monotonic() - t:.0f} s")
