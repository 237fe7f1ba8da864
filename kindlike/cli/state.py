"""The run's state (engine, verbosity), made by the entry point: light to
import, so that `kindlike --help` loads no verb."""
from __future__ import annotations

from dataclasses import dataclass, field

from kindlike.engines.base import Engine
from kindlike.engines.detect import get_engine
from kindlike.status import Status


@dataclass
class State:
    verbosity: int = 0
    quiet: bool = False
    provider: str | None = None
    kubeconfig_path: str | None = None
    _engine: Engine | None = field(default=None, repr=False)

    @property
    def engine(self) -> Engine:
        """Connected on first use, so --help and --dry-run never touch an engine."""
        if self._engine is None:
            self._engine = get_engine(self.provider)
        return self._engine

    @property
    def status(self) -> Status:
        return Status(quiet=self.quiet)

    def close(self) -> None:
        if self._engine is not None:
            self._engine.close()
            self._engine = None
