"""The Python API's pure parts: config sources, durations, errors and the
exports of the kindlike package (no engine needed)."""
from __future__ import annotations

import pytest

import kindlike
from kindlike import api
from kindlike.config.types import ClusterConfig


def test_package_exports_the_api():
    assert kindlike.Cluster is api.Cluster
    assert kindlike.clusters is api.clusters
    for name in ("ClusterNotFoundError", "KubectlError", "ImageNotFoundError", "NodeNotFoundError",
                 "ImageArchiveError", "LogExportError", "ConfigError", "EngineError", "StepError"):
        assert issubclass(getattr(kindlike, name), kindlike.KindlikeError), name
        assert name in kindlike.__all__
    assert issubclass(kindlike.ClusterNotFoundError, kindlike.ClusterError)
    assert issubclass(kindlike.NodeNotFoundError, kindlike.ClusterError)
    # The public handle is the only Cluster class; the runtime model and
    # the config have none of that name.
    from kindlike import config
    from kindlike.cluster import nodes

    assert not hasattr(nodes, "Cluster") and not hasattr(config, "Cluster")


@pytest.mark.parametrize("value,seconds", [(None, 0), (0, 0), ("0", 0), ("90s", 90), ("5m", 300),
                                           ("1m30s", 90), ("1h", 3600), (2.5, 2.5), ("10", 10)])
def test_parse_wait(value, seconds):
    assert api.parse_wait(value) == seconds


@pytest.mark.parametrize("value", ["", "5x", "m", -1])
def test_parse_wait_rejects(value):
    with pytest.raises(ValueError):
        api.parse_wait(value)


def test_config_sources(tmp_path):
    default, warnings = api.load_config_source(None)
    assert [n.role for n in default.nodes] == ["control-plane"] and warnings == ()

    as_dict, _ = api.load_config_source({"kind": "Cluster", "apiVersion": "kind.x-k8s.io/v1alpha4",
                                         "nodes": [{"role": "control-plane"}, {"role": "worker"}]})
    assert [n.role for n in as_dict.nodes] == ["control-plane", "worker"]

    text = "kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nname: fromtext\n"
    as_text, _ = api.load_config_source(text)
    assert as_text.name == "fromtext"

    f = tmp_path / "c.yaml"
    f.write_text(text.replace("fromtext", "fromfile"))
    assert api.load_config_source(f)[0].name == "fromfile"
    assert api.load_config_source(str(f))[0].name == "fromfile"

    parsed = ClusterConfig(name="given")
    assert api.load_config_source(parsed) == (parsed, ())

    with pytest.raises(kindlike.ConfigError):
        api.load_config_source({"kind": "Cluster", "nodes": [{"role": "boss"}]})
    with pytest.raises(kindlike.ConfigError):
        api.load_config_source(tmp_path / "missing.yaml")
    with pytest.raises(TypeError):
        api.load_config_source(42)


def test_kubectl_error_carries_the_process():
    e = api.KubectlError(["get", "pods"], 1, "", "error: boom\n")
    assert e.returncode == 1 and e.stderr == "error: boom\n" and e.args_ == ["get", "pods"]
    assert e.lines()[0].startswith("ERROR: kubectl get pods failed (exit 1):")
    assert "boom" in e.message


def test_cache_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("KINDLIKE_CACHE_DIR", str(tmp_path / "c"))
    assert api.cache_dir() == tmp_path / "c"
    monkeypatch.delenv("KINDLIKE_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert api.cache_dir() == tmp_path / "x" / "kindlike"


def test_wrapping_a_name_touches_no_engine():
    c = kindlike.Cluster("demo", provider="docker")
    assert c.name == "demo" and "demo" in repr(c) and c.delete_on_exit is False
    c.close()
