"""`kindlike doctor` and the `create cluster` preflight.

checks.py holds the checks as pure functions, host.py reads the real host
for them, probe.py runs the functional resource-limits probe. `run_doctor`
gives every check; `preflight` runs the fatal subset before a create and
raises `PreflightError` (one line + fix per failure) when one fails.
"""
from __future__ import annotations

import json
import os

from kindlike.doctor import host
from kindlike.doctor.checks import (
    ENV_ALLOW_NO_LIMITS,
    FAIL,
    OK,
    WARN,
    Check,
    ProbeResult,
    check_engine,
    check_hosts,
    check_resource_limits,
    for_caller,
)
from kindlike.doctor.probe import run_probe
from kindlike.errors import KindlikeError

__all__ = ["Check", "OK", "WARN", "FAIL", "ENV_ALLOW_NO_LIMITS", "PreflightError", "allow_no_limits_from_env",
           "run_doctor", "preflight", "render_text", "render_json", "exit_code"]


def allow_no_limits_from_env(environ=None) -> bool:
    v = (environ if environ is not None else os.environ).get(ENV_ALLOW_NO_LIMITS, "")
    return v.strip().lower() in ("1", "true", "yes", "on")


class PreflightError(KindlikeError):
    """`create cluster` refused: the host fails a fatal check. Printed as the
    same one line + fix per failure that `kindlike doctor` shows."""

    def __init__(self, failures: list[Check]):
        self.failures = list(failures)
        first = self.failures[0]
        super().__init__(f"{first.name}: {first.message}", fix=first.fix or None)

    def lines(self) -> list[str]:
        out = []
        for chk in self.failures:
            out.append(f"ERROR: {chk.name}: {chk.message}")
            if chk.fix:
                out.append(f"  fix: {chk.fix}")
        out.append("  (preflight: nothing was created; `kindlike doctor` checks the whole host)")
        return out


def run_doctor(engine, *, engine_error: str = "", engine_fix: str = "", provider: str | None = None,
               cluster_cfg=None, allow_no_limits: bool | None = None, probe: bool = True, files=None) -> list[Check]:
    """Every check, in display order. `engine` None: no engine answered
    (`engine_error` says why); the host checks still run."""
    files = files or host.HostFiles()
    allow = allow_no_limits_from_env() if allow_no_limits is None else allow_no_limits
    info, info_error = None, ""
    if engine is not None:
        try:
            info = engine.info()
        except Exception as e:  # the engine answered once, then failed
            info_error = f"the engine does not answer: {type(e).__name__}: {e}"
    if info is None:
        eng = check_engine(None, engine_error or info_error, engine_fix or host.engine_fix_for_host(files, provider))
    else:
        eng = check_engine(info)
    checks, ctx = host.host_checks(info, cluster_cfg=cluster_cfg, allow_no_limits=allow, files=files,
                                   engine_name=provider)
    if info is None:
        pr = ProbeResult(skipped="no container engine")
    elif not probe:
        pr = ProbeResult(skipped="disabled")
    else:
        pr = run_probe(engine)
    limits = check_resource_limits(pr, rootless=ctx["rootless"], layout=ctx["layout"],
                                   engine=info.name if info else (provider or "docker"), systemd=ctx["systemd"])
    # engine, cgroup-version, cgroup-delegation, resource-limits, then the rest.
    uid = os.getuid()
    hosts = [other_hosts(engine, cluster_cfg)] if engine is not None and cluster_cfg is not None \
        and cluster_cfg.multi_host else []
    return [for_caller(ch, uid) for ch in (eng, *checks[:2], limits, *checks[2:], *hosts)]


def other_hosts(engine, cluster_cfg) -> Check:
    """Whether the engine of every other host the config names answers."""
    answers = []
    for i, node in enumerate(cluster_cfg.nodes):
        if not node.host:
            continue
        try:
            engine.at(node.host).info()
            answers.append((f"nodes[{i}].kindlike.host", node.host, ""))
        except Exception as e:  # any failure to connect is the answer
            answers.append((f"nodes[{i}].kindlike.host", node.host, str(e).splitlines()[0][:200]))
    return check_hosts(answers)


def preflight(engine, cluster_cfg, *, allow_no_resource_limits: bool = False, status=None, files=None) -> list[Check]:
    """The fatal subset of the doctor's checks, before anything is created:
    raises PreflightError listing every failing one; prints a WARNING line for
    a fatal check that passed only with a warning (e.g. no cgroup v2
    delegation under a rootless engine with --allow-no-resource-limits)."""
    allow = allow_no_resource_limits or allow_no_limits_from_env()
    info = engine.info()
    try:
        checks, _ctx = host.host_checks(info, cluster_cfg=cluster_cfg, allow_no_limits=allow,
                                        files=files or host.HostFiles())
        if cluster_cfg is not None and cluster_cfg.multi_host:
            checks.append(other_hosts(engine, cluster_cfg))
    except Exception as e:  # a bug in a check must not stop every create
        if status is not None:
            status.line(f"WARNING: preflight checks could not run ({type(e).__name__}: {e}); "
                        "run `kindlike -v doctor` to see why")
        return []
    fatal = [for_caller(ch, os.getuid()) for ch in checks if ch.fatal]
    if status is not None:
        for ch in fatal:
            if ch.status == WARN:
                status.line(f"WARNING: {ch.name}: {ch.message}")
    failures = [ch for ch in fatal if ch.status == FAIL]
    if failures:
        raise PreflightError(failures)
    return fatal


def exit_code(checks: list[Check]) -> int:
    return 1 if any(ch.status == FAIL for ch in checks) else 0


def render_json(checks: list[Check]) -> str:
    return json.dumps([ch.as_dict() for ch in checks], indent=2)


def render_text(checks: list[Check]) -> str:
    counts = {s: sum(1 for ch in checks if ch.status == s) for s in (OK, WARN, FAIL)}
    lines = [ch.line() for ch in checks]
    lines.append(f"{counts[OK]} ok, {counts[WARN]} warn, {counts[FAIL]} fail")
    return "\n".join(lines) + "\n"
