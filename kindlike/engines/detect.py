"""Choosing the engine: --provider, else KINDLIKE_PROVIDER, else auto-detect."""
from __future__ import annotations

import os
import shutil

from kindlike.engines.base import Engine
from kindlike.errors import KindlikeError, NoEngineError

PROVIDERS = ("docker", "podman")


def requested_provider(provider: str | None = None) -> str | None:
    """The provider asked for by argument, else by KINDLIKE_PROVIDER; None: auto-detect."""
    if provider:
        provider = provider.strip().lower()
        if provider not in PROVIDERS:
            raise KindlikeError(f"unknown provider {provider!r}", fix="use --provider docker or --provider podman")
    else:
        env = os.environ.get("KINDLIKE_PROVIDER", "")
        provider = env.strip().lower() or None
        if provider and provider not in PROVIDERS:
            raise KindlikeError(f"KINDLIKE_PROVIDER={env!r} is not a provider",
                                fix="set KINDLIKE_PROVIDER to docker or podman, or unset it")
    return provider


def get_engine(provider: str | None = None) -> Engine:
    """Connect to the engine the user asked for, or the first one that answers
    (Docker, then Podman, as kind does)."""
    provider = requested_provider(provider)
    if provider == "docker":
        from kindlike.engines.docker import DockerEngine

        return DockerEngine.connect()
    if provider == "podman":
        from kindlike.engines.podman import PodmanEngine

        return PodmanEngine.connect()
    problems = []
    from kindlike.engines.docker import DockerEngine

    try:
        return DockerEngine.connect()
    except NoEngineError as e:
        problems.append(e.message)
    if shutil.which("podman"):
        from kindlike.engines.podman import PodmanEngine

        try:
            return PodmanEngine.connect()
        except NoEngineError as e:
            problems.append(e.message)
    else:
        problems.append("podman is not installed")
    raise NoEngineError(
        "no container engine found: " + "; ".join(problems),
        fix="install and start Docker or Podman (see `kindlike doctor`), or pass --provider",
    )
