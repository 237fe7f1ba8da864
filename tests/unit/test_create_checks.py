"""What `create cluster` refuses before it creates anything."""
from __future__ import annotations

from unittest import mock

import pytest

from kindlike.config import load_config_text
from kindlike.create.pipeline import CreateOptions, create_cluster
from kindlike.errors import ConfigError, KindlikeError

HEADER = "kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\n"


def create(body: str, kubeconfig: str) -> tuple[Exception, mock.MagicMock]:
    engine = mock.MagicMock(name="engine")
    cfg = load_config_text(HEADER + body).cluster
    with pytest.raises(KindlikeError) as err:
        create_cluster(engine, CreateOptions(name="t", config=cfg, kubeconfig=kubeconfig))
    return err.value, engine


def test_a_bad_kubeconfig_is_refused_before_the_engine_is_touched(tmp_path):
    err, engine = create("", str(tmp_path))
    assert err.message == f"kubeconfig {tmp_path} is a directory"
    assert engine.mock_calls == []


def test_a_missing_host_path_is_refused_before_the_engine_is_touched(tmp_path):
    body = f"nodes:\n- extraMounts:\n  - {{hostPath: {tmp_path}/nope, containerPath: /x}}\n"
    err, engine = create(body, str(tmp_path / "config"))
    assert isinstance(err, ConfigError)
    assert err.problems == [f'nodes[0].extraMounts[0].hostPath: "{tmp_path}/nope" does not exist '
                            "(create it first, or fix the path)"]
    assert engine.mock_calls == []
