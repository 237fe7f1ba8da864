"""Pure logic behind several control planes and restarts: fixed node
addresses, the load balancer's haproxy.cfg, the kubeadm certificate key."""
from __future__ import annotations

import time

import pytest

from kindlike.cluster.loadbalancer import render_config
from kindlike.cluster.nodes import node_addresses
from kindlike.errors import EngineError


def test_node_addresses_skip_the_gateway_and_follow_plan_order():
    assert node_addresses("172.18.0.0/16", 3) == ["172.18.0.2", "172.18.0.3", "172.18.0.4"]
    assert node_addresses("10.89.1.0/24", 1) == ["10.89.1.2"]


def test_node_addresses_refuse_a_subnet_too_small():
    with pytest.raises(EngineError, match="room for 1 nodes, not 2"):
        node_addresses("10.0.0.0/30", 2)


def test_haproxy_config_lists_every_control_plane_with_health_checks():
    cfg = render_config([("c-control-plane", "172.18.0.2"), ("c-control-plane2", "172.18.0.3")])
    servers = [l.split() for l in cfg.splitlines() if l.strip().startswith("server ")]
    assert servers == [["server", "c-control-plane", "172.18.0.2:6443"],
                       ["server", "c-control-plane2", "172.18.0.3:6443"]]
    assert "  bind *:6443" in cfg and "  option httpchk GET /healthz" in cfg
    assert "check check-ssl verify none" in cfg and "option redispatch" in cfg


def test_several_control_planes_share_a_certificate_key_and_the_load_balancer_endpoint(tmp_path):
    from kindlike.config import load_config
    from kindlike.create.dryrun import Facts, default_image_info, render_nodes

    path = tmp_path / "c.yaml"
    path.write_text("kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nnodes:\n"
                    "- role: control-plane\n- role: control-plane\n- role: worker\n")
    cfg = load_config(str(path)).cluster
    nodes = render_nodes("ha", cfg, default_image_info("kindlike/node:latest"), Facts(rootless=False, cgroup_version=2))
    init = nodes[0]["documents"]
    key = init["InitConfiguration"]["certificateKey"]
    assert len(key) == 64 and int(key, 16) >= 0
    assert init["ClusterConfiguration"]["controlPlaneEndpoint"] == "ha-external-load-balancer:6443"
    assert "ha-external-load-balancer" in init["ClusterConfiguration"]["apiServer"]["certSANs"]
    joining_cp = nodes[1]["documents"]["JoinConfiguration"]
    assert joining_cp["controlPlane"]["certificateKey"] == key
    assert joining_cp["discovery"]["bootstrapToken"]["apiServerEndpoint"] == "ha-external-load-balancer:6443"
    worker = nodes[2]["documents"]["JoinConfiguration"]
    assert "controlPlane" not in worker
    assert worker["discovery"]["bootstrapToken"]["apiServerEndpoint"] == "ha-external-load-balancer:6443"


def test_one_control_plane_has_no_certificate_key(tmp_path):
    from kindlike.config import load_config
    from kindlike.create.dryrun import Facts, default_image_info, render_nodes

    path = tmp_path / "c.yaml"
    path.write_text("kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nnodes:\n- role: control-plane\n")
    nodes = render_nodes("one", load_config(str(path)).cluster, default_image_info("kindlike/node:latest"),
                         Facts(rootless=False, cgroup_version=2))
    docs = nodes[0]["documents"]
    assert "certificateKey" not in docs["InitConfiguration"]
    assert docs["ClusterConfiguration"]["controlPlaneEndpoint"] == "one-control-plane:6443"


def _dns_pod(name, ready, started=None, *, deleting=False):
    """A CoreDNS pod; `started`: its container's start (epoch seconds), None
    when it has not started."""
    meta = {"name": name, "labels": {"k8s-app": "kube-dns"}}
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    running = {"running": {"startedAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started))}} \
        if started is not None else {"waiting": {"reason": "ContainerCreating"}}
    return {"kind": "Pod", "metadata": meta,
            "status": {"conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
                       "containerStatuses": [{"name": "coredns", "state": running}]}}


def test_a_coredns_pod_is_stalled_only_when_not_ready_three_seconds_after_its_start_and_the_api():
    from kindlike.cluster.usable import stalled_dns_pods

    api = 1_000_000.0
    items = [
        _dns_pod("early-stuck", False, api - 20),     # started before the API server: backing off
        _dns_pod("early-ready", True, api - 20),
        _dns_pod("fresh", False, api + 1),             # started after it: given its own 3 s
        _dns_pod("not-started", False, None),
        _dns_pod("going", False, api - 20, deleting=True),
        {"kind": "Pod", "metadata": {"name": "web", "labels": {"app": "web"}}, "status": {}},
    ]
    assert stalled_dns_pods(items, api, api + 2) == []
    assert stalled_dns_pods(items, api, api + 3.5) == ["early-stuck"]
    assert stalled_dns_pods(items, api, api + 4.5) == ["early-stuck", "fresh"]


def test_nodes_whose_kubelet_refused_a_pod_before_listing_services():
    from kindlike.cluster.usable import nodes_refusing_pods

    def pod(node, waiting, init=False):
        key = "initContainerStatuses" if init else "containerStatuses"
        return {"kind": "Pod", "metadata": {"name": f"p-{node}"}, "spec": {"nodeName": node},
                "status": {key: [{"name": "c", "state": {"waiting": waiting} if waiting else {"running": {}}}]}}

    refused = {"reason": "CreateContainerConfigError",
               "message": "services have not yet been read at least once, cannot construct envvars"}
    items = [pod("a", refused), pod("b", refused, init=True), pod("c", None),
             pod("d", {"reason": "CreateContainerConfigError", "message": 'secret "x" not found'}),
             pod("e", {"reason": "ContainerCreating"}), pod("", refused),
             {"kind": "Node", "metadata": {"name": "a"}}]
    assert nodes_refusing_pods(items) == {"a", "b"}
    assert nodes_refusing_pods([pod("c", None)]) == set()
