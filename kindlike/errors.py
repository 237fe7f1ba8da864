"""Exception classes a caller of the kindlike API can catch.

Every error kindlike raises on purpose derives from KindlikeError; the CLI
prints its message as one line (plus a fix hint when there is one) and exits
non-zero, showing a traceback only with -v.
"""
from __future__ import annotations

import re

# Printed problems echo the user's values: a newline would split the line and
# a terminal escape would act, so both are shown escaped; a huge value is cut.
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_PROBLEM_MAX = 400


class KindlikeError(Exception):
    """Base class of every error kindlike reports to a user."""

    def __init__(self, message: str, *, fix: str | None = None):
        super().__init__(message)
        self.message = message
        self.fix = fix

    def lines(self) -> list[str]:
        out = [f"ERROR: {self.message}"]
        if self.fix:
            out.append(f"  fix: {self.fix}")
        return out


class ConfigError(KindlikeError):
    """The cluster configuration is invalid; `problems` holds one line per problem,
    each starting with the field path (e.g. `nodes[1].role: ...`)."""

    def __init__(self, problems: list[str], source: str = "config"):
        self.problems = [_one_line(p) for p in problems]
        self.source = _one_line(source)
        n = len(self.problems)
        super().__init__(f"{source} is invalid ({n} problem{'s' if n != 1 else ''})")

    def lines(self) -> list[str]:
        return [f"ERROR: {self.message}"] + [f"  {p}" for p in self.problems]


def _one_line(text: str) -> str:
    if len(text) > _PROBLEM_MAX:
        # The middle goes: the field path leads and the hint on fixing it ends the line.
        half = _PROBLEM_MAX // 2
        text = f"{text[:half]}...({len(text) - 2 * half} characters)...{text[-half:]}"
    return _UNPRINTABLE.sub(lambda m: repr(m.group())[1:-1], text)


class EngineError(KindlikeError):
    """A container engine call failed or no engine could be reached."""


class NoEngineError(EngineError):
    """Neither Docker nor Podman can be reached."""


class ExecError(EngineError):
    """A command run inside a node exited non-zero."""

    def __init__(self, node: str, cmd: list[str], code: int, output: str):
        self.node, self.cmd, self.code, self.output = node, cmd, code, output
        tail = "\n".join(output.strip().splitlines()[-15:])
        super().__init__(
            f"command {' '.join(cmd)!r} failed on node {node} (exit {code})"
            + (f":\n{tail}" if tail else "")
        )


class ClusterError(KindlikeError):
    """A cluster-level operation failed (create, delete, lookup)."""


class StepError(ClusterError):
    """A named creation step failed; carries the step and node for the message."""

    def __init__(self, step: str, cause: BaseException, node: str | None = None):
        self.step, self.node, self.cause = step, node, cause
        where = f" on node {node}" if node else ""
        msg = getattr(cause, "message", None) or str(cause)
        super().__init__(f"step '{step}' failed{where}: {msg}")


class SnapshotError(ClusterError):
    """A snapshot cannot be saved, found, loaded or used (kindlike.snapshot)."""
