"""The public cluster object model; the CLI is a thin layer over it.

Cluster state lives only in container labels (io.kindlike.cluster and
io.kindlike.role), so everything here is derived from the engine.
"""
from __future__ import annotations

from dataclasses import dataclass

from kindlike import constants
from kindlike.create.provision import cluster_labels, delete_cluster_resources, network_name
from kindlike.engines.base import Engine
from kindlike.errors import ClusterError
from kindlike.nodes import Node

ROLE_ORDER = {"control-plane": 0, "worker": 1}


def list_clusters(engine: Engine, include_leftovers: bool = False) -> list[str]:
    """Clusters by their node containers; with include_leftovers, also the
    ones whose containers are gone but whose labelled volumes or network
    remain (what `delete clusters --all` must clean too)."""
    names = {c.labels.get(constants.LABEL_CLUSTER) for c in engine.list_containers({constants.LABEL_CLUSTER: None})}
    if include_leftovers:
        for net in engine.list_networks({constants.LABEL_CLUSTER: None}):
            if net.startswith("kindlike-"):
                names.add(net[len("kindlike-"):])
        for vol in engine.list_volumes({constants.LABEL_CLUSTER: None}):
            if vol.endswith("-var"):
                names.update(n for n in [_cluster_of_volume(vol)] if n)
    return sorted(n for n in names if n)


def _cluster_of_volume(volume: str) -> str | None:
    # Volumes are named <node>-var and nodes <cluster>-<role>[N].
    node = volume[: -len("-var")]
    for role in ("-control-plane", "-worker"):
        i = node.rfind(role)
        if i > 0:
            return node[:i]
    return None


def list_nodes(engine: Engine, cluster: str) -> list[Node]:
    found = engine.list_containers(cluster_labels(cluster))
    nodes = [Node(c.name, c.labels.get(constants.LABEL_ROLE, ""), engine, network_name(cluster)) for c in found]
    return sorted(nodes, key=lambda n: (ROLE_ORDER.get(n.role, 9), n.name))


@dataclass
class Cluster:
    """An existing cluster: a name and the engine whose containers carry it."""

    name: str
    engine: Engine

    @classmethod
    def get(cls, name: str, engine: Engine) -> "Cluster":
        if not list_nodes(engine, name):
            raise ClusterError(f"no cluster named {name!r}", fix="see `kindlike get clusters`")
        return cls(name, engine)

    @property
    def nodes(self) -> list[Node]:
        return list_nodes(self.engine, self.name)

    @property
    def control_planes(self) -> list[Node]:
        return [n for n in self.nodes if n.role == "control-plane"]

    @property
    def workers(self) -> list[Node]:
        return [n for n in self.nodes if n.role == "worker"]

    def delete(self) -> dict[str, list[str]]:
        return delete_cluster_resources(self.engine, self.name)
