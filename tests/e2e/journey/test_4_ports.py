"""Ports after create on the journey's cluster, through the CLI: a NodePort
published with `expose add` answers on the host, a second mapping keeps
answering while the first is removed, a UDP mapping (cluster DNS reached
from the host), a mapping on another host address, and `kindlike
loadbalancer` publishing a LoadBalancer Service on the address it writes in
the Service's status (a privileged port shifted under a rootless engine),
unpublishing it when the Service goes. The mappings are left for the
lifecycle module, which checks that they survive stop/start."""
from __future__ import annotations

import json
import os
import random
import signal
import socket
import struct
import subprocess
import sys
import textwrap
import threading
import time
import urllib.request

import pytest

from kindlike.cluster.nodes import cluster_labels
from kindlike.constants import LABEL_ROLE, ROLE_PORT_FORWARDER
from kindlike.engines.common import pick_free_port
from tests.conftest import REPO
from tests.e2e.helpers import retry, wait_until

pytestmark = pytest.mark.e2e


def get(port: int, timeout: float = 3, host: str = "127.0.0.1") -> str:
    return urllib.request.urlopen(f"http://{host}:{port}/", timeout=timeout).read().decode().strip()


def answers(port: int, host: str = "127.0.0.1") -> bool:
    try:
        return get(port, timeout=2, host=host) == "web"
    except OSError:
        return False


def forwarders(engine, name):
    return engine.list_containers({**cluster_labels(name), LABEL_ROLE: ROLE_PORT_FORWARDER})


def expose(journey, *args: str) -> subprocess.CompletedProcess:
    return journey.cli("expose", *args[:1], "--name", journey.name, *args[1:])


def test_expose_add_list_and_a_clear_refusal(journey, engine):
    res = expose(journey, "add", "0:30080")
    assert res.returncode == 0, res.stderr
    first = int(res.stdout.strip())
    assert retry(lambda: get(first), attempts=15, delay=1) == "web"
    worker = journey.nodes[1].name
    res = expose(journey, "add", "--node", worker, "0:30080/tcp")
    assert res.returncode == 0, res.stderr
    second = int(res.stdout.strip())
    assert retry(lambda: get(second), attempts=15, delay=1) == "web"
    res = expose(journey, "list")
    assert f"127.0.0.1:{first} -> {journey.nodes[0].name}:30080/tcp" in res.stdout, res.stdout
    assert f"127.0.0.1:{second} -> {worker}:30080/tcp" in res.stdout, res.stdout
    journey.mappings = {"first": first, "second": second}

    # The same host port again: one clear error, nothing added.
    res = expose(journey, "add", f"{second}:30080")
    assert res.returncode == 1 and "already mapped" in res.stderr and "Traceback" not in res.stderr, res.stderr
    assert len(forwarders(engine, journey.name)) == 2
    if engine.info().rootless:
        floor = int(open("/proc/sys/net/ipv4/ip_unprivileged_port_start").read())
        if floor > 80:
            res = expose(journey, "add", "80:30080")
            assert res.returncode == 1 and "ip_unprivileged_port_start" in res.stderr, res.stderr
            assert len(forwarders(engine, journey.name)) == 2


def test_removing_a_mapping_drops_no_request_on_another(journey):
    first, second = journey.mappings["first"], journey.mappings["second"]
    served, failures, done = [0], [], threading.Event()

    def hammer():
        while not done.is_set():
            try:
                assert get(second) == "web"
                served[0] += 1
            except Exception as e:  # noqa: BLE001 - counted
                failures.append(repr(e))
            time.sleep(0.02)

    t = threading.Thread(target=hammer)
    t.start()
    try:
        wait_until(lambda: served[0] >= 20, "requests before the removal")
        res = expose(journey, "remove", str(first))
        assert res.returncode == 0, res.stderr
        after = served[0]
        wait_until(lambda: served[0] >= after + 20, "requests after the removal")
    finally:
        done.set()
        t.join()
    assert failures == [], failures[:3]
    assert not answers(first)


DNS_NODEPORT = 30053


