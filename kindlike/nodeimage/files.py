"""Where a node image build finds its files (the data root with images/ and
the Dockerfile) and keeps its caches, and how it handles them."""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
from pathlib import Path

from kindlike.errors import KindlikeError


def cache_dir() -> Path:
    """${KINDLIKE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/kindlike}"""
    env = os.environ.get("KINDLIKE_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg).expanduser() / "kindlike"


def data_root() -> Path:
    """The directory holding `images/` and `Dockerfile`: the repository
    checkout, or kindlike/_data in an installed wheel (KINDLIKE_DATA_DIR
    overrides both)."""
    pkg = Path(__file__).resolve().parent.parent  # .../kindlike
    candidates = []
    if os.environ.get("KINDLIKE_DATA_DIR"):
        candidates.append(Path(os.environ["KINDLIKE_DATA_DIR"]))
    candidates += [pkg / "_data", pkg.parent]
    for c in candidates:
        if (c / "images" / "node").is_dir() and (c / "images" / "offline").is_dir() and (c / "Dockerfile").is_file():
            return c
    raise KindlikeError(
        "the node image build files (images/, Dockerfile) are not installed",
        fix="reinstall kindlike, or run from a checkout of its repository",
    )


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@contextlib.contextmanager
def locked(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def engine_rootless(engine) -> bool:
    """Whether the engine runs rootless; False for a stand-in engine without info()."""
    info = getattr(engine, "info", None)
    if info is None:
        return False
    try:
        return bool(info().rootless)
    except Exception:  # noqa: BLE001 - a stand-in engine or an API hiccup: assume rootful
        return False


def link_or_copy(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)
