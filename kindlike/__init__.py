"""kindlike: Kubernetes-in-container clusters under rootless Docker or Podman."""
from kindlike.version import __version__
from kindlike.errors import (
    ClusterError,
    ConfigError,
    EngineError,
    ExecError,
    KindlikeError,
    NoEngineError,
)

__all__ = [
    "__version__",
    "KindlikeError",
    "ConfigError",
    "EngineError",
    "NoEngineError",
    "ExecError",
    "ClusterError",
]
