"""What a create is given and what its steps share: the options, the
Context the steps fill in as they run, a Step, and the result."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from kindlike.cluster.nodes import Node
from kindlike.config.types import ClusterConfig
from kindlike.constants import ROLE_CONTROL_PLANE, ROLE_WORKER
from kindlike.create.provision import NodePlan
from kindlike.engines.base import Engine
from kindlike.status import Status

Note = Callable[[str], None]


@dataclass
class CreateOptions:
    name: str
    config: ClusterConfig
    image: str | None = None  # --image: overrides every node's image
    retain: bool = False
    wait: float = 0.0  # seconds; 0 = do not wait for Ready
    kubeconfig: str | None = None
    status: Status = field(default_factory=Status)
    # Preflight: accept a rootless host without cgroup v2 delegation (nodes
    # then run without resource limits); also KINDLIKE_ALLOW_NO_RESOURCE_LIMITS=1.
    allow_no_resource_limits: bool = False
    # -v: kubeadm's preflight report and other detail lines.
    verbose: bool = False
    # Start the cluster from this snapshot (kindlike.snapshot) instead of
    # bootstrapping it; `config` is then the snapshot's (snapshot.copy_config).
    from_snapshot: str | None = None
    # kindlike-only settings as flags (kindlike.create.extras).
    registry: str | None = None
    node_cpus: str | None = None
    node_memory: str | None = None


@dataclass
class CreateResult:
    name: str
    nodes: list[Node]
    kubeconfig_path: str
    durations: dict[str, float]
    cni: str


@dataclass
class Context:
    """What the steps share: given up front, then filled in as they run."""

    opts: CreateOptions
    config: ClusterConfig
    plans: list[NodePlan]
    engine: Engine | None = None  # None for a dry run
    images: dict = field(default_factory=dict)  # ref -> nodeimage.metadata.ImageInfo
    nodes: list[Node] = field(default_factory=list)
    created: bool = False  # something exists in the engine that cleanup must remove
    cni: str = "none"
    conflist_preseeded: bool = False  # Flannel's CNI config written on every node before boot
    manifests: dict = field(default_factory=dict)  # the image's CNI manifest, read once: path -> text
    storage_manifest: Any = None  # Future: the image's storage manifest, read while the nodes boot
    api: Any = None  # cluster.apiclient.Api, once admin.conf is there
    kubeconfig_path: str = ""
    early: dict = field(default_factory=dict)  # step work started while init finishes: name -> Future
    lb_plan: NodePlan | None = None  # several control planes: kindlike.cluster.loadbalancer
    load_balancer: Node | None = None
    snapshot: Any = None  # kindlike.snapshot.Snapshot: a copy of it is being created
    started_at: float = 0.0  # time.time() when the nodes were started

    @property
    def name(self) -> str:
        return self.opts.name

    @property
    def status(self) -> Status:
        return self.opts.status

    @property
    def control_plane(self) -> Node:
        return self.nodes[0]

    @property
    def workers(self) -> list[Node]:
        return [n for n in self.nodes if n.role == ROLE_WORKER]

    @property
    def secondary_control_planes(self) -> list[Node]:
        return [n for n in self.nodes[1:] if n.role == ROLE_CONTROL_PLANE]

    @property
    def api_endpoint(self) -> Node:
        """What every node reaches the API server through."""
        return self.load_balancer or self.control_plane

    @property
    def image(self):
        """The first control plane's image facts (its Kubernetes decides the configs)."""
        return self.images[self.config.control_planes()[0].image]


@dataclass(frozen=True)
class Step:
    """One named step. `skip` sees only the config and options (so a dry run
    can tell which steps would run): None runs the step, "" skips it
    silently, any other text skips it and says so. A `check` step refuses
    with its own error, which reaches the user unwrapped."""

    title: str
    run: Callable[[Context, Note], None]
    skip: Callable[[Context], str | None] = lambda ctx: None
    shown: Callable[[Context], str] | None = None  # a title with the options in it
    check: bool = False
