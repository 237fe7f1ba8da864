#!/usr/bin/env python3
"""mkimages: make the control-plane images kubeadm expects as image archives,
from local files only (no registry, no container engine).

Each archive is readable both as an OCI image layout (index.json, used by
`ctr images import`) and as a `docker save` archive (manifest.json, used by
`docker load` / `podman load`). One gzip layer per image, byte-reproducible:
sorted entries, uid/gid 0, mtime 0, gzip header without time or name.

usage: mkimages.py --bin DIR --out DIR IMAGE_REF...

IMAGE_REF is what kubeadm names an image (`kubeadm config images list`);
the last path element before the tag says what goes in:

  kube-apiserver, kube-controller-manager, kube-scheduler
        the static binary from --bin at /usr/local/bin/
  kube-proxy
        the binary plus iptables (legacy and nft) and conntrack from this
        system, with their libraries, and an iptables wrapper that picks the
        backend the node uses
  etcd  etcd from --bin (static), else /usr/bin/etcd of this system (Debian's
        etcd-server) with its libraries
  pause /pause from --bin
  coredns  /coredns from --bin (skipped when --bin has none)
  flannel  /opt/bin/flanneld from --bin, iptables as for kube-proxy, busybox
  local-path-provisioner  the binary from --bin
  local-path-helper  busybox only (the provisioner's helper pods)
"""
from __future__ import annotations

import argparse
import concurrent.futures
import gzip
import hashlib
import io
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tarfile
import tempfile

PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
HERE = os.path.dirname(os.path.abspath(__file__))
MEDIA_OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MEDIA_OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
MEDIA_OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
MEDIA_OCI_INDEX = "application/vnd.oci.image.index.v1+json"
STATIC_COMPONENTS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler")
IPTABLES_NAMES = (
    "iptables", "iptables-save", "iptables-restore",
    "ip6tables", "ip6tables-save", "ip6tables-restore",
)


class Rootfs:
    """A set of files to put in a layer: path in image -> source on this system
    (regular file), symlink target, or directory."""

    def __init__(self) -> None:
        self.files: dict[str, str] = {}  # image path -> host path
        self.data: dict[str, tuple[bytes, int]] = {}  # image path -> (content, mode)
        self.links: dict[str, str] = {}  # image path -> link target
        self.dirs: dict[str, int] = {}  # image path -> mode

    def add_dir(self, path: str, mode: int = 0o755) -> None:
        self.dirs[path.strip("/")] = mode

    def add_data(self, path: str, content: bytes, mode: int = 0o644) -> None:
        self.data[path.strip("/")] = (content, mode)

    def add_file(self, path: str, src: str) -> None:
        self.files[path.strip("/")] = src

    def add_link(self, path: str, target: str) -> None:
        self.links[path.strip("/")] = target

    def add_host_path(self, path: str) -> None:
        """Add a path of this system at the same place, with every symlink met
        on the way to the real file (e.g. /lib -> usr/lib, libX.so.1 -> libX.so.1.2)."""
        seen = 0
        todo = os.path.normpath(path)
        while True:
            seen += 1
            if seen > 40:
                raise RuntimeError(f"too many symlinks resolving {path}")
            parts = todo.strip("/").split("/")
            cur = ""
            for i, part in enumerate(parts):
                cur = f"{cur}/{part}"
                if os.path.islink(cur):
                    target = os.readlink(cur)
                    self.add_link(cur, target)
                    base = os.path.dirname(cur)
                    resolved = os.path.normpath(os.path.join(base, target))
                    todo = os.path.normpath("/".join([resolved] + parts[i + 1:]))
                    break
            else:
                if os.path.isdir(todo):
                    self.add_dir(todo)
                else:
                    self.add_file(todo, todo)
                return

    def add_elf_with_libs(self, path: str, at: str | None = None) -> None:
        """An executable or library and the shared libraries it loads."""
        if at:
            self.add_file(at, path)
        else:
            self.add_host_path(path)
        for lib in shared_libs(path):
            self.add_host_path(lib)

    def entries(self) -> list[tuple[str, str, object]]:
        out: dict[str, tuple[str, object]] = {}
        # parent directories of everything
        every = list(self.files) + list(self.data) + list(self.links) + list(self.dirs)
        for p in every:
            parts = p.split("/")[:-1]
            for i in range(1, len(parts) + 1):
                d = "/".join(parts[:i])
                if d not in self.links:
                    out.setdefault(d, ("dir", 0o755))
        for p, mode in self.dirs.items():
            out[p] = ("dir", mode)
        for p, target in self.links.items():
            out[p] = ("link", target)
        for p, src in self.files.items():
            if p not in self.links:
                out[p] = ("file", src)
        for p, (content, mode) in self.data.items():
            out[p] = ("data", (content, mode))
        return [(p, kind, v) for p, (kind, v) in sorted(out.items())]


