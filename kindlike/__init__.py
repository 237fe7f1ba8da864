"""kindlike: Kubernetes-in-container clusters under rootless Docker or Podman.

The Python API (see kindlike.api):

    import kindlike

    with kindlike.Cluster.create("demo", wait="5m") as c:
        c.kubectl("get", "nodes")
    kindlike.clusters()
"""
from kindlike.version import __version__
from kindlike.errors import (
    ClusterError,
    ConfigError,
    EngineError,
    ExecError,
    KindlikeError,
    NoEngineError,
    StepError,
)
from kindlike.images import ImageArchiveError, ImageNotFoundError, LoadResult, NodeNotFoundError
from kindlike.logs import LogExportError
from kindlike.api import Cluster, ClusterNotFoundError, KubectlError, clusters

__all__ = [
    "__version__",
    "Cluster",
    "clusters",
    "LoadResult",
    "KindlikeError",
    "ConfigError",
    "EngineError",
    "NoEngineError",
    "ExecError",
    "ClusterError",
    "StepError",
    "ClusterNotFoundError",
    "KubectlError",
    "ImageNotFoundError",
    "ImageArchiveError",
    "NodeNotFoundError",
    "LogExportError",
]
