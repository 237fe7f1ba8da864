"""Fixtures built on the plugin's session cluster."""
import os
import uuid

import pytest


@pytest.fixture
def namespace(kindlike_cluster):
    """A namespace of its own for each test, deleted afterwards."""
    name = f"t-{uuid.uuid4().hex[:8]}"
    kindlike_cluster.kubectl("create", "namespace", name)
    yield name
    kindlike_cluster.kubectl("delete", "namespace", name, "--wait=false")


@pytest.fixture(scope="session")
def app_image(kindlike_cluster):
    """The application image, loaded into every node from the image store of
    the engine running the cluster (build or pull it there first)."""
    image = os.environ.get("APP_IMAGE", "busybox:latest")
    kindlike_cluster.load_image(image)
    return image
