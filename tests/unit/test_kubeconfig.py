"""kindlike.kubeconfig: naming, rewriting kubeadm's admin.conf, and the
locked merge into (and removal from) a user's kubeconfig file."""
from __future__ import annotations

import yaml

from kindlike import kubeconfig as kc

ADMIN = """\
apiVersion: v1
kind: Config
clusters:
- name: kubernetes
  cluster: {server: "https://demo-control-plane:6443", certificate-authority-data: Q0E=}
users:
- name: kubernetes-admin
  user: {client-certificate-data: Q0VSVA==, client-key-data: S0VZ}
contexts:
- name: kubernetes-admin@kubernetes
  context: {cluster: kubernetes, user: kubernetes-admin}
current-context: kubernetes-admin@kubernetes
"""


def test_names_and_urls():
    assert kc.context_name("demo") == "kindlike-demo"
    assert kc.server_url("127.0.0.1", 41234) == "https://127.0.0.1:41234"
    assert kc.server_url("::1", 6443) == "https://[::1]:6443"


def test_default_path(monkeypatch, tmp_path):
    assert kc.default_path(str(tmp_path / "x")) == tmp_path / "x"
    monkeypatch.setenv("KUBECONFIG", f"{tmp_path / 'a'}:{tmp_path / 'b'}")
    assert kc.default_path() == tmp_path / "a"
    monkeypatch.setenv("KUBECONFIG", "")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert kc.default_path() == tmp_path / ".kube" / "config"


def test_rewrite_renames_everything_and_points_at_the_server():
    doc = kc.rewrite(ADMIN, "demo", "https://127.0.0.1:41234")
    assert [c["name"] for c in doc["clusters"]] == ["kindlike-demo"]
    assert doc["clusters"][0]["cluster"]["server"] == "https://127.0.0.1:41234"
    assert doc["clusters"][0]["cluster"]["certificate-authority-data"] == "Q0E="
    assert [u["name"] for u in doc["users"]] == ["kindlike-demo"]
    assert doc["contexts"] == [{"name": "kindlike-demo", "context": {"cluster": "kindlike-demo", "user": "kindlike-demo"}}]
    assert doc["current-context"] == "kindlike-demo"


def test_merge_keeps_other_entries_and_remove_takes_only_ours(tmp_path):
    path = tmp_path / "config"
    other = {"apiVersion": "v1", "kind": "Config", "clusters": [{"name": "other", "cluster": {}}],
             "users": [{"name": "other", "user": {}}], "contexts": [{"name": "other", "context": {}}],
             "current-context": "other"}
    path.write_text(yaml.safe_dump(other))
    text = yaml.safe_dump(kc.rewrite(ADMIN, "demo", "https://127.0.0.1:1"))
    assert kc.merge("demo", text, str(path)) == path
    kc.merge("demo", text, str(path))  # twice: still one entry each
    doc = yaml.safe_load(path.read_text())
    assert [c["name"] for c in doc["clusters"]] == ["other", "kindlike-demo"]
    assert doc["current-context"] == "kindlike-demo"
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert not (tmp_path / "config.lock").exists()

    assert kc.remove_cluster_entries("demo", str(path)) is True
    doc = yaml.safe_load(path.read_text())
    assert [c["name"] for c in doc["clusters"]] == ["other"] and doc["current-context"] == ""
    assert kc.remove_cluster_entries("demo", str(path)) is False
    assert kc.remove_cluster_entries("demo", str(tmp_path / "missing")) is False


def test_merge_into_a_new_file(tmp_path):
    path = tmp_path / "new" / "config"
    kc.merge("demo", yaml.safe_dump(kc.rewrite(ADMIN, "demo", "https://127.0.0.1:1")), str(path))
    assert yaml.safe_load(path.read_text())["contexts"][0]["name"] == "kindlike-demo"