def shared_libs(path: str) -> list[str]:
    """Libraries (and the loader) an ELF file needs, from ldd; [] when static."""
    try:
        res = subprocess.run(["ldd", path], capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise SystemExit("mkimages: ldd not found (libc-bin)")
    out = []
    for line in res.stdout.splitlines():
        line = line.strip()
        m = re.match(r"^\S+ => (/\S+) \(0x[0-9a-f]+\)$", line)
        if m:
            out.append(m.group(1))
            continue
        m = re.match(r"^(/\S+) \(0x[0-9a-f]+\)$", line)
        if m:
            out.append(m.group(1))
    return out


def skeleton(fs: Rootfs) -> None:
    """What every image but pause gets: users, name service, /tmp."""
    fs.add_data("etc/passwd", b"root:x:0:0:root:/root:/sbin/nologin\n"
                b"nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n")
    fs.add_data("etc/group", b"root:x:0:\nnogroup:x:65534:\n")
    fs.add_data("etc/nsswitch.conf", b"hosts: files dns\nnetworks: files\nprotocols: files\nservices: files\n")
    fs.add_dir("tmp", 0o1777)
    fs.add_dir("root", 0o700)
    fs.add_dir("run")
    fs.add_link("var/run", "../run")
    for f in ("/etc/protocols", "/etc/services", "/etc/ethertypes"):
        if os.path.isfile(f):
            fs.add_file(f, f)


def merged_usr_links(fs: Rootfs) -> None:
    """Merged /usr: keep /bin, /sbin, /lib, /lib64 as the links they are here."""
    for top in ("bin", "sbin", "lib", "lib64"):
        if os.path.islink(f"/{top}"):
            fs.add_link(top, os.readlink(f"/{top}"))


def add_iptables(fs: Rootfs) -> None:
    """iptables (legacy and nft, behind iptables-wrapper) and conntrack of
    this system, with their libraries and extensions."""
    merged_usr_links(fs)
    for exe in ("/usr/sbin/xtables-legacy-multi", "/usr/sbin/xtables-nft-multi", "/usr/sbin/conntrack"):
        fs.add_elf_with_libs(exe)
    xt = "/usr/lib/x86_64-linux-gnu/xtables"
    for name in sorted(os.listdir(xt)):
        if name.endswith(".so"):
            fs.add_elf_with_libs(os.path.join(xt, name))
    fs.add_file("usr/sbin/iptables-wrapper", os.path.join(HERE, "iptables-wrapper"))
    for name in IPTABLES_NAMES:
        fs.add_link(f"usr/sbin/{name}", "iptables-wrapper")
        for mode in ("legacy", "nft"):
            fs.add_link(f"usr/sbin/{name.replace('tables', 'tables-' + mode, 1)}", f"xtables-{mode}-multi")


BUSYBOX_APPLETS = ("sh", "cp", "mkdir", "rm", "ls", "cat", "chmod", "mv", "sleep", "test", "[")


def add_busybox(fs: Rootfs) -> None:
    """Debian's static busybox as /bin/busybox with the applets scripts use
    (a real /usr/bin/sh may already be there: it is kept)."""
    merged_usr_links(fs)
    fs.add_file("usr/bin/busybox", "/bin/busybox")
    for applet in BUSYBOX_APPLETS:
        if not (applet == "sh" and "usr/bin/sh" in fs.links):
            fs.add_link(f"usr/bin/{applet}", "busybox")


def rootfs_for(component: str, bindir: str) -> tuple[Rootfs, dict]:
    fs = Rootfs()
    config: dict = {"Env": [PATH_ENV]}
    if component in STATIC_COMPONENTS:
        skeleton(fs)
        fs.add_file(f"usr/local/bin/{component}", os.path.join(bindir, component))
        config["Entrypoint"] = [f"/usr/local/bin/{component}"]
    elif component == "kube-proxy":
        skeleton(fs)
        fs.add_file("usr/local/bin/kube-proxy", os.path.join(bindir, "kube-proxy"))
        add_iptables(fs)
        fs.add_elf_with_libs("/usr/bin/dash")
        fs.add_link("usr/bin/sh", "dash")
        if not os.path.islink("/bin"):
            fs.add_link("bin/sh", "/usr/bin/dash")
        # kube-proxy's DaemonSet mounts the host's /lib/modules here.
        if os.path.islink("/lib"):
            fs.add_dir("usr/lib/modules")
        else:
            fs.add_dir("lib/modules")
        config["Entrypoint"] = ["/usr/local/bin/kube-proxy"]
    elif component == "etcd":
        skeleton(fs)
        if os.path.isfile(os.path.join(bindir, "etcd")):  # static, built from Go modules
            fs.add_file("usr/local/bin/etcd", os.path.join(bindir, "etcd"))
        else:  # Debian's etcd-server
            merged_usr_links(fs)
            fs.add_elf_with_libs("/usr/bin/etcd", at="usr/local/bin/etcd")
            if os.path.exists("/usr/bin/etcdctl"):
                fs.add_elf_with_libs("/usr/bin/etcdctl", at="usr/local/bin/etcdctl")
        fs.add_dir("var/lib/etcd", 0o700)
        config["Entrypoint"] = ["/usr/local/bin/etcd"]
    elif component == "coredns":
        skeleton(fs)
        fs.add_file("coredns", os.path.join(bindir, "coredns"))
        config["Entrypoint"] = ["/coredns"]
        config["ExposedPorts"] = {"53/tcp": {}, "53/udp": {}}
    elif component == "flannel":
        # flanneld programs iptables (--ip-masq) and its DaemonSet's init
        # container copies the CNI config with `cp`: iptables as kube-proxy
        # has it, plus busybox for the shell tools.
        skeleton(fs)
        add_iptables(fs)
        add_busybox(fs)
        fs.add_file("opt/bin/flanneld", os.path.join(bindir, "flanneld"))
        config["Entrypoint"] = ["/opt/bin/flanneld"]
    elif component == "local-path-provisioner":
        skeleton(fs)
        fs.add_file("usr/bin/local-path-provisioner", os.path.join(bindir, "local-path-provisioner"))
        config["Entrypoint"] = ["/usr/bin/local-path-provisioner"]
    elif component == "local-path-helper":
        # The provisioner's helper pods run `sh -c "mkdir ..."` / `rm -rf`.
        skeleton(fs)
        add_busybox(fs)
        config["Entrypoint"] = ["/bin/sh"]
    elif component == "pause":
        fs.add_file("pause", os.path.join(bindir, "pause"))
        config = {"Env": [PATH_ENV], "Entrypoint": ["/pause"]}
    else:
        raise SystemExit(f"mkimages: do not know how to make an image for {component!r}")
    return fs, config


def write_layer(fs: Rootfs, dest: str) -> tuple[str, str, int]:
    """Write the gzip layer; returns (diff_id, digest, size)."""
    raw = hashlib.sha256()
    with open(dest, "wb") as f:
        zipped = HashingWriter(f)
        with gzip.GzipFile(filename="", mode="wb", fileobj=zipped, mtime=0, compresslevel=6) as gz:
            plain = HashingWriter(gz, raw)
            with tarfile.open(fileobj=plain, mode="w|", format=tarfile.PAX_FORMAT) as tar:
                for path, kind, v in fs.entries():
                    ti = tarfile.TarInfo(path)
                    ti.uid = ti.gid = 0
                    ti.uname = ti.gname = ""
                    ti.mtime = 0
                    if kind == "dir":
                        ti.type = tarfile.DIRTYPE
                        ti.mode = int(v)
                        tar.addfile(ti)
                    elif kind == "link":
                        ti.type = tarfile.SYMTYPE
                        ti.linkname = str(v)
                        ti.mode = 0o777
                        tar.addfile(ti)
                    elif kind == "data":
                        content, mode = v  # type: ignore[misc]
                        ti.size = len(content)
                        ti.mode = mode
                        tar.addfile(ti, io.BytesIO(content))
                    else:
                        src = str(v)
                        st = os.stat(src)
                        if not stat.S_ISREG(st.st_mode):
                            raise SystemExit(f"mkimages: {src} is not a regular file")
                        ti.size = st.st_size
                        ti.mode = stat.S_IMODE(st.st_mode)
                        with open(src, "rb") as fh:
                            tar.addfile(ti, fh)
    return "sha256:" + raw.hexdigest(), "sha256:" + zipped.sha.hexdigest(), zipped.size


class HashingWriter(io.RawIOBase):
    def __init__(self, inner, sha=None):
        self.inner = inner
        self.sha = sha or hashlib.sha256()
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, b) -> int:
        b = bytes(b)
        self.inner.write(b)
        self.sha.update(b)
        self.size += len(b)
        return len(b)


