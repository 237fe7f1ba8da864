"""cluster/apiclient.py against a local TLS server that checks the client
certificate as the API server does (certificates made with openssl), and
the list answers turned into the items the usable wait reads."""
from __future__ import annotations

import base64
import json
import ssl
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import yaml

from kindlike.cluster import apiclient
from kindlike.cluster.apiclient import Api, ApiUnreachable, ask, in_use
from kindlike.cluster.usable import items_of


def _openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    d = tmp_path_factory.mktemp("pki")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    _openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", "1", "-subj", "/CN=ca", cwd=d)
    for name, extra in (("server", "subjectAltName=IP:127.0.0.1"), ("client", "extendedKeyUsage=clientAuth")):
        _openssl("req", *ec, "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}", cwd=d)
        (d / f"{name}.ext").write_text(extra + "\n")
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
                 "-out", f"{name}.crt", "-days", "1", "-extfile", f"{name}.ext", cwd=d)
    return d


def _admin_conf(pki) -> str:
    b64 = lambda f: base64.b64encode((pki / f).read_bytes()).decode()  # noqa: E731
    return yaml.safe_dump({
        "clusters": [{"name": "k", "cluster": {"server": "https://elsewhere:6443",
                                               "certificate-authority-data": b64("ca.crt")}}],
        "users": [{"name": "admin", "user": {"client-certificate-data": b64("client.crt"),
                                             "client-key-data": b64("client.key")}}]})


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # kept connections, as the API server's
    seen: list = []

    def _send(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):  # noqa: N802
        self.seen.append((self.command, self.path, self.connection.getpeercert()["subject"]))
        if self.path == "/api/v1/nodes":
            self._send(200, {"kind": "NodeList", "items": [{"metadata": {"name": "n1"}}]})
        else:
            self._send(403, {"kind": "Status"})

    def do_POST(self):  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.seen.append((self.command, self.path, body["spec"]["resourceAttributes"]))
        self._send(201, {**body, "status": {"allowed": body["spec"]["resourceAttributes"]["resource"] == "daemonsets"}})

    def log_message(self, *args):
        pass


@pytest.fixture
def server(pki):
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(pki / "ca.crt"))
    ctx.verify_mode = ssl.CERT_REQUIRED  # no client certificate, no answer
    ctx.load_cert_chain(pki / "server.crt", pki / "server.key")
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
    _Handler.seen = []
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def test_requests_carry_the_admin_certificate_and_read_json(server, pki):
    api = Api("127.0.0.1", server.server_address[1], _admin_conf(pki))
    try:
        assert api.get("/api/v1/nodes")["items"] == [{"metadata": {"name": "n1"}}]
        assert api.get("/api/v1/pods") is None  # not 200
        assert api.can_create("apps", "daemonsets") is True
        assert api.can_create("", "secrets") is False
    finally:
        api.close()
    assert [s[:2] for s in _Handler.seen] == [
        ("GET", "/api/v1/nodes"), ("GET", "/api/v1/pods"),
        ("POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"),
        ("POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews")]
    assert _Handler.seen[0][2] == ((("commonName", "client"),),)
    assert _Handler.seen[2][2] == {"verb": "create", "group": "apps", "resource": "daemonsets"}
    assert not api.broken


def test_a_closed_connection_is_made_again(server, pki):
    api = Api("127.0.0.1", server.server_address[1], _admin_conf(pki))
    try:
        assert api.get("/api/v1/nodes") is not None
        api._conn.sock.close()  # as a server closes an idle kept connection
        assert api.get("/api/v1/nodes") is not None
    finally:
        api.close()


def test_a_refused_connection_raises_and_the_client_tries_again(pki):
    """As while the API server starts: the next look tries again (its user
    gives it up only once kubectl got an answer it did not)."""
    api = Api("127.0.0.1", 1, _admin_conf(pki), timeout=2)
    with pytest.raises(ApiUnreachable):
        api.get("/api/v1/nodes")
    assert not api.broken
    api.broken = True
    with pytest.raises(ApiUnreachable, match="not used any more"):
        api.get("/api/v1/nodes")


def test_a_certificate_not_naming_the_address_is_refused(server, pki):
    # The server's certificate names 127.0.0.1 only.
    api = Api("localhost", server.server_address[1], _admin_conf(pki), timeout=2)
    with pytest.raises(ApiUnreachable):
        api.get("/api/v1/nodes")
    assert api.broken


def test_list_answers_become_items_with_their_kind():
    nodes = {"kind": "NodeList", "items": [{"metadata": {"name": "a"}}]}
    pods = {"kind": "PodList", "items": [{"metadata": {"name": "p"}}, {"metadata": {"name": "q"}}]}
    assert items_of([("Node", nodes), ("Pod", pods), ("StorageClass", {"items": None})]) == [
        {"metadata": {"name": "a"}, "kind": "Node"}, {"metadata": {"name": "p"}, "kind": "Pod"},
        {"metadata": {"name": "q"}, "kind": "Pod"}]
    assert items_of([("Node", nodes), ("Pod", None)]) is None


class _Unanswered:
    """An Api whose requests get no answer (or `cert`: a refused certificate)."""

    def __init__(self, cert=False):
        self.broken, self.cert = False, cert
        self.fallback_at = float("-inf")

    def get(self, path):
        if self.cert:
            self.broken = True
        raise ApiUnreachable("no answer")


def test_ask_falls_back_to_kubectl_and_gives_the_client_up_only_once_kubectl_answers(monkeypatch):
    clock = [100.0]
    monkeypatch.setattr(apiclient.time, "monotonic", lambda: clock[0])
    no = dict(answered=lambda r: r is not None, unanswered="none yet")
    starting = _Unanswered()
    assert ask(starting, lambda a: a.get("/"), lambda: None, **no) is None
    assert not starting.broken  # refused here and in the node alike: the API server is starting
    # kubectl again only FALLBACK_GAP after the last time; no answer in between.
    clock[0] += apiclient.FALLBACK_GAP - 0.1
    assert ask(starting, lambda a: a.get("/"), lambda: pytest.fail("kubectl asked"), **no) == "none yet"
    clock[0] += 0.1
    assert ask(starting, lambda a: a.get("/"), lambda: ["x"], **no) == ["x"]
    assert starting.broken and not in_use(starting)
    # Given up, it is not asked again; kubectl is, every time.
    assert ask(starting, lambda a: pytest.fail("asked"), lambda: ["y"], **no) == ["y"]
    assert ask(starting, lambda a: pytest.fail("asked"), lambda: ["z"], **no) == ["z"]
    # A refused certificate gives it up whatever kubectl says, and kubectl is asked at once.
    refused = _Unanswered(cert=True)
    refused.fallback_at = clock[0]
    assert ask(refused, lambda a: a.get("/"), lambda: None, **no) is None
    assert refused.broken
    assert ask(None, lambda a: pytest.fail("asked"), lambda: 3, answered=bool, unanswered=0) == 3 and not in_use(None)
