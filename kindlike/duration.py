"""Durations as kind takes them: Go-style text (30s, 5m, 1m30s, 1h) or
seconds, and the short form status lines show."""
from __future__ import annotations

import re

_DURATION = re.compile(r"^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s)?$")


def parse_wait(wait: str | float | int | None) -> float:
    """Seconds from a Go-style duration ("5m", "1m30s", "90s") or a number;
    None and 0 mean do not wait."""
    if wait is None:
        return 0.0
    if isinstance(wait, (int, float)):
        if wait < 0:
            raise ValueError(f"wait must not be negative, got {wait}")
        return float(wait)
    text = wait.strip()
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return float(text)
    m = _DURATION.match(text)
    if not text or not m or not any(m.groups()):
        raise ValueError(f"{wait!r} is not a duration (e.g. 30s, 5m, 1m30s)")
    h, mi, s = (float(g) if g else 0.0 for g in m.groups())
    return h * 3600 + mi * 60 + s


def format_duration(seconds: float) -> str:
    m, s = divmod(int(seconds), 60)
    return f"{m}m{s}s"