def canonical(obj) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def make_archive(ref: str, bindir: str, outdir: str) -> dict:
    component, tag = split_ref(ref)
    fs, cfg = rootfs_for(component, bindir)
    with tempfile.TemporaryDirectory(dir=outdir) as work:
        blobs = os.path.join(work, "blobs", "sha256")
        os.makedirs(blobs)
        layer_tmp = os.path.join(work, "layer.tmp")
        diff_id, layer_digest, layer_size = write_layer(fs, layer_tmp)
        os.rename(layer_tmp, os.path.join(blobs, layer_digest.split(":")[1]))
        config = {
            "architecture": "amd64",
            "os": "linux",
            "created": "1970-01-01T00:00:00Z",
            "config": dict(cfg, Labels={"io.kindlike.made-by": "images/offline/mkimages.py"}),
            "rootfs": {"type": "layers", "diff_ids": [diff_id]},
            "history": [{"created": "1970-01-01T00:00:00Z", "created_by": f"kindlike mkimages {component}"}],
        }
        cfg_bytes = canonical(config)
        cfg_digest = "sha256:" + hashlib.sha256(cfg_bytes).hexdigest()
        manifest = {
            "schemaVersion": 2,
            "mediaType": MEDIA_OCI_MANIFEST,
            "config": {"mediaType": MEDIA_OCI_CONFIG, "digest": cfg_digest, "size": len(cfg_bytes)},
            "layers": [{"mediaType": MEDIA_OCI_LAYER_GZIP, "digest": layer_digest, "size": layer_size}],
        }
        man_bytes = canonical(manifest)
        man_digest = "sha256:" + hashlib.sha256(man_bytes).hexdigest()
        for digest, data in ((cfg_digest, cfg_bytes), (man_digest, man_bytes)):
            with open(os.path.join(blobs, digest.split(":")[1]), "wb") as f:
                f.write(data)
        index = {
            "schemaVersion": 2,
            "mediaType": MEDIA_OCI_INDEX,
            "manifests": [{
                "mediaType": MEDIA_OCI_MANIFEST,
                "digest": man_digest,
                "size": len(man_bytes),
                "platform": {"architecture": "amd64", "os": "linux"},
                "annotations": {
                    "io.containerd.image.name": ref,
                    "org.opencontainers.image.ref.name": tag,
                },
            }],
        }
        docker_manifest = [{
            "Config": f"blobs/sha256/{cfg_digest.split(':')[1]}",
            "RepoTags": [ref],
            "Layers": [f"blobs/sha256/{layer_digest.split(':')[1]}"],
        }]
        meta = {
            "oci-layout": canonical({"imageLayoutVersion": "1.0.0"}),
            "index.json": canonical(index),
            "manifest.json": canonical(docker_manifest),
        }
        name = f"{component}.tar"
        dest = os.path.join(outdir, name)
        with tarfile.open(dest + ".tmp", "w", format=tarfile.PAX_FORMAT) as tar:
            for fname in ("oci-layout", "index.json", "manifest.json"):
                ti = tarfile.TarInfo(fname)
                ti.size, ti.mode, ti.mtime = len(meta[fname]), 0o644, 0
                tar.addfile(ti, io.BytesIO(meta[fname]))
            for d in ("blobs", "blobs/sha256"):
                ti = tarfile.TarInfo(d)
                ti.type, ti.mode, ti.mtime = tarfile.DIRTYPE, 0o755, 0
                tar.addfile(ti)
            for fname in sorted(os.listdir(blobs)):
                p = os.path.join(blobs, fname)
                ti = tarfile.TarInfo(f"blobs/sha256/{fname}")
                ti.size, ti.mode, ti.mtime = os.path.getsize(p), 0o644, 0
                with open(p, "rb") as fh:
                    tar.addfile(ti, fh)
        os.rename(dest + ".tmp", dest)
    return {
        "ref": ref,
        "component": component,
        "archive": name,
        "manifest_digest": man_digest,
        "config_digest": cfg_digest,
        "layer_size": layer_size,
    }


