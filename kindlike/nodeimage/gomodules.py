"""The node image from Go modules (the default source).

1. The builder image (images/gomod/builder) runs build-components.sh with
   the cache directory bind-mounted at /cache: the Go toolchain, the module
   and build caches, each component's binaries, and one output directory per
   set of versions. When that output exists, no container starts at all.
2. Its build-info.json and kubeadm's image list say what goes in.
3. images/gomod/Dockerfile is built from a context holding images/node,
   images/offline (mkimages.py), images/gomod and bin/.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
import uuid
from pathlib import Path

from kindlike.cluster.versions import kubeadm_api_version
from kindlike.nodeimage import components
from kindlike.nodeimage.files import engine_rootless, link_or_copy, sha256_file
from kindlike.nodeimage.plan import BuildPlan, NodeImageError

SCRIPT = Path("images") / "gomod" / "builder" / "build-components.sh"
# Where build containers find the host's CA certificates (a TLS-inspecting
# proxy between this machine and the module proxy is then trusted there too).
CA_BUNDLES = ("/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt", "/etc/ssl/cert.pem")
PASS_ENV = ("GOPROXY", "GOSUMDB", "GONOSUMDB", "GOPRIVATE", "GONOPROXY", "GOINSECURE",
            "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy")
REQUIRED = ("kubelet", "kubeadm", "kubectl", "kube-apiserver", "kube-controller-manager", "kube-scheduler",
            "kube-proxy", "pause", "etcd", "coredns", "containerd", "ctr", "containerd-shim-runc-v2", "runc",
            "crictl", "bridge", "host-local", "loopback", "portmap", "ptp", "flannel", "flanneld",
            "local-path-provisioner")


def out_dir(build_cache: Path, data: Path, version: str) -> Path:
    return build_cache / "out" / components.out_key(version, sha256_file(data / SCRIPT))


def output_complete(out: Path) -> bool:
    if not (out / "build-info.json").is_file() or not (out / "kubeadm-images.txt").is_file():
        return False
    return all(os.access(out / "bin" / n, os.X_OK) for n in REQUIRED)


def ca_bundle() -> str | None:
    for path in (os.environ.get("SSL_CERT_FILE", ""),) + CA_BUNDLES:
        if path and os.path.isfile(path):
            return path
    return None


def run_builder(cli, engine, plan: BuildPlan, data: Path, build_cache: Path, out: Path, say, *,
                no_cache: bool = False) -> None:
    if not components.GO_SHA256.get(components.go_arch()):
        raise NodeImageError(f"no pinned Go toolchain for {components.go_arch()}",
                             fix="build on linux/amd64, or give a directory of binaries with --kubernetes")
    say(f"building the Go builder image {components.GO_BUILDER_IMAGE}")
    cli.stream(["build", "--force-rm", "-t", components.GO_BUILDER_IMAGE, "--build-arg", f"BASE_IMAGE={plan.base_image}"]
               + (["--no-cache"] if no_cache else []) + [str(data / SCRIPT.parent)],
               what=f"building {components.GO_BUILDER_IMAGE}", timeout=3600)
    name = f"kindlike-go-build-{uuid.uuid4().hex[:8]}"
    args = ["run", "--rm", "--name", name, "-v", f"{build_cache}:/cache"]
    bundle = ca_bundle()
    if bundle:
        args += ["-v", f"{bundle}:/etc/ssl/certs/ca-certificates.crt:ro"]
    env = components.build_env(plan.kubernetes_version or "")
    env.update({k: os.environ[k] for k in PASS_ENV if os.environ.get(k)})
    if os.geteuid() != 0 and not engine_rootless(engine):
        env["KINDLIKE_CHOWN"] = f"{os.getuid()}:{os.getgid()}"
    for k, v in sorted(env.items()):
        args += ["-e", f"{k}={v}"]
    args += [components.GO_BUILDER_IMAGE, out.name]
    say(f"building Kubernetes {plan.kubernetes_version} and the node components from Go modules "
        "(first time: about half an hour on 2 cores; cached after)")
    t = time.monotonic()
    try:
        cli.stream(args, what="building from Go modules in the builder container", timeout=6 * 3600)
    finally:
        cli.run(["rm", "-f", name], timeout=120)
    if not output_complete(out):
        raise NodeImageError(f"the Go modules build left an incomplete {out}")
    say(f"binaries ready in {time.monotonic() - t:.0f} s ({out / 'bin'})")


def build_info(out: Path) -> dict:
    try:
        return json.loads((out / "build-info.json").read_text())
    except (OSError, ValueError) as e:
        raise NodeImageError(f"cannot read {out / 'build-info.json'}: {e}") from e


def kubeadm_images(out: Path) -> list[str]:
    return [l.strip() for l in (out / "kubeadm-images.txt").read_text().splitlines() if l.strip()]


def prepare(cli, engine, plan: BuildPlan, data: Path, build_cache: Path, build_args: dict[str, str], say, ctx: Path,
            *, rebuild: bool = False, no_cache: bool = False) -> Path:
    """Build (or reuse) the binaries, lay out the context in `ctx`, fill the
    build args; returns the Dockerfile."""
    version = plan.kubernetes_version or ""
    out = out_dir(build_cache, data, version)
    if rebuild or not output_complete(out):
        run_builder(cli, engine, plan, data, build_cache, out, say, no_cache=no_cache)
    else:
        say(f"binaries: cached in {out / 'bin'}")
    info = build_info(out)
    refs = kubeadm_images(out)
    sandbox = next((r for r in refs if r.rsplit("/", 1)[-1].startswith("pause:")), "")
    if not sandbox:
        raise NodeImageError(f"kubeadm names no pause image for {version}: {refs}")
    images = refs + components.extra_images()
    say(f"images: {', '.join(images)}")

    (ctx / "images").mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "builder")
    for part in ("node", "offline", "gomod"):
        shutil.copytree(data / "images" / part, ctx / "images" / part, ignore=ignore)
    (ctx / "bin").mkdir()
    for f in sorted((out / "bin").iterdir()):
        link_or_copy(f, ctx / "bin" / f.name)
    shutil.copy2(out / "build-info.json", ctx / "bin" / "build-info.json")
    versions = dict(info.get("versions", {}))
    build_args.update(
        OUT_KEY=out.name,
        KUBERNETES_VERSION=version,
        SANDBOX_IMAGE=sandbox,
        KUBEADM_API=kubeadm_api_version(version),
        FLANNEL_IMAGE=components.flannel_image(),
        LOCAL_PATH_IMAGE=components.local_path_image(),
        LOCAL_PATH_HELPER_IMAGE=components.LOCAL_PATH_HELPER_IMAGE,
        IMAGES=" ".join(images),
        IMAGES_LABEL=",".join(images),
        COMPONENTS_LABEL=",".join(f"{k}={v}" for k, v in sorted(versions.items())),
    )
    build_args["BUILD_KEY"] = build_key(ctx, build_args, base_id=_image_id(cli, plan.base_image))
    return ctx / "images" / "gomod" / "Dockerfile"


def build_key(ctx: Path, build_args: dict[str, str], base_id: str) -> str:
    """Everything the image is made from: the context's files (binaries by
    their build's key, the rest by content), the build args and the base
    image. An image labelled with the same key needs no build at all."""
    h = hashlib.sha256(base_id.encode())
    for k in sorted(build_args):
        h.update(f"{k}={build_args[k]}\0".encode())
    for f in sorted((ctx / "images").rglob("*")):
        if f.is_file():
            h.update(str(f.relative_to(ctx)).encode() + b"\0")
            h.update(f.read_bytes())
    return h.hexdigest()[:24]


def _image_id(cli, ref: str) -> str:
    res = cli.run(["image", "inspect", "--format", "{{.Id}}", ref], timeout=60)
    return res.stdout.strip() if res.returncode == 0 else ""


def up_to_date(cli, image: str, key: str) -> bool:
    """`image` exists and was built from exactly these inputs."""
    res = cli.run(["image", "inspect", "--format", '{{index .Config.Labels "io.kindlike.build-key"}}', image],
                  timeout=60)
    return res.returncode == 0 and res.stdout.strip() == key
