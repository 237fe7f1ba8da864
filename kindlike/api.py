"""kindlike's Python API: create, find, use and delete clusters from Python.

    import kindlike

    with kindlike.Cluster.create("demo", config="examples/multi-node.yaml", wait="5m") as c:
        c.load_image("myapp:1")                        # from the engine that runs the nodes
        c.kubectl("apply", "-f", "deploy.yaml")        # the cluster's own kubectl
        print(c.kubectl("get", "nodes").stdout)
    # leaving the block deleted the cluster

    c = kindlike.Cluster.get("demo")                  # an existing cluster (never deleted on exit)
    kindlike.clusters()                                # ["demo", ...]

    kindlike.ensure_snapshot("ci-1", config="kind.yaml")   # bootstrapped once, then kept in the engine
    with kindlike.Cluster.create("job-7", from_snapshot="ci-1") as c:   # Ready in seconds
        ...

Everything the API raises on purpose derives from kindlike.KindlikeError
(kindlike.errors); the classes a caller may want to tell apart are
ClusterNotFoundError, KubectlError, ImageNotFoundError, NodeNotFoundError,
ImageArchiveError, ConfigError, EngineError/NoEngineError and StepError (a
creation step failed).

Nothing is stored outside the engine except the cluster's own kubectl, copied
once out of a node into a cache directory ($KINDLIKE_CACHE_DIR, else
$XDG_CACHE_HOME/kindlike, else ~/.cache/kindlike), and a per-object temporary
directory holding the kubeconfig file `kubeconfig_path` names (removed by
close() and delete()).
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import yaml

from kindlike import load as _load
from kindlike import logs as _logs
from kindlike import ports, snapshot
from kindlike.cluster.nodes import Node, cluster_labels, delete_cluster, list_clusters, list_nodes
from kindlike.config import load_config, load_config_text
from kindlike.config.naming import resolve_cluster_name
from kindlike.config.types import ClusterConfig
from kindlike.constants import ADMIN_CONF, NODE_KUBECTL, NODE_VERSION_FILE, ROLE_CONTROL_PLANE, ROLE_WORKER
from kindlike.create.dryrun import dry_run
from kindlike.create.pipeline import CreateOptions, create_cluster
from kindlike.duration import parse_wait  # noqa: F401  (part of the API)
from kindlike.engines.base import Engine
from kindlike.engines.detect import get_engine
from kindlike.errors import ClusterError, KindlikeError, SnapshotError
from kindlike.kubeconfig import cluster_kubeconfig, remove_cluster_entries
from kindlike.lbservices import Controller
from kindlike.lifecycle import cluster_state, start_cluster, stop_cluster
from kindlike.load import LoadResult
from kindlike.nodeimage.files import cache_dir  # noqa: F401  (one cache for builds and kubectl)
from kindlike.status import Status

__all__ = ["Cluster", "ClusterNotFoundError", "KubectlError", "clusters", "ConfigSource", "plan", "snapshots",
           "ensure_snapshot", "delete_snapshot"]

ConfigSource = str | os.PathLike | Mapping[str, Any] | ClusterConfig | None
"""A cluster config: a file path, YAML text (a str with a newline), a dict
shaped like kind's v1alpha4 Cluster, a parsed kindlike.config.ClusterConfig, or
None (one control-plane node)."""



class ClusterNotFoundError(ClusterError):
    """No cluster of that name exists in the engine."""


class KubectlError(KindlikeError):
    """kubectl exited non-zero; carries the arguments, exit code and output."""

    def __init__(self, args: Sequence[str], returncode: int, stdout: str, stderr: str):
        self.args_ = list(args)
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr
        tail = "\n".join((stderr or stdout).strip().splitlines()[-10:])
        super().__init__(f"kubectl {' '.join(args)} failed (exit {returncode})" + (f":\n{tail}" if tail else ""))


# ---------------------------------------------------------------------------


def clusters(provider: str | None = None, *, engine: Engine | None = None) -> list[str]:
    """Names of the kindlike clusters in the engine (sorted)."""
    with _engine_scope(provider, engine) as eng:
        return list_clusters(eng)


class Cluster:
    """A kindlike cluster: its nodes, kubeconfig and kubectl, image loading,
    log export and deletion.

    Get one with `Cluster.create(...)` (a new cluster) or `Cluster.get(name)`
    (an existing one); `Cluster(name, engine=...)` only wraps a name without
    checking it exists. Used as a context manager, a cluster made by
    `create()` is deleted on exit (unless keep=True); one from `get()` is
    only closed.
    """

    def __init__(self, name: str, *, engine: Engine | None = None, provider: str | None = None,
                 kubeconfig: str | os.PathLike | None = None) -> None:
        self.name = name
        self._engine = engine
        self._provider = provider
        self._owns_engine = engine is None
        # The kubeconfig file the cluster's entries were merged into (create's
        # kubeconfig=, or the one to clean on delete); None: none of the user's.
        self._merged_kubeconfig = Path(kubeconfig).expanduser() if kubeconfig else None
        self._tmpdir: Path | None = None
        self._kubeconfig_file: Path | None = None
        self._kubectl: Path | None | bool = None  # False: run kubectl inside the node
        self.delete_on_exit = False

    # -- construction ------------------------------------------------------
    @classmethod
    def create(cls, name: str | None = None, *, config: ConfigSource = None, image: str | None = None,
               wait: str | float | None = "5m", retain: bool = False, kubeconfig: str | os.PathLike | None = None,
               provider: str | None = None, engine: Engine | None = None, keep: bool = False,
               verbose: bool = False, from_snapshot: str | None = None, allow_no_resource_limits: bool = False,
               status: Status | None = None, details: bool = False, registry: str | None = None,
               node_cpus: str | None = None, node_memory: str | None = None) -> "Cluster":
        """Create a cluster and return it, as `kindlike create cluster` does.

        name: else $KINDLIKE_CLUSTER_NAME, else the config's name, else "kindlike".
        config: see ConfigSource. image: node image for every node.
        wait: how long to wait for every node Ready ("5m", "90s", seconds; 0/None: do not wait).
        retain: keep the nodes when creation fails (for debugging).
        kubeconfig: also merge the cluster into this kubeconfig file (context
            kindlike-NAME; delete() removes it again); default: the user's
            kubeconfig is left alone and `kubeconfig_path` is a private file.
        provider: "docker" or "podman" (default: $KINDLIKE_PROVIDER, else the first
            that answers); or pass a connected `engine`.
        keep: do not delete the cluster when a `with` block exits.
        verbose: print the step lines to stderr.
        from_snapshot: start it from this snapshot (see ensure_snapshot) instead
            of bootstrapping it; config and image then come from the snapshot.
        allow_no_resource_limits: under a rootless engine that cannot limit
            resources (cgroup v1), create anyway, with a warning.
        status: where the step lines go (kindlike.status.Status; the CLI's);
            default: stderr when verbose, else nowhere. details: kubeadm's
            preflight report and other detail lines among them.
        registry: connect this local registry (kindlike.LocalRegistry).
        node_cpus, node_memory: the CPU and memory of every node whose config
            does not size it ("1.5", "1Gi").

        Raises ConfigError, ClusterError (e.g. it already exists), StepError
        (a step failed; the nodes are removed unless retain), EngineError.
        """
        if from_snapshot and (config is not None or image):
            raise SnapshotError("from_snapshot cannot be combined with config or image: the snapshot holds the "
                              "nodes, their configuration and image")
        cfg, warnings = load_config_source(config)
        if image:
            cfg = cfg.with_node_image(image)
        name = resolve_cluster_name(name, os.environ, cfg.name or None, cfg)
        self = cls(name, engine=engine, provider=provider, kubeconfig=kubeconfig)
        try:
            status = status or Status(quiet=not verbose)
            for w in warnings:
                status.line(f"WARNING: {w}")
            status.line(f'Creating cluster "{name}"' + (f' from snapshot "{from_snapshot}"' if from_snapshot else "")
                        + " ...")
            target = self._merged_kubeconfig or self._private_dir() / "kubeconfig"
            res = create_cluster(self.engine, CreateOptions(name=name, config=cfg, retain=retain,
                                                            wait=parse_wait(wait), kubeconfig=str(target),
                                                            status=status, from_snapshot=from_snapshot,
                                                            allow_no_resource_limits=allow_no_resource_limits,
                                                            verbose=details, registry=registry,
                                                            node_cpus=node_cpus, node_memory=node_memory))
        except BaseException:
            self.close()
            raise
        if self._merged_kubeconfig is None:
            self._kubeconfig_file = Path(res.kubeconfig_path)
        self.delete_on_exit = not keep
        return self

    @classmethod
    def get(cls, name: str | None = None, *, provider: str | None = None, engine: Engine | None = None,
            kubeconfig: str | os.PathLike | None = None) -> "Cluster":
        """An existing cluster (name default: $KINDLIKE_CLUSTER_NAME, else
        "kindlike"). kubeconfig: the file delete() removes the cluster's
        entries from. Raises ClusterNotFoundError."""
        self = cls(resolve_cluster_name(name, os.environ, None), engine=engine, provider=provider,
                   kubeconfig=kubeconfig)
        try:
            if not self.exists():
                raise ClusterNotFoundError(f"no cluster named {self.name!r} in {_load.describe_engine(self.engine)}",
                                           fix="see `kindlike get clusters` (and --provider)")
        except BaseException:
            self.close()
            raise
        return self

    # -- facts -------------------------------------------------------------
    @property
    def engine(self) -> Engine:
        """The engine running the nodes (connected on first use)."""
        if self._engine is None:
            self._engine = get_engine(self._provider)
        return self._engine

    @property
    def provider(self) -> str:
        """"docker" or "podman"."""
        return self.engine.name

    def exists(self) -> bool:
        return bool(self.engine.list_containers(cluster_labels(self.name)))

    @property
    def nodes(self) -> list[Node]:
        """Every node, control planes first (kindlike.cluster.nodes.Node: name, role, exec, ...)."""
        return list_nodes(self.engine, self.name)

    @property
    def control_plane(self) -> Node:
        """The (first) control-plane node."""
        cps = [n for n in self.nodes if n.role == ROLE_CONTROL_PLANE]
        if not cps:
            if not self.exists():
                raise ClusterNotFoundError(f"no cluster named {self.name!r}", fix="see `kindlike get clusters`")
            raise ClusterError(f"cluster {self.name!r} has no control-plane node")
        return cps[0]

    @property
    def workers(self) -> list[Node]:
        return [n for n in self.nodes if n.role == ROLE_WORKER]

    # -- kubeconfig and kubectl --------------------------------------------
    @property
    def kubeconfig(self) -> str:
        """The kubeconfig (YAML) to reach the API server from this host."""
        self._require()
        return cluster_kubeconfig(self.engine, self.name)

    @property
    def internal_kubeconfig(self) -> str:
        """The kubeconfig for use inside the cluster network (server = the control plane's name)."""
        self._require()
        return cluster_kubeconfig(self.engine, self.name, internal=True)

    @property
    def merged_kubeconfig(self) -> Path | None:
        """The kubeconfig file the cluster's entries were merged into (create's
        or get's kubeconfig=), or None."""
        return self._merged_kubeconfig

    @property
    def kubeconfig_path(self) -> Path:
        """A file holding `kubeconfig` (context kindlike-NAME), private to this
        object and valid until close()/delete()."""
        if self._kubeconfig_file is None or not self._kubeconfig_file.exists():
            path = self._private_dir() / "kubeconfig"
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(self.kubeconfig)
            self._kubeconfig_file = path
        return self._kubeconfig_file

    def kubectl(self, *args: str, input: str | bytes | None = None, check: bool = True,
                timeout: float | None = 300, env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        """Run the cluster's own kubectl (the node image's, so its version
        matches the API server) against this cluster; returns the completed
        process (text stdout/stderr). check: raise KubectlError on a non-zero
        exit. File arguments (-f FILE) are host paths."""
        if isinstance(input, bytes):
            input = input.decode()
        binary = self.kubectl_binary()
        if binary is not None:
            cmd = [str(binary), f"--kubeconfig={self.kubeconfig_path}", *args]
            try:
                proc = subprocess.run(cmd, input=input, capture_output=True, text=True, timeout=timeout,
                                      env={**os.environ, **(env or {})})
            except subprocess.TimeoutExpired as e:
                raise KubectlError(args, -1, _text(e.stdout), f"timed out after {timeout}s\n{_text(e.stderr)}") from e
        else:
            res = self.control_plane.exec("kubectl", f"--kubeconfig={ADMIN_CONF}", *args, stdin=input,
                                          timeout=timeout, check=False, env=dict(env) if env else None)
            proc = subprocess.CompletedProcess(["kubectl", *args], res.code, res.stdout, res.stderr)
        if check and proc.returncode != 0:
            raise KubectlError(args, proc.returncode, proc.stdout, proc.stderr)
        return proc

    def apply(self, manifest: str | os.PathLike) -> subprocess.CompletedProcess[str]:
        """`kubectl apply` a manifest given as YAML text or a file path."""
        if isinstance(manifest, os.PathLike) or ("\n" not in manifest and Path(manifest).is_file()):
            return self.kubectl("apply", "-f", os.fspath(manifest))
        return self.kubectl("apply", "-f", "-", input=manifest)

    def kubectl_binary(self) -> Path | None:
        """The host path of the cluster's kubectl (copied once per node image
        into the cache directory), or None when it cannot run on this host
        (kubectl then runs inside the control-plane node)."""
        if self._kubectl is None:
            try:
                self._kubectl = _cached_kubectl(self.control_plane)
            except (OSError, KindlikeError, subprocess.SubprocessError):
                self._kubectl = False
        return self._kubectl or None

    # -- images and logs ---------------------------------------------------
    def load_image(self, *images: str, nodes: Iterable[str] | None = None, verbose: bool = False) -> LoadResult:
        """Load images from the engine's store (the engine running the nodes)
        into the nodes (all, or those named), skipping nodes that already
        hold the same image ID. Raises ImageNotFoundError, NodeNotFoundError."""
        if not images:
            raise ValueError("load_image needs at least one image")
        targets = self._nodes(nodes)
        todo = _load.resolve_images(self.engine, images)
        return _load.load_images(self.engine, targets, todo, note=Status(quiet=not verbose).line)

    def load_image_archive(self, path: str | os.PathLike, *, nodes: Iterable[str] | None = None,
                           verbose: bool = False) -> LoadResult:
        """Import a docker-save archive into the nodes (all, or those named);
        nodes holding all its images already are skipped."""
        targets = self._nodes(nodes)
        return _load.load_archive(targets, Path(path), note=Status(quiet=not verbose).line)

    def export_logs(self, dest: str | os.PathLike | None = None, *, verbose: bool = False) -> Path:
        """Collect every node's logs (journal, kubelet, containerd, configs,
        images, containers, pod logs, engine inspect) into the directory
        `dest` (default: a new temporary directory), or a tarball when dest
        ends with .tar.gz; returns where they went."""
        nodes = self._require()
        return _logs.export_logs(self.engine, self.name, nodes, dest, note=Status(quiet=not verbose).line).path

    # -- ports after create and LoadBalancer Services ----------------------
    def expose(self, host_port: int, container_port: int, protocol: str = "tcp", *, node: str | None = None,
               address: str = "127.0.0.1"):
        """Publish host_port (0: a free one) forwarded to container_port of
        `node` (default: the first control plane), e.g. a NodePort, without
        touching the nodes; returns the kindlike.ports.Mapping (its host_port)."""
        return ports.add(self.engine, self.name, host_port, container_port, protocol.lower(), node=node,
                         address=address)

    def exposed(self) -> list:
        """The host ports published after create (kindlike.ports.Mapping)."""
        return ports.list_mappings(self.engine, self.name)

    def unexpose(self, host_port: int, protocol: str = "tcp"):
        """Stop publishing one host port; the others are not touched."""
        return ports.remove(self.engine, self.name, host_port, protocol.lower())

    @contextlib.contextmanager
    def load_balancer_services(self, address: str = "127.0.0.1", interval: float = 1.0):
        """While the block runs, every LoadBalancer Service of the cluster is
        published on the host (kindlike.lbservices), its address in its status:

            with c.load_balancer_services():
                c.kubectl("expose", "deployment", "web", "--type=LoadBalancer", "--port=8080")
        """
        self._require()
        ctl = Controller(self.engine, self.name, address=address)
        stop = threading.Event()
        ctl.sync()  # errors in the first round reach the caller
        thread = threading.Thread(target=ctl.run, kwargs={"interval": interval, "stop": stop},
                                  name=f"kindlike-lb-{self.name}", daemon=True)
        thread.start()
        try:
            yield ctl
        finally:
            stop.set()
            thread.join(timeout=60)
            # One last round, so that a Service deleted at the end of the
            # block does not leave its host port published.
            with contextlib.suppress(Exception):
                ctl.sync()

    # -- stop and start ----------------------------------------------------
    @property
    def state(self) -> str:
        """"running", "stopped", "partly running (N/M)", or "" when it does not exist."""
        return cluster_state(self.engine, self.name)

    def stop(self, timeout: int = 60) -> None:
        """Stop every node (and the load balancer): CPU and memory are freed,
        nothing is deleted. Raises ClusterNotFoundError."""
        self._require()
        stop_cluster(self.engine, self.name, timeout=timeout)

    def start(self, wait: str | float = "0s") -> None:
        """Start a stopped cluster; returns once the API server answers, and
        with `wait` (as in create) once every node is Ready again. The
        kubeconfig is updated if the API server's host port changed."""
        self._require()
        target = self._merged_kubeconfig or self._kubeconfig_file or self._private_dir() / "kubeconfig"
        start_cluster(self.engine, self.name, wait=parse_wait(wait), kubeconfig=str(target))
        if self._merged_kubeconfig is None:
            self._kubeconfig_file = Path(target)

    # -- snapshots ---------------------------------------------------------
    def save_snapshot(self, name: str, *, restart: bool = True):
        """Save the cluster as snapshot `name` (kindlike.snapshot.Snapshot);
        a running cluster is stopped for the copy and, with `restart`, started again."""
        self._require()
        return snapshot.save(self.engine, self.name, name, restart=restart)

    # -- deletion and lifetime ---------------------------------------------
    def delete(self) -> bool:
        """Delete the nodes, volumes, network and the kubeconfig entries this
        object merged; True when something existed. Deleting twice is fine."""
        removed = delete_cluster(self.engine, self.name)
        kc = False
        if self._merged_kubeconfig is not None:
            kc = remove_cluster_entries(self.name, str(self._merged_kubeconfig))
        self.delete_on_exit = False
        self._drop_private_dir()
        return any(removed.values()) or kc

    def close(self) -> None:
        """Remove this object's temporary files and release the engine
        connection if this object opened it. The cluster stays."""
        self._drop_private_dir()
        if self._owns_engine and self._engine is not None:
            self._engine.close()
            self._engine = None

    def __enter__(self) -> "Cluster":
        return self

    def __exit__(self, *exc) -> None:
        try:
            if self.delete_on_exit:
                self.delete()
        finally:
            self.close()

    def __repr__(self) -> str:
        eng = self._engine.name if self._engine is not None else (self._provider or "auto")
        return f"<kindlike.Cluster {self.name!r} provider={eng}>"

    # -- helpers -----------------------------------------------------------
    def _require(self) -> list[Node]:
        nodes = self.nodes
        if not nodes:
            raise ClusterNotFoundError(f"no cluster named {self.name!r} in {_load.describe_engine(self.engine)}",
                                       fix="see `kindlike get clusters`")
        return nodes

    def _nodes(self, names: Iterable[str] | None) -> list[Node]:
        if isinstance(names, str):
            names = names.split(",")
        return _load.select_nodes(self._require(), names, self.name)

    def _private_dir(self) -> Path:
        if self._tmpdir is None or not self._tmpdir.exists():
            self._tmpdir = Path(tempfile.mkdtemp(prefix=f"kindlike-{self.name}-"))
        return self._tmpdir

    def _drop_private_dir(self) -> None:
        if self._tmpdir is not None:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            if self._kubeconfig_file is not None and self._kubeconfig_file.is_relative_to(self._tmpdir):
                self._kubeconfig_file = None
            self._tmpdir = None


# ---------------------------------------------------------------------------


def plan(name: str | None = None, *, config: ConfigSource = None, image: str | None = None,
         kubeconfig: str | os.PathLike | None = None, engine: Engine | None = None, output: str = "text",
         registry: str | None = None, node_cpus: str | None = None, node_memory: str | None = None) -> str:
    """What create would make, without making anything (`create cluster
    --dry-run`): the nodes, steps and every node's rendered configuration, as
    text, "yaml" or "json". engine: read for its facts and images; None
    renders for this host's defaults."""
    cfg, warnings = load_config_source(config)
    if image:
        cfg = cfg.with_node_image(image)
    name = resolve_cluster_name(name, os.environ, cfg.name or None, cfg)
    opts = CreateOptions(name=name, config=cfg, kubeconfig=os.fspath(kubeconfig) if kubeconfig else None,
                         registry=registry, node_cpus=node_cpus, node_memory=node_memory)
    return dry_run(opts, list(warnings), engine=engine, output=output)


def load_config_source(config: ConfigSource) -> tuple[ClusterConfig, tuple[str, ...]]:
    """Turn any ConfigSource into a defaulted, validated config (+ warnings)."""
    if config is None:
        loaded = load_config(None)
    elif isinstance(config, ClusterConfig):
        return config, ()
    elif isinstance(config, Mapping):
        loaded = load_config_text(yaml.safe_dump(dict(config), sort_keys=False), "config (dict)")
    elif isinstance(config, str) and "\n" in config:
        loaded = load_config_text(config, "config (text)")
    elif isinstance(config, (str, os.PathLike)):
        loaded = load_config(os.fspath(config))
    else:
        raise TypeError(f"config: expected a path, YAML text, a dict or kindlike.config.ClusterConfig, not {type(config)}")
    return loaded.cluster, tuple(loaded.warnings)


def _cached_kubectl(cp: Node) -> Path:
    """Copy the node's kubectl (a static binary) to the cache once per node
    image, keyed by the Kubernetes version and the node image's ID, and check
    it runs here."""
    version = cp.output("cat", NODE_VERSION_FILE, check=False).strip() or "unknown"
    image = cp.engine.container(cp.name).image_id
    key = hashlib.sha256(image.encode()).hexdigest()[:12] if image else "noimage"
    safe_version = re.sub(r"[^A-Za-z0-9._+-]", "_", version)
    dest = cache_dir() / "kubectl" / f"{safe_version}-{key}" / "kubectl"
    if not dest.exists():
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".kubectl.{os.getpid()}.{id(cp)}")
        try:
            cp.copy_from(NODE_KUBECTL, tmp)
            tmp.chmod(0o755)
            os.replace(tmp, dest)  # atomic: concurrent copiers all end with one good file
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
    subprocess.run([str(dest), "version", "--client"], capture_output=True, timeout=60, check=True)
    return dest


def snapshots(provider: str | None = None, *, engine: Engine | None = None) -> list:
    """The snapshots in the engine (kindlike.snapshot.Snapshot: name, nodes, ...)."""
    with _engine_scope(provider, engine) as eng:
        return snapshot.list_snapshots(eng)


def delete_snapshot(name: str, provider: str | None = None, *, engine: Engine | None = None) -> bool:
    """Remove a snapshot's images; False when there was none."""
    with _engine_scope(provider, engine) as eng:
        if snapshot.find(eng, name) is None:
            return False
        snapshot.delete(eng, name)
        return True


def ensure_snapshot(name: str, *, config: ConfigSource = None, image: str | None = None,
                    archive: str | os.PathLike | None = None, wait: str | float = "5m",
                    provider: str | None = None, engine: Engine | None = None, verbose: bool = False):
    """The snapshot `name`, made once: when the engine does not have it, it is
    loaded from `archive` if that file exists, else a cluster is created from
    `config`/`image`, saved as `name` and deleted (and, with `archive`, the
    snapshot is written there for a CI cache to keep). Put what the snapshot
    depends on (config, image, versions) into `name`, as in a CI cache key."""
    snapshot.check_name(name)
    with _engine_scope(provider, engine) as eng:
        found = snapshot.find(eng, name)
        if found is not None and found.complete:
            return found
        if found is not None:
            snapshot.delete(eng, name)
        if archive is not None and Path(archive).is_file():
            snapshot.load_archive(eng, Path(archive))
            return snapshot.get(eng, name)
        builder = f"snapshot-{hashlib.sha256(name.encode()).hexdigest()[:8]}"
        with Cluster.create(builder, config=config, image=image, wait=wait, engine=eng, verbose=verbose) as c:
            snap = snapshot.save(eng, c.name, name, restart=False)  # deleted next
        if archive is not None:
            snapshot.export_archive(eng, name, Path(archive))
        return snap


@contextlib.contextmanager
def _engine_scope(provider: str | None, engine: Engine | None):
    if engine is not None:
        yield engine
        return

    eng = get_engine(provider)
    try:
        yield eng
    finally:
        eng.close()


def _text(v) -> str:
    if v is None:
        return ""
    return v.decode(errors="replace") if isinstance(v, bytes) else str(v)
