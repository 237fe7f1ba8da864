"""kindlike.kubeconfig: naming, rewriting kubeadm's admin.conf, the locked
merge into (and removal from) a user's kubeconfig: links, modes, bad files, locks."""
from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
import time

import pytest
import yaml

from kindlike import kubeconfig as kc
from kindlike.errors import KindlikeError

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
    path.chmod(0o640)
    text = yaml.safe_dump(kc.rewrite(ADMIN, "demo", "https://127.0.0.1:1"))
    assert kc.merge("demo", text, str(path)) == path
    kc.merge("demo", text, str(path))  # twice: still one entry each
    doc = yaml.safe_load(path.read_text())
    assert [c["name"] for c in doc["clusters"]] == ["other", "kindlike-demo"]
    assert doc["current-context"] == "kindlike-demo"
    assert oct(path.stat().st_mode & 0o777) == "0o640"  # the user's mode is kept
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


def cluster_text(name: str) -> str:
    ctx = kc.context_name(name)
    return yaml.safe_dump({
        "clusters": [{"name": ctx, "cluster": {"server": "https://127.0.0.1:6443"}}],
        "users": [{"name": ctx, "user": {"token": "t"}}],
        "contexts": [{"name": ctx, "context": {"cluster": ctx, "user": ctx}}],
    })


def contexts(path) -> list[str]:
    return [c["name"] for c in yaml.safe_load(open(path))["contexts"]]


def test_a_symlinked_kubeconfig_is_written_through_the_link(tmp_path):
    real = tmp_path / "dotfiles" / "kubeconfig"
    real.parent.mkdir()
    kc.merge("a", cluster_text("a"), str(real))
    link = tmp_path / "config"
    link.symlink_to(real)
    kc.merge("b", cluster_text("b"), str(link))
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert contexts(real) == ["kindlike-a", "kindlike-b"]


def test_the_files_mode_is_kept(tmp_path):
    path = tmp_path / "config"
    path.write_text("apiVersion: v1\nkind: Config\n")
    path.chmod(0o640)
    kc.merge("a", cluster_text("a"), str(path))
    assert path.stat().st_mode & 0o777 == 0o640
    new = tmp_path / "new"
    kc.merge("a", cluster_text("a"), str(new))
    assert new.stat().st_mode & 0o777 == 0o600


def refused(path) -> KindlikeError:
    with pytest.raises(KindlikeError) as err:
        kc.check_writable(path)
    with pytest.raises(KindlikeError) as merge_err:
        kc.merge("a", cluster_text("a"), str(path))
    assert merge_err.value.message == err.value.message
    assert "\n" not in err.value.message and err.value.fix
    return err.value


def test_a_read_only_kubeconfig_is_refused_not_replaced(tmp_path):
    path = tmp_path / "config"
    path.write_text("apiVersion: v1\nkind: Config\ncurrent-context: mine\n")
    path.chmod(0o444)
    err = refused(path)
    assert err.message == f"kubeconfig {path} is read-only" and "chmod u+w" in err.fix
    assert "mine" in path.read_text()


def test_a_directory_is_refused(tmp_path):
    err = refused(tmp_path)
    assert err.message == f"kubeconfig {tmp_path} is a directory"


@pytest.mark.parametrize("text,what", [("- a\n- b\n", "list"), ("just text\n", "str"), ("clusters: 3\n", None)])
def test_a_file_that_is_not_a_kubeconfig_mapping_is_refused(tmp_path, text, what):
    path = tmp_path / "config"
    path.write_text(text)
    err = refused(path)
    assert str(path) in err.message and "mv " in err.fix
    if what:
        assert err.message.endswith(f"it holds a {what}")
    assert path.read_text() == text


def test_an_unwritable_place_is_refused(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    err = refused(blocker / "sub" / "config")
    assert err.message == f"cannot write kubeconfig {blocker / 'sub' / 'config'}: {blocker} is not a directory"


def test_an_unwritable_directory_is_refused(tmp_path, monkeypatch):
    # Root may write anywhere, so the permission check is what is exercised here.
    monkeypatch.setattr(os, "access", lambda path, mode: False)
    err = refused(tmp_path / "config")
    assert err.message == f"cannot write kubeconfig {tmp_path / 'config'}: {tmp_path} is not writable"


def test_a_failing_write_is_one_line_with_a_fix(tmp_path, monkeypatch):
    def boom(*a, **k):
        raise PermissionError(13, "Permission denied", str(tmp_path))

    monkeypatch.setattr(kc.tempfile, "mkstemp", boom)
    with pytest.raises(KindlikeError) as err:
        kc.merge("a", cluster_text("a"), str(tmp_path / "config"))
    assert err.value.message.startswith(f"cannot write kubeconfig {tmp_path / 'config'}: Permission denied")
    assert err.value.fix


def _merge_one(args):
    path, i = args
    kc.merge(f"c{i}", cluster_text(f"c{i}"), path)


def test_concurrent_writers_lose_nothing(tmp_path):
    path = str(tmp_path / "config")
    with multiprocessing.get_context("fork").Pool(20) as pool:
        pool.map(_merge_one, [(path, i) for i in range(20)])
    assert sorted(contexts(path)) == sorted(f"kindlike-c{i}" for i in range(20))
    assert not os.path.exists(path + ".lock")


def test_a_stale_lock_of_a_dead_process_is_recovered_at_once(tmp_path, monkeypatch):
    path = tmp_path / "config"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (tmp_path / "config.lock").write_text(f"{dead.pid}\n")

    def no_waiting(_seconds):
        raise AssertionError("waited for a lock whose holder is dead")

    monkeypatch.setattr(kc.time, "sleep", no_waiting)
    kc.merge("a", cluster_text("a"), str(path))
    assert contexts(path) == ["kindlike-a"] and not (tmp_path / "config.lock").exists()


def test_an_old_empty_lock_is_recovered_a_live_one_waited_on(tmp_path):
    lock = tmp_path / "config.lock"
    lock.write_text("")
    os.utime(lock, (time.time() - 60, time.time() - 60))
    kc.merge("a", cluster_text("a"), str(tmp_path / "config"))
    lock.write_text(f"{os.getpid()}\n")
    with pytest.raises(KindlikeError) as err:
        with kc.locked(tmp_path / "config", timeout=0.3):
            pass
    assert f"(process {os.getpid()})" in err.value.message and str(lock) in err.value.fix
    assert lock.exists()
