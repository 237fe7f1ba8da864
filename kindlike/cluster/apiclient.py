"""The API server asked from kindlike's own process, at the address the
engine publishes it on, with the credentials of kubeadm's admin.conf.

kindlike's waits (the admin able to write, a usable cluster) ask the API
server again and again while the control plane starts on the same two
cores. A kubectl started in a node for each look costs about 0.25
CPU-seconds, taken from the control plane it waits for; a request on a
kept connection costs milliseconds. Whoever uses it falls back to kubectl
in the node when a request gets no answer: for that look only while the
API server may still be starting (it then refuses connections here and
in the node alike), for good (`broken`) once kubectl got an answer this
could not (an address the host cannot reach) or the certificate does not
name the address. While the API server starts, kubectl is asked at most
once every FALLBACK_GAP seconds: each look in between counts as no answer,
so a wait keeps its fine polling instead of a kubectl exec per look.
"""
from __future__ import annotations

import base64
import http.client
import json
import os
import ssl
import tempfile
import time
from typing import Callable, TypeVar

import yaml

from kindlike.cluster.nodes import Node, published_address
from kindlike.constants import ADMIN_CONF

# A kubectl exec in a node takes 0.5-0.8 s on a busy 2-core machine: asked
# for every look of a wait polling every 0.1 s, it was the wait's pace.
FALLBACK_GAP = 2.0


class ApiUnreachable(Exception):
    pass


class Api:
    def __init__(self, host: str, port: int, admin_conf: str, timeout: float = 10):
        doc = yaml.safe_load(admin_conf)
        cluster, user = doc["clusters"][0]["cluster"], doc["users"][0]["user"]
        ctx = ssl.create_default_context(cadata=base64.b64decode(cluster["certificate-authority-data"]).decode())
        # ssl loads a client certificate only from a file: one only we can
        # read, gone once loaded.
        with tempfile.TemporaryDirectory(prefix="kindlike-api-") as d:
            pem = os.path.join(d, "admin.pem")
            with os.fdopen(os.open(pem, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as f:
                f.write(base64.b64decode(user["client-certificate-data"]) + b"\n"
                        + base64.b64decode(user["client-key-data"]))
            ctx.load_cert_chain(pem)
        self.host, self.port, self.timeout, self._ssl = host, port, timeout, ctx
        self._conn: http.client.HTTPSConnection | None = None
        self.broken = False
        self.fallback_at = float("-inf")  # when kubectl was last asked instead

    def request(self, method: str, path: str, body: dict | None = None) -> tuple[int, bytes]:
        """(status, body); ApiUnreachable when no answer came, twice."""
        if self.broken:
            raise ApiUnreachable(f"{self.host}:{self.port}: not used any more")
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Accept": "application/json", **({"Content-Type": "application/json"} if data else {})}
        for attempt in (1, 2):  # a kept connection the server has closed: once more on a new one
            if self._conn is None:
                self._conn = http.client.HTTPSConnection(self.host, self.port, context=self._ssl, timeout=self.timeout)
            try:
                self._conn.request(method, path, body=data, headers=headers)
                res = self._conn.getresponse()
                return res.status, res.read()
            except (OSError, http.client.HTTPException) as e:
                self.close()
                if isinstance(e, ssl.SSLCertVerificationError):
                    self.broken = True
                if attempt == 2 or self.broken:
                    raise ApiUnreachable(f"{self.host}:{self.port}: {e}") from e
        raise AssertionError("unreachable")

    def get(self, path: str) -> dict | None:
        """The JSON at path; None unless the answer is 200."""
        status, body = self.request("GET", path)
        return json.loads(body) if status == 200 else None

    def can_create(self, group: str, resource: str) -> bool:
        status, body = self.request("POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", {
            "apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
            "spec": {"resourceAttributes": {"verb": "create", "group": group, "resource": resource}}})
        return status == 201 and bool(json.loads(body).get("status", {}).get("allowed"))

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


T = TypeVar("T")


def in_use(api: Api | None) -> bool:
    return api is not None and not api.broken


def ask(api: Api | None, by_api: Callable[[Api], T], by_kubectl: Callable[[], T], answered: Callable[[T], bool],
        unanswered: T) -> T:
    """by_api(api) while the client is in use, else by_kubectl(). A request
    that got no answer is asked with kubectl instead (`unanswered` when
    kubectl was asked less than FALLBACK_GAP seconds ago), and the client is
    given up once kubectl got an answer (`answered`) it did not."""
    if api is not None and not api.broken:
        try:
            return by_api(api)
        except ApiUnreachable:
            now = time.monotonic()
            if not api.broken and now - api.fallback_at < FALLBACK_GAP:
                return unanswered
            api.fallback_at = now
            result = by_kubectl()
            api.broken = api.broken or answered(result)  # a refused certificate gave it up already
            return result
    return by_kubectl()


def admin_api(cp: Node, endpoint: Node) -> Api | None:
    """An Api for the cluster once kubeadm has written admin.conf in the
    control plane; None before, or when the engine publishes no address."""
    res = cp.exec("cat", ADMIN_CONF, check=False, timeout=30)
    if res.code != 0 or not res.stdout.strip():
        return None
    try:
        host, port = published_address(endpoint)
        return Api(host, port, res.stdout)
    except Exception:  # noqa: BLE001 - no address, odd credentials: kubectl in the node does then
        return None
