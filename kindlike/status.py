"""Status lines: one per named step, with its duration, as kind shows them.

    ✓ Preparing nodes 📦 2.3s
    ✗ Starting control-plane 🕹️ 40.1s
"""
from __future__ import annotations

import sys
import threading
import time
from contextlib import contextmanager
from typing import Iterator, TextIO


class Status:
    """Prints step lines to stderr (stdout stays clean for machine output)."""

    def __init__(self, stream: TextIO | None = None, quiet: bool = False):
        self.stream = stream or sys.stderr
        self.quiet = quiet
        self._lock = threading.Lock()
        self.durations: dict[str, float] = {}
        self._tty = hasattr(self.stream, "isatty") and self.stream.isatty()

    def line(self, text: str) -> None:
        if self.quiet:
            return
        with self._lock:
            print(text, file=self.stream, flush=True)

    @contextmanager
    def step(self, title: str, key: str | None = None) -> Iterator["Note"]:
        """Run a step; the yielded Note updates the detail shown with it
        (e.g. which image was built). Records the duration under `key`."""
        detail: list[str] = []
        start = time.monotonic()
        if self._tty and not self.quiet:
            with self._lock:
                self.stream.write(f" • {title} ...\r")
                self.stream.flush()
        try:
            yield Note(self, title, detail)
        except BaseException:
            took = time.monotonic() - start
            self.durations[key or title] = took
            self.line(self._fmt("✗", title, detail, took, self._tty))
            raise
        took = time.monotonic() - start
        self.durations[key or title] = took
        self.line(self._fmt("✓", title, detail, took, self._tty))

    @staticmethod
    def _fmt(mark: str, title: str, detail: list[str], took: float, tty: bool) -> str:
        extra = f" ({detail[-1]})" if detail else ""
        # On a terminal, erase the rest of the "• title ..." line it replaces.
        clear = "\x1b[K" if tty else ""
        return f" {mark} {title}{extra} {took:.1f}s{clear}"


class Note:
    """A running step's detail: `note(text)` is shown on its final line;
    `note.awaiting(text)` says, on a terminal, what the step waits for now."""

    def __init__(self, status: Status, title: str, detail: list[str]):
        self._status, self._title, self._detail = status, title, detail

    def __call__(self, text: str) -> None:
        self._detail.append(text)

    def awaiting(self, text: str) -> None:
        st = self._status
        if st._tty and not st.quiet:
            with st._lock:
                st.stream.write(f" • {self._title} (waiting for {text}) ...\x1b[K\r")
                st.stream.flush()
