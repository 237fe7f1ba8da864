"""Services of type LoadBalancer, published on the host (`kindlike loadbalancer`).

A loop reads the cluster's Services every `interval` seconds and makes the
port forwarders (kindlike.ports) match them: each port of each LoadBalancer
Service is published on the host at its own port number and forwarded to
its NodePort on a node (kube-proxy routes a NodePort from any node), and
the Service's status.loadBalancer.ingress gets the host address. Under a
rootless engine a port below net.ipv4.ip_unprivileged_port_start cannot be
published as it is; it goes to port + 10000 (as k3s' rootless mode does),
and the port's entry in the status says so in its `error` field
(kindlike.x-k8s.io/HostPort<N>). Forwarders of Services that are gone or
changed are removed. What was published stays when the loop stops, so it
survives `stop`/`start`; the next loop picks up from there.
"""
from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from typing import Callable

from kindlike import ports
from kindlike.cluster.kubectl import kubectl
from kindlike.cluster.nodes import Node, first_running, list_nodes
from kindlike.constants import ROLE_CONTROL_PLANE
from kindlike.doctor.host import HostFiles
from kindlike.errors import KindlikeError

SHIFT = 10000
SHIFTED = "kindlike.x-k8s.io/HostPort"


@dataclass(frozen=True)
class Wanted:
    service: str  # NAMESPACE/NAME/PORT
    host_port: int
    node_port: int
    protocol: str
    shifted: bool


def _floor() -> int:
    v = HostFiles().sysctl("net.ipv4.ip_unprivileged_port_start")
    return int(v) if v and v.strip().isdigit() else 1024


def wanted(services: list[dict], rootless: bool, floor: int) -> dict[str, Wanted]:
    """What should be published for these Service objects, by NAMESPACE/NAME/PORT."""
    out = {}
    for svc in services:
        spec = svc.get("spec") or {}
        if spec.get("type") != "LoadBalancer":
            continue
        meta = svc["metadata"]
        for p in spec.get("ports") or []:
            proto = (p.get("protocol") or "TCP").lower()
            if proto not in ("tcp", "udp") or not p.get("nodePort"):
                continue
            port = int(p["port"])
            shifted = rootless and port < floor
            key = f"{meta['namespace']}/{meta['name']}/{port}"
            out[key] = Wanted(key, port + SHIFT if shifted else port, int(p["nodePort"]), proto, shifted)
    return out


def _kubectl(cp: Node, *args: str):
    return kubectl(cp, *args, check=False, timeout=30)


def status_patch(entries: list[Wanted], address: str) -> dict:
    ports = [{"port": w.host_port - SHIFT if w.shifted else w.host_port, "protocol": w.protocol.upper(),
              **({"error": f"{SHIFTED}{w.host_port}"} if w.shifted else {})} for w in entries]
    return {"status": {"loadBalancer": {"ingress": [{"ip": address, "ipMode": "Proxy", "ports": ports}]
                                        if entries else []}}}


class Controller:
    """One cluster's LoadBalancer Services, kept published by `sync()`."""

    def __init__(self, engine, cluster: str, *, address: str = "127.0.0.1",
                 note: Callable[[str], None] | None = None):
        self.engine, self.cluster, self.address = engine, cluster, address
        self.note = note or (lambda _line: None)
        self.rootless = engine.info().rootless
        self.floor = _floor()
        self._status: dict[str, str] = {}  # Service -> the status last written
        self._failed: dict[str, str] = {}  # mapping key -> why it could not be published
        self.last_error = ""

    def _control_plane(self) -> Node:
        cp = first_running([n for n in list_nodes(self.engine, self.cluster) if n.role == ROLE_CONTROL_PLANE])
        if cp is not None:
            return cp
        raise KindlikeError(f"cluster {self.cluster!r} has no running control plane",
                            fix=f"start it: kindlike start cluster --name {self.cluster}")

    def sync(self) -> None:
        cp = self._control_plane()
        res = _kubectl(cp, "get", "services", "--all-namespaces", "-o", "json")
        if res.code != 0:
            self.note(f"cannot list Services: {res.output.strip().splitlines()[-1:] or ['no answer']}")
            return
        want = wanted(json.loads(res.stdout).get("items", []), self.rootless, self.floor)
        have = {m.service: m for m in ports.list_mappings(self.engine, self.cluster) if m.service}
        for key, m in have.items():
            w = want.get(key)
            if w is None or (w.host_port, w.node_port, w.protocol) != (m.host_port, m.container_port, m.protocol):
                ports.remove(self.engine, self.cluster, m.host_port, m.protocol)
                self.note(f"removed {m} ({key})")
        have = {m.service: m for m in ports.list_mappings(self.engine, self.cluster) if m.service}
        for key, w in want.items():
            if key in have:
                continue
            try:
                m = ports.add(self.engine, self.cluster, w.host_port, w.node_port, w.protocol,
                              address=self.address, service=key)
            except KindlikeError as e:
                if self._failed.get(key) != e.message:
                    self.note(f"cannot publish {key}: {e.message}")
                self._failed[key] = e.message
                continue
            self._failed.pop(key, None)
            self.note(f"published {key} on {m}" + (f" (port {w.host_port - SHIFT} is privileged under a rootless "
                                                   f"engine: shifted by {SHIFT})" if w.shifted else ""))
        self._write_status(cp, want)

    def _write_status(self, cp: Node, want: dict[str, Wanted]) -> None:
        published = {m.service for m in ports.list_mappings(self.engine, self.cluster) if m.service}
        by_service: dict[str, list[Wanted]] = {}
        for key, w in want.items():
            by_service.setdefault(key.rsplit("/", 1)[0], [])
            if key in published:
                by_service[key.rsplit("/", 1)[0]].append(w)
        for svc, entries in by_service.items():
            patch = json.dumps(status_patch(entries, self.address), sort_keys=True)
            if self._status.get(svc) == patch:
                continue
            ns, name = svc.split("/", 1)
            res = _kubectl(cp, "-n", ns, "patch", "service", name, "--subresource=status", "--type=merge", "-p", patch)
            if res.code == 0:
                self._status[svc] = patch
            else:
                self.note(f"cannot write the status of {svc}: {res.output.strip()[-300:]}")
        for svc in set(self._status) - set(by_service):
            del self._status[svc]

    def run(self, interval: float = 1.0, stop: threading.Event | None = None) -> None:
        stop = stop or threading.Event()
        while not stop.is_set():
            started = time.monotonic()
            try:
                self.sync()
            except Exception as e:  # noqa: BLE001 - a restarting engine or API server; the next round retries
                msg = f"{type(e).__name__}: {e}"
                if msg != self.last_error:
                    self.note(f"sync failed, retrying: {msg}")
                self.last_error = msg
            else:
                self.last_error = ""
            stop.wait(max(0.0, interval - (time.monotonic() - started)))
