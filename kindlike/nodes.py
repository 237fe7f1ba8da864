"""A node: something you can exec in, with a name and a role.

Cluster actions only ever use this, so they never know which engine runs
the node (kind's nodes.Node is the model).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from kindlike.engines.base import Engine, ExecResult
from kindlike.errors import ExecError


@dataclass
class Node:
    name: str
    role: str
    engine: Engine
    network: str = ""

    def exec(self, *cmd: str, stdin: bytes | str | None = None, env: dict[str, str] | None = None,
             timeout: float | None = None, check: bool = True) -> ExecResult:
        data = stdin.encode() if isinstance(stdin, str) else stdin
        res = self.engine.exec(self.name, list(cmd), stdin=data, env=env, timeout=timeout)
        if check and res.code != 0:
            raise ExecError(self.name, list(cmd), res.code, res.output)
        return res

    def output(self, *cmd: str, **kw) -> str:
        return self.exec(*cmd, **kw).stdout

    def write_file(self, path: str, content: bytes | str, mode: int = 0o644) -> None:
        data = content.encode() if isinstance(content, str) else content
        self.engine.copy_to(self.name, data, path, mode)

    def read_file(self, path: str) -> str:
        return self.output("cat", path)

    def copy_from(self, src: str, dest: Path) -> None:
        self.engine.copy_from(self.name, src, dest)

    def ips(self) -> tuple[str, str]:
        return self.engine.container_ips(self.name, self.network)

    @property
    def ip(self) -> str:
        v4, v6 = self.ips()
        return v4 or v6

    def __str__(self) -> str:
        return self.name
