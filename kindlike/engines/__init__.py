"""Container engines: one module per engine behind `Engine` (see base.py)."""
from kindlike.engines.base import Container, Engine, EngineInfo, ExecResult, MountSpec, NodeSpec, PortSpec

__all__ = ["Engine", "EngineInfo", "ExecResult", "NodeSpec", "PortSpec", "MountSpec", "Container"]
