import pytest

from kindlike.create import imageinfo


def test_forced_flavour_skips_the_probe(monkeypatch):
    monkeypatch.setattr(imageinfo, "registry_reachable", lambda: pytest.fail("probed"))
    monkeypatch.setenv("KINDLIKE_NODE_FLAVOUR", "offline")
    assert imageinfo.choose_flavour() == ("offline", "KINDLIKE_NODE_FLAVOUR=offline")


def test_unreachable_registry_means_offline_and_says_why(monkeypatch):
    monkeypatch.delenv("KINDLIKE_NODE_FLAVOUR", raising=False)
    monkeypatch.setattr(imageinfo, "registry_reachable", lambda: (False, "no registry reachable (x: refused)"))
    flavour, why = imageinfo.choose_flavour()
    assert flavour == "offline"
    assert why.startswith("no registry reachable (x: refused)") and "Go modules" in why


def test_reachable_registry_means_online(monkeypatch):
    monkeypatch.delenv("KINDLIKE_NODE_FLAVOUR", raising=False)
    monkeypatch.setattr(imageinfo, "registry_reachable", lambda: (True, "reachable"))
    flavour, why = imageinfo.choose_flavour()
    assert flavour == "online" and "kindest/node" in why
