"""Nodes on several hosts, the pure parts: the config's kindlike.host and
kindlike.hostAddress, the node plans (ports, labels), Flannel's manifest,
the kubeadm inputs and the doctor's checks. The real thing runs in
tests/e2e/test_multi_host.py."""
from __future__ import annotations

import pytest
import yaml

from kindlike.config import load_config_text
from kindlike.create import cni
from kindlike.create.nodeconfig import kubeadm_inputs
from kindlike.create.provision import node_plans
from kindlike.doctor.checks import FAIL, OK, WARN, check_hosts, check_vxlan_host
from kindlike.errors import ConfigError

H2, H3 = "unix:///run/h2/docker.sock", "ssh://me@10.0.0.3"
CONFIG = f"""\
kind: Cluster
apiVersion: kind.x-k8s.io/v1alpha4
nodes:
- role: control-plane
  kindlike: {{hostAddress: 10.0.0.1}}
- role: worker
  kindlike: {{host: "{H2}", hostAddress: 10.0.0.2}}
  extraPortMappings: [{{containerPort: 30080, hostPort: 30080}}]
- role: worker
  kindlike: {{host: "{H3}", hostAddress: 10.0.0.3}}
"""


def _problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as err:
        load_config_text(text, "test")
    return err.value.problems


def test_the_fields_are_read_and_make_the_cluster_multi_host():
    cfg = load_config_text(CONFIG, "test").cluster
    assert [(n.host, n.host_address) for n in cfg.nodes] == [("", "10.0.0.1"), (H2, "10.0.0.2"), (H3, "10.0.0.3")]
    assert cfg.multi_host
    assert not load_config_text("kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\n", "t").cluster.multi_host


def test_bad_placements_are_refused_with_their_field_paths():
    text = CONFIG.replace("hostAddress: 10.0.0.1", "hostAddress: 127.0.0.1").replace(
        f'host: "{H3}", hostAddress: 10.0.0.3', 'host: "docker.sock", hostAddress: 10.0.0.2')
    problems = _problems(text)
    assert any(p.startswith('nodes[0].kindlike.hostAddress: "127.0.0.1" is not an IPv4 address') for p in problems)
    assert any(p.startswith('nodes[2].kindlike.host: "docker.sock" is not an engine address') for p in problems)
    assert any(p.startswith("nodes[2].kindlike.hostAddress: 10.0.0.2 is also nodes[1]'s") for p in problems)
    missing = _problems(CONFIG.replace("  kindlike: {hostAddress: 10.0.0.1}\n", ""))
    assert any(p.startswith("nodes[0].kindlike.hostAddress: required") for p in missing)
    two_cps = _problems(CONFIG + "- role: control-plane\n  kindlike: {hostAddress: 10.0.0.4}\n")
    assert any("several control planes across hosts" in p for p in two_cps)
    unknown = _problems(CONFIG.replace("hostAddress: 10.0.0.1", "hostAdress: 10.0.0.1"))
    assert any("nodes[0].kindlike.hostAdress" in p for p in unknown)


def test_plans_publish_what_the_other_hosts_need_on_each_hosts_address():
    cfg = load_config_text(CONFIG, "test").cluster
    cp, w1, w2 = node_plans("mh", cfg)
    assert [(p.container_port, p.host_port, p.listen_address, p.protocol) for p in cp.published] == [
        (6443, 6443, "10.0.0.1", "TCP"), (10250, 10250, "10.0.0.1", "TCP"), (8472, 8472, "10.0.0.1", "UDP")]
    assert (30080, 30080, "0.0.0.0", "TCP") in [(p.container_port, p.host_port, p.listen_address, p.protocol)
                                                for p in w1.published]
    assert (w1.host, w2.host) == (H2, H3) and cp.host == ""
    # The cluster engine's node names the other hosts; each node its address.
    assert cp.labels["io.kindlike.hosts"] == f"{H2},{H3}"
    assert "io.kindlike.hosts" not in w1.labels
    assert [p.labels["io.kindlike.host-address"] for p in (cp, w1, w2)] == ["10.0.0.1", "10.0.0.2", "10.0.0.3"]


class _Facts:
    rootless, cgroup_version = False, 2


class _Planned:
    def __init__(self, name, role):
        self.name, self.role, self.ip = name, role, "172.18.0.9"


def test_kubeadm_knows_every_node_by_its_hosts_address():
    cfg = load_config_text(CONFIG, "test").cluster
    nodes = [_Planned("mh-control-plane", "control-plane"), _Planned("mh-worker", "worker"),
             _Planned("mh-worker2", "worker")]

    class Info:
        kubernetes_version, cgroup_driver = "v1.37.2", "cgroupfs"

    inputs = [inp for _n, _c, inp in kubeadm_inputs(_Facts(), "mh", cfg, nodes, Info())]
    assert [i.node_ip for i in inputs] == ["10.0.0.1", "10.0.0.2", "10.0.0.3"]
    assert {i.control_plane_endpoint for i in inputs} == {"10.0.0.1:6443"}
    assert "10.0.0.1" in inputs[0].api_server_cert_sans


def test_flannel_announces_the_hosts_address_from_the_nodes_own_interface():
    manifest = yaml.safe_dump({"kind": "DaemonSet", "spec": {"template": {"spec": {"containers": [
        {"name": "kube-flannel", "env": [{"name": "FLANNELD_IFACE", "value": "x"}, {"name": "A", "value": "1"}]}]}}}})
    env = yaml.safe_load(cni.across_hosts(manifest))["spec"]["template"]["spec"]["containers"][0]["env"]
    assert env == [{"name": "A", "value": "1"},
                   {"name": "FLANNELD_PUBLIC_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.hostIP"}}},
                   {"name": "FLANNELD_IFACE", "value": "eth0"}]


def test_doctor_checks_for_several_hosts():
    ok = check_hosts([("nodes[1].kindlike.host", H2, ""), ("nodes[2].kindlike.host", H3, "")])
    assert ok.status == OK and ok.fatal and "2 other hosts" in ok.message
    bad = check_hosts([("nodes[1].kindlike.host", H2, "connection refused"), ("nodes[2].kindlike.host", H3, "x")])
    assert bad.status == FAIL and bad.message.startswith(f"nodes[1].kindlike.host: the engine at {H2} does not "
                                                         "answer (connection refused); 1 more")
    assert check_vxlan_host({"vxlan": True, "br_netfilter": True}, "2\n").status == OK
    missing = check_vxlan_host({"vxlan": False, "br_netfilter": True}, "0")
    assert missing.status == WARN and missing.fix == "sudo modprobe vxlan (on every host)"
    assert check_vxlan_host({"vxlan": True, "br_netfilter": True}, "1").status == WARN
