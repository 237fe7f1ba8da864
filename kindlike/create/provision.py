"""Step "Preparing nodes": the cluster network and every node container,
started concurrently, each waited on until its systemd is up."""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from kindlike import constants
from kindlike.engines.base import Engine, MountSpec, NodeSpec, PortSpec
from kindlike.errors import ClusterError, EngineError
from kindlike.nodes import Node


@dataclass
class NodePlan:
    """One node as the cluster config describes it, engine-ready."""

    name: str
    role: str
    image: str
    labels: dict[str, str] = field(default_factory=dict)
    ports: list[PortSpec] = field(default_factory=list)
    mounts: list[MountSpec] = field(default_factory=list)


def network_name(cluster: str) -> str:
    return f"kindlike-{cluster}"


def cluster_labels(cluster: str) -> dict[str, str]:
    return {constants.LABEL_CLUSTER: cluster}


def node_spec(engine: Engine, cluster: str, plan: NodePlan) -> NodeSpec:
    info = engine.info()
    return NodeSpec(
        name=plan.name,
        image=plan.image,
        network=network_name(cluster),
        labels={**cluster_labels(cluster), constants.LABEL_ROLE: plan.role, **plan.labels},
        ports=list(plan.ports),
        mounts=list(plan.mounts),
        # fuse-overlayfs is the containerd snapshotter of last resort in a
        # user namespace; it needs the device.
        devices=["/dev/fuse"] if info.rootless else [],
    )


def existing_nodes(engine: Engine, cluster: str) -> list[str]:
    return [c.name for c in engine.list_containers(cluster_labels(cluster))]


def provision(engine: Engine, cluster: str, plans: list[NodePlan], *, boot_timeout: float = 120) -> list[Node]:
    """Create the network and start all nodes at once; return them booted."""
    if existing_nodes(engine, cluster):
        raise ClusterError(
            f"cluster {cluster!r} already exists",
            fix=f"delete it first (kindlike delete cluster --name {cluster}) or pick another --name",
        )
    net = network_name(cluster)
    engine.ensure_network(net, cluster_labels(cluster))
    specs = [node_spec(engine, cluster, p) for p in plans]
    with ThreadPoolExecutor(max_workers=max(1, len(specs))) as pool:
        list(pool.map(engine.run_node, specs))
        nodes = [Node(p.name, p.role, engine, net) for p in plans]
        list(pool.map(lambda n: wait_for_systemd(n, boot_timeout), nodes))
    return nodes


def wait_for_systemd(node: Node, timeout: float) -> None:
    """Poll `systemctl is-system-running` rather than scraping the log: Podman's
    log streaming is where kind's log-wait times out (kind #3363)."""
    deadline = time.monotonic() + timeout
    delay = 0.1
    last = ""
    while True:
        state = node.engine.inspect(node.name).get("State") or {}
        if not state.get("Running", False):
            tail = node.engine.logs(node.name, tail=15).strip()
            raise EngineError(f"node {node.name} exited during boot (exit code {state.get('ExitCode')})"
                              + (f":\n{tail}" if tail else ""))
        res = node.exec("systemctl", "is-system-running", check=False)
        last = res.stdout.strip() or res.stderr.strip()
        if last in ("running", "degraded"):
            return
        if time.monotonic() > deadline:
            tail = node.engine.logs(node.name, tail=15).strip()
            raise EngineError(f"systemd in node {node.name} did not come up within {timeout:.0f}s "
                              f"(state: {last or 'unknown'})" + (f":\n{tail}" if tail else ""))
        time.sleep(delay)
        delay = min(delay * 1.5, 1.0)


def delete_cluster_resources(engine: Engine, cluster: str) -> dict[str, list[str]]:
    """Remove every container, volume and the network of a cluster; what was
    removed is returned so callers can say so (and tests can check)."""
    labels = cluster_labels(cluster)
    containers = existing_nodes(engine, cluster)
    engine.remove_containers(containers)
    volumes = engine.remove_volumes(labels)
    networks = []
    for net in set(engine.list_networks(labels)) | {network_name(cluster)}:
        if engine.delete_network(net):
            networks.append(net)
    return {"containers": containers, "volumes": volumes, "networks": networks}
