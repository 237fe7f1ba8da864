"""Pure logic behind several control planes and restarts: fixed node
addresses, the load balancer's haproxy.cfg, the kubeadm certificate key."""
from __future__ import annotations

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


class _ControlPlane:
    """Answers the CoreDNS pod listing and records the deletion."""

    def __init__(self, pods, code=0):
        self.pods, self.code, self.deleted = pods, code, None

    def exec(self, *cmd, check=True, timeout=None, **kw):
        import json

        from kindlike.engines.base import ExecResult

        if "delete" in cmd:
            self.deleted = list(cmd[cmd.index("--wait=false") + 1:])
            return ExecResult(0, "", "")
        return ExecResult(self.code, json.dumps({"items": self.pods}), "")


def _pod(name, ready):
    return {"metadata": {"name": name},
            "status": {"conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}}


def test_only_the_coredns_pods_not_ready_after_a_boot_are_made_again():
    from kindlike.cluster.boot import restart_dns_stalled_at_boot

    cp = _ControlPlane([_pod("coredns-a", True), _pod("coredns-b", False), {"metadata": {"name": "coredns-c"}}])
    restart_dns_stalled_at_boot(cp)
    assert cp.deleted == ["coredns-b", "coredns-c"]
    ready = _ControlPlane([_pod("coredns-a", True)])
    restart_dns_stalled_at_boot(ready)
    assert ready.deleted is None
    unanswered = _ControlPlane([], code=1)
    restart_dns_stalled_at_boot(unanswered)
    assert unanswered.deleted is None
