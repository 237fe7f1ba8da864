"""The node plan and step "Preparing nodes".

`node_plans` turns the config into one `NodePlan` per node: its name, role,
image and the ports and mounts it publishes (kind's providers' provision.go);
`--dry-run` prints these same plans. `provision` then creates the cluster
network and every node container, started concurrently, each waited on until
its systemd is up.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from kindlike import helperimage
from kindlike.cluster.boot import wait_for_systemd
from kindlike.cluster.nodes import Node, cluster_labels, network_name, node_addresses, node_labels, refuse_existing
from kindlike.config.naming import load_balancer_name, node_names
from kindlike.config.types import IP_FAMILY_IPV6, ClusterConfig, NodeConfig
from kindlike.constants import (
    API_SERVER_CONTAINER_PORT,
    FLANNEL_VXLAN_PORT,
    KUBELET_PORT,
    LABEL_ADDRESS,
    LABEL_HOST_ADDRESS,
    LABEL_HOSTS,
    ROLE_CONTROL_PLANE,
    ROLE_LOAD_BALANCER,
)
from kindlike.create.extras import spec_fields
from kindlike.engines.base import Engine, MountSpec, NodeSpec, PortSpec


@dataclass
class NodePlan:
    """One node as the cluster config describes it, engine-ready."""

    name: str
    role: str
    image: str
    labels: dict[str, str] = field(default_factory=dict)
    # The API server's port on control planes; published before `ports`.
    api_server: PortSpec | None = None
    ports: list[PortSpec] = field(default_factory=list)
    mounts: list[MountSpec] = field(default_factory=list)
    config: NodeConfig | None = None  # the config entry it came from
    env: dict[str, str] = field(default_factory=dict)  # read by the node's entrypoint
    # The name inside the node when not its container name: a copy of a
    # snapshot keeps the snapshot's node names (kindlike.snapshot).
    hostname: str = ""
    # The image's entrypoint and command when they must be given (a copy of
    # a snapshot); None = the image's own.
    entrypoint: list[str] | None = None
    command: list[str] | None = None
    # Nodes on several hosts: the engine of this node's host ("" = the
    # cluster's) and the host's address (kindlike.cluster.hosts).
    host: str = ""
    host_address: str = ""

    @property
    def published(self) -> list[PortSpec]:
        return ([self.api_server] if self.api_server else []) + self.ports


def api_server_port(cfg: ClusterConfig) -> PortSpec:
    """Where a control plane publishes the API server. With several control
    planes each gets a random loopback port and kind's external load
    balancer takes apiServerAddress:apiServerPort (kindlike.cluster.loadbalancer)."""
    net = cfg.networking
    if cfg.multi_host:
        return PortSpec(API_SERVER_CONTAINER_PORT, API_SERVER_CONTAINER_PORT, cfg.control_planes()[0].host_address,
                        "TCP")
    if len(cfg.control_planes()) > 1:
        loopback = "::1" if net.ip_family == IP_FAMILY_IPV6 else "127.0.0.1"
        return PortSpec(API_SERVER_CONTAINER_PORT, 0, loopback, "TCP")
    return _api_server_on_host(cfg)


def _api_server_on_host(cfg: ClusterConfig) -> PortSpec:
    """apiServerAddress:apiServerPort: the one control plane's, or the load balancer's."""
    net = cfg.networking
    return PortSpec(API_SERVER_CONTAINER_PORT, net.api_server_port, net.api_server_address, "TCP")


def load_balancer_plan(cluster: str, cfg: ClusterConfig) -> NodePlan | None:
    """The external load balancer's container plan (kindlike.cluster.loadbalancer),
    or None with one control plane. Its image is the helper image."""
    if len(cfg.control_planes()) < 2:
        return None
    return NodePlan(load_balancer_name(cluster), ROLE_LOAD_BALANCER, helperimage.image_tag(),
                    api_server=_api_server_on_host(cfg))


def node_plans(cluster: str, cfg: ClusterConfig) -> list[NodePlan]:
    plans = []
    for name, role, node in node_names(cfg, cluster):
        ports = [PortSpec(p.container_port, p.host_port, p.listen_address, p.protocol)
                 for p in node.extra_port_mappings]
        mounts = [MountSpec(m.absolute_host_path(), m.container_path, m.read_only, m.propagation, m.selinux_relabel)
                  for m in node.extra_mounts]
        api = api_server_port(cfg) if role == ROLE_CONTROL_PLANE else None
        search = cfg.networking.dns_search
        env = {} if search is None else {"KINDLIKE_DNS_SEARCH": " ".join(search)}
        plan = NodePlan(name, role, node.image, api_server=api, ports=ports, mounts=mounts, config=node, env=env,
                        host=node.host, host_address=node.host_address)
        if cfg.multi_host:
            on_other_hosts(plan, cfg)
        plans.append(plan)
    return plans


def on_other_hosts(plan: NodePlan, cfg: ClusterConfig) -> None:
    """What a node needs when the cluster's nodes are on several hosts: the
    ports the other hosts reach it through (the kubelet's, Flannel's VXLAN),
    published on its host's address, and the labels that find it again."""
    plan.ports += [PortSpec(p, p, plan.host_address, proto) for p, proto in HOST_PORTS]
    plan.labels[LABEL_HOST_ADDRESS] = plan.host_address
    if not plan.host:
        # The cluster engine's nodes name the other hosts' engines.
        plan.labels[LABEL_HOSTS] = ",".join(dict.fromkeys(n.host for n in cfg.nodes if n.host))


