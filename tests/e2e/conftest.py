import pytest

from tests.e2e.helpers import BUSYBOX, BUSYBOX_DIR, ensure_image


@pytest.fixture(scope="session")
def busybox_archive(engine, tmp_path_factory):
    """The probe image as an archive, to import into nodes directly."""
    ensure_image(engine, BUSYBOX, BUSYBOX_DIR)
    path = tmp_path_factory.mktemp("img") / "busybox.tar"
    engine.save_images([BUSYBOX], path)
    return path


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """hack/test.sh runs this tier on two xdist workers (--dist loadgroup):
    each engine's tests stay together on one worker, in file order. The
    journey's modules must follow each other, and an engine restart (the
    journey's, test_faults') must not meet another test's cluster of the
    same engine. Tests without an engine parameter use rootful Docker."""
    for item in items:
        callspec = getattr(item, "callspec", None)
        kind = callspec.params.get("engine_kind") if callspec else None
        item.add_marker(pytest.mark.xdist_group(kind or "rootful-docker"))
