"""kindlike.registry against each real engine, without a cluster: a
registry answers on 127.0.0.1:PORT, takes an image pushed from the host,
keeps it across a restart of its container (the data volume), joins and
leaves another network, and `delete` removes container, volume and network.
A taken port is refused before anything is made."""
from __future__ import annotations

import json
import socket
import urllib.request
import uuid

import pytest

from kindlike import registry as reg
from kindlike.engines.common import pick_free_port
from tests.e2e.helpers import derived_image

pytestmark = pytest.mark.engine


@pytest.fixture
def name(engine):
    n = f"t-reg-{uuid.uuid4().hex[:6]}"
    yield n
    reg.delete(engine, n)
    for net in (f"{n}-other", f"{n}-fresh"):
        engine.delete_network(net)
    assert engine.list_volumes(reg.labels_of(n)) == []
    assert not [c for c in engine.list_containers() if c.name == n]


def catalog(port: int) -> list[str]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/_catalog", timeout=10) as res:
        return json.load(res)["repositories"]


def test_push_keep_across_restart_networks_and_delete(engine, name, tmp_path):
    port = pick_free_port("127.0.0.1")
    r = reg.create(engine, name, port)
    assert (r.name, r.port, r.state, r.address) == (name, port, "running", f"localhost:{port}")
    assert r.networks == (reg.network_of(name),)
    assert engine.published_port(name, reg.CONTAINER_PORT) == ("127.0.0.1", port)

    ref = f"{r.address}/engine-test/app:1"
    derived_image(engine, ref, "registry-engine-test", tmp_path)
    engine.push_image(ref)
    engine.remove_image(ref)
    assert catalog(port) == ["engine-test/app"]

    engine.stop_containers([name], timeout=5)
    assert reg.get(engine, name).state == "exited"
    assert reg.running(engine, name).state == "running"  # what create --registry and connect do
    assert catalog(port) == ["engine-test/app"], "the data volume outlives a restart"

    other = f"{name}-other"
    engine.ensure_network(other, {})
    engine.connect_network(name, other, [name])
    engine.connect_network(name, other, [name])  # again: nothing to do
    assert reg.get(engine, name).networks == tuple(sorted((reg.network_of(name), other)))
    reg.leave_network(engine, other)
    assert reg.get(engine, name).networks == (reg.network_of(name),)
    # The engine's DNS still serves a network made after the detach (Podman
    # kept a detached container's entry, and its aardvark-dns then served none).
    fresh = f"{name}-fresh"
    engine.ensure_network(fresh, {})
    engine.connect_network(name, fresh, [f"{name}-probe"])
    res = engine.exec(name, ["getent", "hosts", f"{name}-probe"], timeout=30)
    assert res.code == 0 and res.output.split()[0] == engine.container_ips(name, fresh)[0], res.output
    engine.disconnect_network(name, fresh)

    assert reg.delete(engine, name) is True
    assert name not in [x.name for x in reg.list_registries(engine)]
    assert engine.list_volumes(reg.labels_of(name)) == []
    assert not engine.network_exists(reg.network_of(name))
    assert reg.delete(engine, name) is False


def test_a_taken_port_or_name_is_refused_with_nothing_made(engine, name):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        taken = s.getsockname()[1]
        with pytest.raises(reg.RegistryError, match=f"port {taken} on 127.0.0.1 is not free"):
            reg.create(engine, name, taken)
    assert [x for x in reg.list_registries(engine) if x.name == name] == []
    assert not engine.network_exists(reg.network_of(name))
    with pytest.raises(reg.RegistryError, match="not a valid registry name"):
        reg.create(engine, "No_Good")