# The kubelet (logs, exec, metrics from the API server) and Flannel's VXLAN.
HOST_PORTS = ((KUBELET_PORT, "TCP"), (FLANNEL_VXLAN_PORT, "UDP"))


def node_spec(engine: Engine, cluster: str, plan: NodePlan) -> NodeSpec:
    info = engine.info()
    if plan.role == ROLE_LOAD_BALANCER:
        return NodeSpec(name=plan.name, image=plan.image, network=network_name(cluster),
                        labels={**node_labels(cluster, plan.role), **plan.labels}, ports=plan.published,
                        var_volume=False, privileged=False)

    sized = spec_fields(plan.config)
    return NodeSpec(
        name=plan.name,
        image=plan.image,
        network=network_name(cluster),
        labels={**node_labels(cluster, plan.role), **plan.labels, **sized.pop("labels")},
        **sized,
        ports=plan.published,
        mounts=list(plan.mounts),
        # fuse-overlayfs is the containerd snapshotter of last resort in a
        # user namespace; it needs the device.
        devices=["/dev/fuse"] if info.rootless else [],
        env=dict(plan.env),
        hostname=plan.hostname,
        entrypoint=plan.entrypoint,
        command=plan.command,
        aliases=[plan.hostname] if plan.hostname and plan.hostname != plan.name else [],
    )


def engine_of(engine: Engine, plan: NodePlan) -> Engine:
    """The engine a node runs in: its host's, else the cluster's."""
    return engine.at(plan.host) if plan.host else engine


def provision(engine: Engine, cluster: str, plans: list[NodePlan], *, boot_timeout: float = 120,
              up: bool = True) -> list[Node]:
    """Create the network and start all nodes (and the load balancer, whose
    plan comes last) at once, each in its host's engine; return them, the
    nodes booted (`up`), or only handed over to systemd (see
    boot.wait_for_systemd)."""
    net = network_name(cluster)
    specs: dict[str, NodeSpec] = {}
    for e in dict.fromkeys(engine_of(engine, p) for p in plans):
        refuse_existing(e, cluster)
        if net in e.list_networks(cluster_labels(cluster)):
            e.delete_network(net)  # left by an earlier cluster of this name (no nodes, as just checked)
        e.ensure_network(net, cluster_labels(cluster))
        here = [p for p in plans if engine_of(engine, p) is e]
        for p, ip in zip(here, node_addresses(e.network_subnet(net), len(here))):
            specs[p.name] = node_spec(e, cluster, p)
            specs[p.name].ip = ip
            specs[p.name].labels[LABEL_ADDRESS] = ip
    nodes = [Node(p.name, p.role, engine_of(engine, p), net, p.host_address) for p in plans]
    with ThreadPoolExecutor(max_workers=max(1, len(plans))) as pool:
        list(pool.map(lambda n: n.engine.run_node(specs[n.name]), nodes))
        list(pool.map(lambda n: wait_for_systemd(n, boot_timeout, up=up),
                      [n for n in nodes if n.role != ROLE_LOAD_BALANCER]))
    return nodes
