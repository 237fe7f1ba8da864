"""kindlike: Kubernetes-in-container clusters under rootless Docker or Podman.

The Python API (see kindlike.api):

    import kindlike

    with kindlike.Cluster.create("demo", wait="5m") as c:
        c.kubectl("get", "nodes")
    kindlike.clusters()

The names below are imported on first use, so `import kindlike` (and every
`kindlike` command, which imports this package first) stays fast: the API
pulls in YAML and the engine SDKs.
"""
import importlib

from kindlike.version import __version__

# name -> module that defines it
_EXPORTS = {
    "Cluster": "kindlike.api",
    "clusters": "kindlike.api",
    "snapshots": "kindlike.api",
    "ensure_snapshot": "kindlike.api",
    "delete_snapshot": "kindlike.api",
    "ClusterNotFoundError": "kindlike.api",
    "KubectlError": "kindlike.api",
    "LocalRegistry": "kindlike.registryapi",
    "registries": "kindlike.registryapi",
    "LoadResult": "kindlike.load",
    "ImageNotFoundError": "kindlike.load",
    "ImageArchiveError": "kindlike.load",
    "NodeNotFoundError": "kindlike.load",
    "LogExportError": "kindlike.logs",
    "KindlikeError": "kindlike.errors",
    "ConfigError": "kindlike.errors",
    "EngineError": "kindlike.errors",
    "NoEngineError": "kindlike.errors",
    "ExecError": "kindlike.errors",
    "ClusterError": "kindlike.errors",
    "StepError": "kindlike.errors",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'kindlike' has no attribute {name!r}")

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
