"""Pure logic of ports published after create and of LoadBalancer Services:
mapping syntax, the label a forwarder carries, what a Service asks for and
the status written back."""
from __future__ import annotations

import pytest

from kindlike.lbservices import SHIFT, status_patch, wanted
from kindlike.ports import Mapping, PortError, parse


@pytest.mark.parametrize("spec,expected", [
    ("8080:30080", (8080, 30080, "tcp")),
    ("0:80/tcp", (0, 80, "tcp")),
    ("5353:53/UDP", (5353, 53, "udp")),
])
def test_parse_mapping(spec, expected):
    assert parse(spec) == expected


@pytest.mark.parametrize("spec", ["8080", "a:b", "8080:30080/sctp", "70000:80", "80:0", "-1:80", ""])
def test_parse_refuses_what_is_not_a_mapping(spec):
    with pytest.raises(PortError):
        parse(spec)


def test_mapping_label_round_trip():
    m = Mapping(8080, 30080, "tcp", "c-worker", "127.0.0.1", "default/web/80")
    assert Mapping.from_label(m.label(), "default/web/80") == m
    assert str(m) == "127.0.0.1:8080 -> c-worker:30080/tcp"
    assert Mapping.from_label("garbage") is None


def svc(name, type_, ports, ns="default"):
    return {"metadata": {"name": name, "namespace": ns}, "spec": {"type": type_, "ports": ports}}


def test_only_load_balancer_services_with_node_ports_are_wanted():
    services = [
        svc("web", "LoadBalancer", [{"port": 8080, "nodePort": 31000, "protocol": "TCP"},
                                    {"port": 5353, "nodePort": 31001, "protocol": "UDP"},
                                    {"port": 9000, "nodePort": 31002, "protocol": "SCTP"}]),
        svc("plain", "ClusterIP", [{"port": 80}]),
        svc("pending", "LoadBalancer", [{"port": 81}]),  # no nodePort allocated yet
    ]
    got = wanted(services, rootless=False, floor=1024)
    assert sorted(got) == ["default/web/5353", "default/web/8080"]
    assert (got["default/web/8080"].host_port, got["default/web/8080"].node_port) == (8080, 31000)
    assert got["default/web/5353"].protocol == "udp"


def test_privileged_ports_shift_only_under_a_rootless_engine():
    services = [svc("web", "LoadBalancer", [{"port": 80, "nodePort": 31000}])]
    assert wanted(services, rootless=False, floor=1024)["default/web/80"].host_port == 80
    w = wanted(services, rootless=True, floor=1024)["default/web/80"]
    assert (w.host_port, w.shifted) == (80 + SHIFT, True)
    assert wanted(services, rootless=True, floor=0)["default/web/80"].host_port == 80
    patch = status_patch([w], "127.0.0.1")
    ingress = patch["status"]["loadBalancer"]["ingress"]
    assert ingress == [{"ip": "127.0.0.1", "ipMode": "Proxy",
                        "ports": [{"port": 80, "protocol": "TCP", "error": f"kindlike.x-k8s.io/HostPort{80 + SHIFT}"}]}]
    assert status_patch([], "127.0.0.1") == {"status": {"loadBalancer": {"ingress": []}}}
