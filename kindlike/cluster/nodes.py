"""A cluster as it exists in the engine: its names, labels and network, its
nodes, how clusters are listed and how one is deleted.

Cluster state lives only in container labels (io.kindlike.cluster and
io.kindlike.role), so everything here is derived from the engine. A node is
something you can exec in, with a name and a role: cluster actions only ever
use `Node`, so they never know which engine runs it (kind's nodes.Node).
"""
from __future__ import annotations

import ipaddress
import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from kindlike.constants import (
    API_SERVER_CONTAINER_PORT,
    LABEL_ADDRESS,
    LABEL_CLUSTER,
    LABEL_HOST_ADDRESS,
    LABEL_HOSTS,
    LABEL_ROLE,
    NAME_PREFIX,
    ROLE_CONTROL_PLANE,
    ROLE_LOAD_BALANCER,
    ROLE_REGISTRY,
    ROLE_WORKER,
    VAR_VOLUME_SUFFIX,
)
from kindlike.errors import ClusterError, EngineError, ExecError

if TYPE_CHECKING:  # annotations only: `kindlike get`/`delete` need no engine types loaded
    from kindlike.engines.base import Engine, ExecResult

ROLE_ORDER = {ROLE_CONTROL_PLANE: 0, ROLE_WORKER: 1}


@dataclass
class Node:
    name: str
    role: str
    engine: Engine
    network: str = ""
    # With nodes on several hosts: the address the other hosts reach this
    # node's host at, which Kubernetes then knows the node by.
    host_address: str = ""

    def exec(self, *cmd: str, stdin: bytes | str | None = None, env: dict[str, str] | None = None,
             timeout: float | None = None, check: bool = True) -> ExecResult:
        data = stdin.encode() if isinstance(stdin, str) else stdin
        res = self.engine.exec(self.name, list(cmd), stdin=data, env=env, timeout=timeout)
        if check and res.code != 0:
            raise ExecError(self.name, list(cmd), res.code, res.output)
        return res

    def output(self, *cmd: str, **kw) -> str:
        return self.exec(*cmd, **kw).stdout

    def write_file(self, path: str, content: bytes | str, mode: int = 0o644) -> None:
        data = content.encode() if isinstance(content, str) else content
        self.engine.copy_to(self.name, data, path, mode)

    def read_file(self, path: str) -> str:
        return self.output("cat", path)

    def copy_from(self, src: str, dest: Path) -> None:
        self.engine.copy_from(self.name, src, dest)

    def ips(self) -> tuple[str, str]:
        return self.engine.container_ips(self.name, self.network)

    @property
    def running(self) -> bool:
        return self.engine.container(self.name).running

    @property
    def ip(self) -> str:
        v4, v6 = self.ips()
        return v4 or v6

    def __str__(self) -> str:
        return self.name


# -- names and labels ---------------------------------------------------------

def network_name(cluster: str) -> str:
    return f"{NAME_PREFIX}{cluster}"


def cluster_labels(cluster: str) -> dict[str, str]:
    return {LABEL_CLUSTER: cluster}


def node_labels(cluster: str, role: str) -> dict[str, str]:
    return {**cluster_labels(cluster), LABEL_ROLE: role}


def _cluster_of_volume(volume: str) -> str | None:
    # Volumes are named <node>-var and nodes <cluster>-<role>[N].
    node = volume[: -len(VAR_VOLUME_SUFFIX)]
    for role in (ROLE_CONTROL_PLANE, ROLE_WORKER):
        i = node.rfind("-" + role)
        if i > 0:
            return node[:i]
    return None


# -- listing ------------------------------------------------------------------

def list_clusters(engine: Engine, include_leftovers: bool = False) -> list[str]:
    """Clusters by their node containers; with include_leftovers, also the
    ones whose containers are gone but whose labelled volumes or network
    remain (what `delete clusters --all` must clean too)."""
    any_cluster = {LABEL_CLUSTER: None}
    names = {c.labels.get(LABEL_CLUSTER) for c in engine.list_containers(any_cluster)}
    if include_leftovers:
        for net in engine.list_networks(any_cluster):
            if net.startswith(NAME_PREFIX):
                names.add(net[len(NAME_PREFIX):])
        for vol in engine.list_volumes(any_cluster):
            if vol.endswith(VAR_VOLUME_SUFFIX):
                names.add(_cluster_of_volume(vol))
    return sorted(n for n in names if n)


def node_container_names(engine: Engine, cluster: str) -> list[str]:
    return [c.name for c in engine.list_containers(cluster_labels(cluster))]


def engines(engine: Engine, cluster: str) -> list[Engine]:
    """The engines the cluster's containers run in: this one (the cluster's),
    then those of the other hosts its nodes are on, which its nodes name in a
    label (cluster state lives only in labels)."""
    urls: list[str] = []
    for c in engine.list_containers(cluster_labels(cluster)):
        urls += [u for u in c.labels.get(LABEL_HOSTS, "").split(",") if u and u not in urls]
    return [engine] + [engine.at(u) for u in urls]


