"""Run only when named on the command line, with --kindlike-loadbalancer:
a LoadBalancer Service of the session's cluster gets the host address in
its status while the session runs."""
import json
import socket
import time


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_load_balancer_service_gets_an_address(kindlike_cluster):
    port = free_port()
    kindlike_cluster.kubectl("create", "service", "loadbalancer", "plugin-lb", f"--tcp={port}:8080")
    try:
        deadline = time.monotonic() + 60
        ingress = []
        while time.monotonic() < deadline and not ingress:
            svc = json.loads(kindlike_cluster.kubectl("get", "service", "plugin-lb", "-o", "json").stdout)
            ingress = svc["status"].get("loadBalancer", {}).get("ingress") or []
            time.sleep(0.5)
        assert ingress and ingress[0]["ip"] == "127.0.0.1"
        assert [m.host_port for m in kindlike_cluster.exposed()] == [port]
    finally:
        kindlike_cluster.kubectl("delete", "service", "plugin-lb")
