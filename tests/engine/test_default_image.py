"""`create cluster` builds the default node image when it is missing,
choosing the offline flavour here (no registry is reachable) and saying why."""
from __future__ import annotations

import io

import pytest

from kindlike import constants
from kindlike.create import imageinfo
from kindlike.nodeimage.components import DEFAULT_KUBERNETES
from kindlike.status import Status
from tests.engine_fixtures import connect, ensure_node_image, start_engine

pytestmark = pytest.mark.engine


@pytest.fixture
def rootful_docker(tmp_path):
    start_engine("rootful-docker")
    eng = connect("rootful-docker")
    ensure_node_image(eng, "rootful-docker", tmp_path)  # warms the binary cache
    yield eng
    eng.close()


def test_missing_default_image_is_built(rootful_docker, monkeypatch):
    engine = rootful_docker
    # A default name of our own, so no other test's image is touched; the
    # build reuses the cached Kubernetes binaries, so this costs one image build.
    ref = "kindlike/node:test-autobuild"
    monkeypatch.setattr(constants, "DEFAULT_NODE_IMAGE", ref)
    monkeypatch.delenv("KINDLIKE_NODE_FLAVOUR", raising=False)
    engine.remove_image(ref)
    out = io.StringIO()
    notes: list[str] = []
    try:
        infos = imageinfo.ensure_images(engine, [ref], note=notes.append, status=Status(stream=out))
        text = out.getvalue()
        assert f"Node image {ref} is missing: building the offline flavour (no registry reachable" in text
        assert notes and notes[-1].startswith(f"built {ref} in ")
        info = infos[ref]
        assert (info.kubernetes_version, info.flavour, info.cni) == (DEFAULT_KUBERNETES, "offline", "flannel")
        assert info.has_coredns and info.storage_manifest
        assert engine.image_exists(ref)
    finally:
        engine.remove_image(ref)