def list_nodes(engine: Engine, cluster: str, helpers: bool = False) -> list[Node]:
    """Every node, on every host, control planes first; the containers that
    are not nodes (the load balancer, port forwarders) only when asked for,
    after them: they run no Kubernetes, so loading images or collecting logs
    passes them by."""
    nodes = [Node(c.name, c.labels.get(LABEL_ROLE, ""), e, network_name(cluster), c.labels.get(LABEL_HOST_ADDRESS, ""))
             for e in engines(engine, cluster) for c in e.list_containers(cluster_labels(cluster))]
    nodes = [n for n in nodes if helpers or n.role in ROLE_ORDER]
    return sorted(nodes, key=lambda n: (ROLE_ORDER.get(n.role, 9), n.name))


def load_balancer(engine: Engine, cluster: str) -> Node | None:
    """The external load balancer of a cluster with several control planes."""
    found = engine.list_containers({**cluster_labels(cluster), LABEL_ROLE: ROLE_LOAD_BALANCER})
    return Node(found[0].name, ROLE_LOAD_BALANCER, engine, network_name(cluster)) if found else None


def api_endpoint(engine: Engine, cluster: str) -> Node:
    """The container that publishes the API server: the load balancer when
    there is one, else the control plane."""
    lb = load_balancer(engine, cluster)
    if lb is not None:
        return lb
    cps = control_planes(engine, cluster)
    if not cps:
        raise ClusterError(f"cluster {cluster!r} has no control-plane node")
    return cps[0]


def published_address(endpoint: Node) -> tuple[str, int]:
    """Where the host reaches the API server the endpoint container publishes
    (an address bound to every interface is reached on the loopback one)."""
    host, port = endpoint.engine.published_port(endpoint.name, API_SERVER_CONTAINER_PORT)
    return {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host), int(port)


def first_running(nodes: list[Node]) -> Node | None:
    """The first of the nodes whose container runs (with several control
    planes, one may be stopped)."""
    return next((n for n in nodes if n.running), None)


def control_planes(engine: Engine, cluster: str) -> list[Node]:
    """The cluster's control-plane nodes; ClusterError when it has no nodes at all."""
    nodes = list_nodes(engine, cluster)
    if not nodes:
        raise ClusterError(f"no cluster named {cluster!r}", fix="see `kindlike get clusters`")
    return [n for n in nodes if n.role == ROLE_CONTROL_PLANE]


def refuse_existing(engine: Engine, cluster: str) -> None:
    if node_container_names(engine, cluster):
        raise ClusterError(f"cluster {cluster!r} already exists",
                           fix=f"delete it first (kindlike delete cluster --name {cluster}) or pick another --name")


# -- addresses ----------------------------------------------------------------

def node_addresses(subnet: str, count: int) -> list[str]:
    """Fixed addresses for the nodes, in plan order: the subnet's hosts after
    the first, which both engines give the bridge (the gateway).

    Fixed because a restart must not move a node: its address is in the API
    server's certificate, in etcd's peer URLs and in the kubelet's --node-ip,
    and engines hand addresses out again in whatever order nodes restart
    (kind re-points its manifests at boot instead, which cannot mend etcd's
    member list: kind #1689)."""
    hosts = itertools.islice(ipaddress.ip_network(subnet, strict=False).hosts(), 1, 1 + count)
    out = [str(h) for h in hosts]
    if len(out) < count:
        raise EngineError(f"network subnet {subnet} has room for {len(out)} nodes, not {count}")
    return out


def free_address(engine: Engine, cluster: str) -> str:
    """An address on the cluster network that no container of the cluster
    holds, running or stopped (their LABEL_ADDRESS), nor a local registry
    attached to it: a container started with an engine-picked address could
    take a stopped node's, which then cannot start again."""
    net = network_name(cluster)
    used = {c.labels.get(LABEL_ADDRESS) for c in engine.list_containers(cluster_labels(cluster))}
    used |= {engine.container_ips(c.name, net)[0] for c in engine.list_containers({LABEL_ROLE: ROLE_REGISTRY})}
    hosts = ipaddress.ip_network(engine.network_subnet(net), strict=False).hosts()
    next(hosts, None)  # the gateway
    for h in hosts:
        if str(h) not in used:
            return str(h)
    raise EngineError(f"the network of cluster {cluster} has no free address left")


# -- deletion -----------------------------------------------------------------

def detach_registries(engine: Engine, network: str) -> None:
    """Detach every local registry (kindlike.registry) from a network about
    to be deleted: Docker will not delete a network with a container on it,
    and Podman's forced deletion would remove the registry with it."""
    for c in engine.list_containers({LABEL_ROLE: ROLE_REGISTRY}):
        if network in engine.container_networks(c.name):
            engine.disconnect_network(c.name, network)


def delete_cluster(engine: Engine, cluster: str) -> dict[str, list[str]]:
    """Remove every container, volume and the network of a cluster; what was
    removed is returned so callers can say so (and tests can check)."""
    labels = cluster_labels(cluster)
    removed: dict[str, list[str]] = {"containers": [], "volumes": [], "networks": []}
    for e in reversed(engines(engine, cluster)):  # the one naming the others last
        containers = node_container_names(e, cluster)
        e.remove_containers(containers)
        removed["containers"] += containers
        removed["volumes"] += e.remove_volumes(labels)
        detach_registries(e, network_name(cluster))
        for net in set(e.list_networks(labels)) | {network_name(cluster)}:
            if e.delete_network(net):
                removed["networks"].append(net)
    return removed