def dns_query(port: int, name: str) -> bytes:
    """One A query over UDP to 127.0.0.1:port; the raw answer."""
    qid = random.randrange(1 << 16)
    labels = b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0"
    packet = struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0) + labels + struct.pack("!HH", 1, 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(2)
        s.sendto(packet, ("127.0.0.1", port))
        data = s.recv(4096)
    assert struct.unpack("!H", data[:2])[0] == qid
    return data


def test_udp_mapping_reaches_cluster_dns(journey):
    journey.k("apply", "-f", "-", stdin=textwrap.dedent(f"""\
        apiVersion: v1
        kind: Service
        metadata: {{name: dns-udp, namespace: kube-system}}
        spec:
          type: NodePort
          selector: {{k8s-app: kube-dns}}
          ports: [{{port: 53, protocol: UDP, targetPort: 53, nodePort: {DNS_NODEPORT}}}]
        """))
    # A datagram sent before kube-proxy has the NodePort's rule leaves a
    # conntrack entry without the DNAT, which later ones from the forwarder
    # follow until it expires (30 s for UDP): ask only once the rule is there.
    wait_until(lambda: f"--dport {DNS_NODEPORT} " in journey.nodes[0].exec(
        "iptables", "-t", "nat", "-S", "KUBE-NODEPORTS", check=False).stdout,
        f"kube-proxy's rule for NodePort {DNS_NODEPORT}/udp", timeout=60)
    res = expose(journey, "add", f"0:{DNS_NODEPORT}/udp")
    assert res.returncode == 0, res.stderr
    port = int(res.stdout.strip())
    assert f"127.0.0.1:{port} -> {journey.nodes[0].name}:{DNS_NODEPORT}/udp" in expose(journey, "list").stdout
    answer = retry(lambda: dns_query(port, "kubernetes.default.svc.cluster.local"), attempts=30, delay=1)
    flags, _, ancount = struct.unpack("!HHH", answer[2:8])
    assert flags & 0x8000 and flags & 0xF == 0 and ancount >= 1, answer
    res = expose(journey, "remove", f"{port}/udp")
    assert res.returncode == 0, res.stderr
    journey.k("-n", "kube-system", "delete", "service", "dns-udp")


def test_expose_on_another_host_address(journey):
    res = expose(journey, "add", "--address", "127.0.0.2", "0:30080")
    assert res.returncode == 0, res.stderr
    port = int(res.stdout.strip())
    assert retry(lambda: get(port, host="127.0.0.2"), attempts=15, delay=1) == "web"
    assert f"127.0.0.2:{port} -> " in expose(journey, "list").stdout
    assert not answers(port, host="127.0.0.1")
    res = expose(journey, "remove", str(port))
    assert res.returncode == 0, res.stderr


def lb_service(name: str, port: int) -> str:
    return textwrap.dedent(f"""\
        apiVersion: v1
        kind: Service
        metadata: {{name: {name}}}
        spec:
          type: LoadBalancer
          selector: {{app: web}}
          ports: [{{port: {port}, targetPort: 8080}}]
        """)


# Not the default 127.0.0.1: the Services must be published, and their
# status written, with the address asked for.
LB_ADDRESS = "127.0.0.2"


def start_loadbalancer(journey):
    args = ["loadbalancer", "--name", journey.name, "--address", LB_ADDRESS]
    if journey.engine_kind.startswith("rootless"):
        cmd = [str(REPO / "hack" / "as-rootless.sh"), "kindlike", *args]
    else:
        cmd = [sys.executable, "-m", "kindlike.cli.main", *args]
    return subprocess.Popen(cmd, env={**os.environ, **journey.env}, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)


def stop_loadbalancer(proc) -> str:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
    out = proc.stdout.read() if proc.stdout else ""
    print(f"$ kindlike loadbalancer\n{out}")
    return out


def ingress(k, svc: str) -> list:
    return json.loads(k("get", "service", svc, "-o", "json"))["status"].get("loadBalancer", {}).get("ingress") or []


def test_load_balancer_services(journey, engine):
    k, name = journey.k, journey.name
    lb_port = pick_free_port(LB_ADDRESS)
    proc = start_loadbalancer(journey)
    try:
        k("apply", "-f", "-", stdin=lb_service("web-lb", lb_port))
        retry(lambda: ingress(k, "web-lb")[0]["ip"], attempts=60, delay=0.5)
        assert proc.poll() is None
        assert ingress(k, "web-lb")[0]["ip"] == LB_ADDRESS
        assert retry(lambda: get(lb_port, host=LB_ADDRESS), attempts=60, delay=0.5) == "web"
        assert not answers(lb_port), "published on the address asked for only"
        if engine.info().rootless and int(open("/proc/sys/net/ipv4/ip_unprivileged_port_start").read()) > 80:
            # A privileged port goes to port + 10000, and the status says where.
            k("apply", "-f", "-", stdin=lb_service("web-80", 80))
            retry(lambda: ingress(k, "web-80")[0]["ports"][0]["error"], attempts=60, delay=0.5)
            assert ingress(k, "web-80")[0]["ports"][0]["error"] == "kindlike.x-k8s.io/HostPort10080"
            assert retry(lambda: get(10080, host=LB_ADDRESS), attempts=30, delay=0.5) == "web"
            k("delete", "service", "web-80")
        # Deleted: it stops answering and its forwarder goes.
        k("delete", "service", "web-lb")
        wait_until(lambda: not answers(lb_port, LB_ADDRESS), "the deleted Service's port to close")
        wait_until(lambda: all(c.labels.get("io.kindlike.service") is None for c in forwarders(engine, name)),
                   "the deleted Service's forwarder to go")
        assert proc.poll() is None
    finally:
        out = stop_loadbalancer(proc)
    assert f"published default/web-lb/{lb_port}" in out and "Traceback" not in out, out
