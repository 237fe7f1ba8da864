import pytest

from tests.e2e.helpers import BUSYBOX, BUSYBOX_DIR, ensure_image


@pytest.fixture(scope="session")
def busybox_archive(engine, tmp_path_factory):
    """The probe image as an archive, to import into nodes directly."""
    ensure_image(engine, BUSYBOX, BUSYBOX_DIR)
    path = tmp_path_factory.mktemp("img") / "busybox.tar"
    engine.save_images([BUSYBOX], path)
    return path

