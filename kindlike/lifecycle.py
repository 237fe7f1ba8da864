"""A cluster's life after create: its state, `stop cluster`, `start cluster`
and `delete node`.

Stopping stops every container of the cluster (nodes, load balancer and
port forwarders);
their filesystems and /var volumes stay, so nothing is lost, and the engine
does not start them again until asked (Docker's unless-stopped and Podman's
always both leave a container stopped by the user alone). Starting starts
them all at once, waits for systemd in every node and for the API server,
re-points the load balancer at the control planes and re-exports the
kubeconfig when the API server's host address changed. Nodes keep their
addresses (kindlike.cluster.nodes.node_addresses), so nothing inside the
cluster has to be re-pointed.
"""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable

import yaml

from kindlike import kubeconfig as kc
from kindlike.cluster import hosts, loadbalancer
from kindlike.cluster.apiclient import admin_api
from kindlike.cluster.boot import keep_pod_network_state, restart_kubelets, wait_for_systemd
from kindlike.cluster.kubectl import kubectl, wait_api
from kindlike.cluster.nodes import Node, cluster_labels, first_running, list_nodes, load_balancer
from kindlike.cluster.usable import BOOT_POLL, wait_usable
from kindlike.constants import LABEL_ADDRESS, ROLE_CONTROL_PLANE, ROLE_WORKER
from kindlike.errors import ClusterError

RUNNING, STOPPED, PARTLY = "running", "stopped", "partly running"


def cluster_state(engine, cluster: str) -> str:
    """running, stopped, or "partly running (2/5)"; "" when there is no such cluster."""
    containers = engine.list_containers(cluster_labels(cluster))
    if not containers:
        return ""
    up = sum(c.state == "running" for c in containers)
    if up == len(containers):
        return RUNNING
    return STOPPED if up == 0 else f"{PARTLY} ({up}/{len(containers)})"


def _containers(engine, cluster: str) -> list[Node]:
    nodes = list_nodes(engine, cluster, helpers=True)
    if not nodes:
        raise ClusterError(f"no cluster named {cluster!r}", fix="see `kindlike get clusters`")
    return nodes


def stop_cluster(engine, cluster: str, timeout: int = 60) -> list[str]:
    """Stop every container of the cluster; returns their names."""
    nodes = _containers(engine, cluster)
    names = [n.name for n in nodes]
    with ThreadPoolExecutor(max_workers=len(names)) as pool:
        list(pool.map(keep_pod_network_state,
                      [n for n in nodes if n.role in (ROLE_CONTROL_PLANE, ROLE_WORKER) and n.running]))
        # systemd in each node stops the kubelet and containerd in order; it
        # gets `timeout` seconds before the engine kills it.
        list(pool.map(lambda name: engine.stop_containers([name], timeout=timeout), names))
    return names


@dataclass
class StartResult:
    name: str
    nodes: list[str]
    kubeconfig_path: str = ""
    kubeconfig_changed: bool = False
    durations: dict[str, float] = field(default_factory=dict)


def start_cluster(engine, cluster: str, *, wait: float = 0.0, kubeconfig: str | None = None,
                  boot_timeout: float = 120, api_timeout: float = 120,
                  say: Callable[[str], None] | None = None) -> StartResult:
    """Start a stopped (or partly stopped) cluster: back when the API server
    answers, and with `wait` > 0 when it is usable again (kindlike.cluster.usable;
    `say` hears what is awaited)."""
    nodes = _containers(engine, cluster)
    t0 = time.monotonic()
    started_at = time.time()
    with ThreadPoolExecutor(max_workers=len(nodes)) as pool:
        list(pool.map(lambda n: engine.start_containers([n.name]), nodes))
        kube = [n for n in nodes if n.role in (ROLE_CONTROL_PLANE, ROLE_WORKER)]
        list(pool.map(lambda n: wait_for_systemd(n, boot_timeout), kube))
        list(pool.map(hosts.own_host_address, [n for n in kube if n.host_address]))
    res = StartResult(cluster, [n.name for n in nodes])
    res.durations["containers"] = time.monotonic() - t0
    cps = [n for n in kube if n.role == ROLE_CONTROL_PLANE]
    lb = load_balancer(engine, cluster)
    if lb is not None:
        loadbalancer.configure(lb, cps)
    api = admin_api(cps[0], lb or cps[0])
    try:
        wait_api(cps[0], api_timeout, booted=True, api=api)
        res.durations["api"] = time.monotonic() - t0
        if wait > 0:
            wait_usable(cps[0], None, wait, since=started_at, storage=False, say=say, kubectl_poll=BOOT_POLL, api=api,
                        kick=lambda names: restart_kubelets(kube, names))
            res.durations["usable"] = time.monotonic() - t0
    finally:
        if api is not None:
            api.close()
    text = kc.cluster_kubeconfig(engine, cluster)
    server = yaml.safe_load(text)["clusters"][0]["cluster"]["server"]
    res.kubeconfig_path = str(kc.default_path(kubeconfig))
    if kc.server_of(cluster, kubeconfig) != server:
        kc.merge(cluster, text, kubeconfig, set_current=False)
        res.kubeconfig_changed = True
    return res


def remove_node(engine, cluster: str, node_name: str) -> Node:
    """Take a worker out of the cluster: its pods are evicted to the other
    nodes (at most a minute), its Node object deleted, then its container
    and /var volume removed from its host's engine. Returns the node."""
    found = {n.name: n for n in list_nodes(engine, cluster)}
    if not found:
        raise ClusterError(f"no cluster named {cluster!r}", fix="see `kindlike get clusters`")
    node = found.get(node_name)
    if node is None:
        raise ClusterError(f"cluster {cluster!r} has no node {node_name!r}",
                           fix=f"its nodes: {', '.join(sorted(found))}")
    if node.role != ROLE_WORKER:
        raise ClusterError(f"{node_name} is a control plane; only workers can be removed",
                           fix=f"delete the whole cluster: kindlike delete cluster --name {cluster}")
    cp = first_running([n for n in found.values() if n.role == ROLE_CONTROL_PLANE])
    if cp is not None:
        # The Node's name is the node's hostname, which a copy of a snapshot
        # keeps from the snapshot: ask the node.
        hostname = node.output("hostname", check=False).strip() or node.name if node.running else node.name
        kubectl(cp, "drain", hostname, "--ignore-daemonsets", "--delete-emptydir-data", "--force",
                "--timeout=60s", check=False, timeout=120)
        kubectl(cp, "delete", "node", hostname, "--ignore-not-found", check=False, timeout=60)
    address = node.engine.container(node.name).labels.get(LABEL_ADDRESS, "")
    node.engine.remove_containers([node.name])
    if address:
        node.engine.remove_volumes({**cluster_labels(cluster), LABEL_ADDRESS: address})
    return node
