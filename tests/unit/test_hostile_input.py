"""Hostile input through the real CLI (`create cluster --dry-run --config -`):
each case ends in one clear error line plus its problem line, exit 1, no
traceback, within seconds and 1 GiB of address space."""
from __future__ import annotations

import os
import resource
import subprocess
import sys

import pytest

HEADER = "kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\n"
MEMORY = 1 << 30
HANG = 60  # the old loader hung or blew up on most cases; a hang fails here, not at the run's limit


def merge_chain(levels: int = 25) -> str:
    # Each level merges the previous one twice: naive merging doubles the work per level.
    nodes = "".join(f"- &n{i}\n  <<: [*n{i - 1}, *n{i - 1}]\n" for i in range(1, levels))
    return HEADER + "nodes:\n- &n0 {role: control-plane}\n" + nodes


def alias_fan_out(mounts: int = 1000, nodes: int = 1000) -> str:
    # About 10 KB that names a million mounts.
    first = "[&m {hostPath: /tmp, containerPath: /x}" + ", *m" * (mounts - 1) + "]"
    return (HEADER + f"nodes:\n- role: control-plane\n  extraMounts: &ms {first}\n"
            "- &w {role: worker, extraMounts: *ms}\n" + "- *w\n" * nodes)


def long_merge_chain(levels: int = 300) -> str:
    # Defined where nothing is decoded, then merged at once: one merge reaches through all.
    body = "".join(f"- &n{i}\n  <<: *n{i - 1}\n" for i in range(1, levels))
    return HEADER + "x:\n- &n0 {a: 1}\n" + body + f"networking:\n  <<: *n{levels - 1}\n"


def block_nesting(levels: int = 500) -> str:
    return HEADER + "networking:\n" + "".join(" " * (i + 1) + f"k{i}:\n" for i in range(levels))


CASES = {
    "chained merge keys": (merge_chain(), "aliases and merge keys expand the config"),
    "aliases fanned out into a million mounts": (alias_fan_out(), "aliases and merge keys expand the config"),
    "self-referencing merge key": (HEADER + "networking: &n\n  <<: *n\n", "refers to a mapping that contains it"),
    "merge keys chained 300 deep": (long_merge_chain(), "chained more than 100 deep"),
    "500 levels of flow nesting": (HEADER + "networking: " + "[" * 500 + "]" * 500 + "\n", "nested deeper than"),
    "500 levels of block nesting": (block_nesting(), "nested deeper than"),
    "a million levels of flow nesting": (HEADER + "nodes: " + "[" * 10**6 + "\n", "nested deeper than"),
    "raw control character": (HEADER + "name: a\x07b\n", "unacceptable character #x0007"),
    "escaped terminal control sequence": (HEADER + 'name: "a\\e[31mb"\n', 'name: "a\\x1b[31mb" is not a valid'),
    "name ending in a newline": (HEADER + 'name: "ok\\n"\n', 'name: "ok\\n" is not a valid cluster name'),
    "huge decimal number": (HEADER + "networking: {apiServerPort: " + "9" * 5000 + "}\n",
                            "networking.apiServerPort: 999"),
    "huge hex number": (HEADER + "networking: {apiServerPort: 0x" + "f" * 100_000 + "}\n", "is out of range"),
    "float where a port goes": (HEADER + "networking: {apiServerPort: 1e999}\n", "must be an integer"),
    "a megabyte of name": (HEADER + "name: " + "x" * 10**6 + "\n", "characters)..."),
    "undefined alias": (HEADER + "nodes: *nowhere\n", "found undefined alias"),
}


def run(stdin: bytes | None, *, close_stdin: bool = False) -> subprocess.CompletedProcess:
    def child() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY, MEMORY))
        if close_stdin:
            os.close(0)

    env = {k: v for k, v in os.environ.items() if not k.startswith("KINDLIKE_")}
    return subprocess.run([sys.executable, "-m", "kindlike.cli.main", "create", "cluster", "--dry-run", "--config", "-"],
                         input=stdin, capture_output=True, env=env, timeout=HANG, preexec_fn=child)


def assert_one_clear_error(res: subprocess.CompletedProcess, expected: str) -> None:
    err = res.stderr.decode("utf-8", "replace")
    assert res.returncode == 1, err[:2000]
    assert "Traceback" not in err and "Error:" not in err.split("\n")[0][:20], err[:2000]
    lines = err.splitlines()
    assert lines == [lines[0], lines[1]], err[:2000]
    assert lines[0] == "ERROR: <stdin> is invalid (1 problem)"
    assert lines[1].startswith("  ") and expected in lines[1], lines[1][:2000]
    assert len(lines[1]) < 600 and lines[1].isprintable()
    assert res.stdout == b""


@pytest.mark.parametrize("case", list(CASES))
def test_hostile_config(case):
    text, expected = CASES[case]
    res = run(text.encode())
    assert_one_clear_error(res, expected)


def test_non_utf8_bytes():
    res = run(HEADER.encode() + b"name: caf\xe9\n")
    assert_one_clear_error(res, "<stdin>: is not UTF-8 text (line 3, byte 59)")


def test_empty_stdin():
    res = run(b"")
    assert_one_clear_error(res, "<stdin>: is empty")


def test_closed_stdin():
    res = run(None, close_stdin=True)
    assert_one_clear_error(res, "<stdin>: cannot be read (closed)")
