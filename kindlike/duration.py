"""Durations as kind takes them: Go's time.ParseDuration text (300ms, 30s,
5m, 1m30s, 1.5h) or seconds, and the short form status lines show."""
from __future__ import annotations

import re

# Go's time.ParseDuration, which kind's --wait uses: one or more decimal
# numbers, each with a unit ("300ms", "1m30s", "1.5h").
_GO_DURATION_PART = re.compile(r"(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_GO_DURATION = re.compile(rf"\+?(?:{_GO_DURATION_PART.pattern})+")
_GO_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
# A Go duration is an int64 of nanoseconds (about 292 years).
_GO_DURATION_MAX = (2**63 - 1) / 1e9


def parse_wait(wait: str | float | int | None) -> float:
    """Seconds from a Go duration ("300ms", "1m30s", "1.5h", "0") or a number
    of seconds; None and 0 mean do not wait."""
    if wait is None:
        return 0.0
    if isinstance(wait, (int, float)):
        if not 0 <= wait <= _GO_DURATION_MAX:
            raise ValueError(f"wait must be 0 to {_GO_DURATION_MAX:.0f} seconds, got {wait}")
        return float(wait)
    text = wait.strip()
    if re.fullmatch(r"\d+(\.\d+)?", text):
        seconds = float(text)
    elif _GO_DURATION.fullmatch(text):
        seconds = sum(float(n) * _GO_UNITS[unit] for n, unit in _GO_DURATION_PART.findall(text))
    else:
        raise ValueError(f"{wait!r} is not a duration (e.g. 300ms, 30s, 5m, 1m30s, 1.5h)")
    if not seconds <= _GO_DURATION_MAX:
        raise ValueError(f"{wait!r} is too long (at most {_GO_DURATION_MAX:.0f} seconds, as in Go)")
    return seconds


def format_duration(seconds: float) -> str:
    m, s = divmod(int(seconds), 60)
    return f"{m}m{s}s"
