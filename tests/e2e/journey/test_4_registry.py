"""A local registry connected to the journey's running cluster, made
without one (the path where each node's containerd has no hosts directory
yet: connect writes it and restarts containerd under the running kubelet):
an image pushed from the host runs on every node; `registry disconnect`
takes the registry and its ConfigMap away, and a second connect brings it
back. It stays connected for test_5_lifecycle: its image is pulled again
after the cluster's stop/start, and `delete cluster` leaves it running
until `registry delete` removes it with its volume. A registry given at
create time is in tests/e2e/test_registry.py."""
from __future__ import annotations

import pytest

from kindlike import registry as reg
from kindlike.engines.common import pick_free_port
from tests.e2e.helpers import wait_until
from tests.e2e.test_registry import daemonset, push, runs_everywhere

pytestmark = pytest.mark.e2e

# What test_5_lifecycle pulls again after stop/start.
PULLED = "pulled"


def hosting(k) -> str:
    return k("-n", "kube-public", "get", "configmap", "local-registry-hosting", "--ignore-not-found",
             "-o", "jsonpath={.data.localRegistryHosting\\.v1}")


def test_a_registry_connected_to_the_running_cluster(journey, engine, tmp_path):
    port = pick_free_port("127.0.0.1")
    res = journey.cli("registry", "create", journey.registry, "--port", str(port))
    assert res.returncode == 0, res.stderr
    address = res.stdout.strip()
    assert address == f"localhost:{port}"
    image = push(engine, address, "late", tmp_path)
    res = journey.cli("registry", "connect", journey.registry, "--name", journey.name)
    assert res.returncode == 0, res.stderr
    k = journey.k
    assert f'host: "{address}"' in hosting(k)
    k("apply", "-f", "-", stdin=daemonset(PULLED, image))
    wait_until(lambda: runs_everywhere(k, PULLED, len(journey.nodes)), "the pushed image on every node",
               timeout=180)

    res = journey.cli("registry", "disconnect", journey.registry, "--name", journey.name)
    assert res.returncode == 0, res.stderr
    assert reg.get(engine, journey.registry).clusters == []
    assert hosting(k) == ""

    res = journey.cli("registry", "connect", journey.registry, "--name", journey.name)
    assert res.returncode == 0, res.stderr
    listed = journey.cli("registry", "list").stdout
    assert [line.split()[-1] for line in listed.splitlines() if line.split()[:1] == [journey.registry]] == \
        [journey.name], listed
    assert f'host: "{address}"' in hosting(k)