def split_ref(ref: str) -> tuple[str, str]:
    name, _, tag = ref.rpartition(":")
    if not name or "/" in tag:
        raise SystemExit(f"mkimages: image reference needs a tag: {ref}")
    return name.rsplit("/", 1)[-1], tag


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bin", required=True, help="directory with the Kubernetes binaries and pause")
    ap.add_argument("--out", required=True, help="directory for the archives")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("refs", nargs="+")
    args = ap.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    refs = []
    for ref in args.refs:
        component, _ = split_ref(ref)
        if component == "coredns" and not os.path.isfile(os.path.join(args.bin, "coredns")):
            print(f"mkimages: skipping {ref} (no coredns binary in --bin)", file=sys.stderr)
            continue
        refs.append(ref)
    results = []

    def done(res: dict) -> None:
        print(f"mkimages: {res['ref']} -> {res['archive']} ({res['layer_size'] // 1024} KiB)", file=sys.stderr)
        results.append(res)

    if args.jobs <= 1:
        for ref in refs:
            done(make_archive(ref, args.bin, args.out))
    else:  # gzip is the slow part: one process per image
        with concurrent.futures.ProcessPoolExecutor(max_workers=args.jobs) as pool:
            futs = [pool.submit(make_archive, ref, args.bin, args.out) for ref in refs]
            for fut in concurrent.futures.as_completed(futs):
                done(fut.result())
    results.sort(key=lambda r: refs.index(r["ref"]))
    with open(os.path.join(args.out, "images.json"), "w") as f:
        json.dump(results, f, indent=2)
        f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
