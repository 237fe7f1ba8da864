"""Set keys in a TOML file (the engines' containers.conf, storage.conf) and
keep everything else in it, comments and layout included: a TOML writer
would drop the comments a user put there.

    python3 hack/setup/toml_set.py FILE OWNER SECTION KEY VALUE [SECTION KEY VALUE ...]

VALUE is TOML text (`'"runc"'`, `'["a", "b"]'`); OWNER is UID:GID or "".
Prints changed or unchanged; refuses to write a file that would not parse
or would not hold the values asked for.
"""
from __future__ import annotations

import os
import re
import sys
import tomllib

HEADER = re.compile(r'^\s*\[([^\[\]]+)\]\s*(#.*)?$')
STRING = re.compile(r'"(\\.|[^"\\])*"|\'[^\']*\'')


def section_range(lines: list[str], name: str) -> tuple[int | None, int | None]:
    """(header line, end) of the table `name`; (None, None) when absent."""
    start = None
    for i, line in enumerate(lines):
        m = HEADER.match(line)
        if m and start is None and m.group(1).strip() == name:
            start = i
        elif start is not None and re.match(r'^\s*\[', line):
            return start, i
    return (start, len(lines)) if start is not None else (None, None)


def value_end(lines: list[str], i: int) -> int:
    # A value may span lines (arrays): extend until the brackets balance.
    depth, j = 0, i
    while j < len(lines):
        code = STRING.sub('""', lines[j]).split('#', 1)[0]
        depth += code.count('[') - code.count(']')
        if depth <= 0:
            return j
        j += 1
    return len(lines) - 1


def set_keys(text: str, triples: list[tuple[str, str, str]]) -> str:
    """`text` with each (section, key, TOML value) set."""
    lines = text.splitlines()
    for sec, key, val in triples:
        new = f"{key} = {val}"
        start, end = section_range(lines, sec)
        if start is None:
            if lines and lines[-1].strip():
                lines.append("")
            lines += [f"[{sec}]", new]
            continue
        key_re = re.compile(r'^\s*' + re.escape(key) + r'\s*=')
        for i in range(start + 1, end):
            if key_re.match(lines[i]):
                lines[i:value_end(lines, i) + 1] = [new]
                break
        else:
            at = start + 1  # after the section's last non-blank line
            for i in range(start + 1, end):
                if lines[i].strip():
                    at = i + 1
            lines.insert(at, new)
    result = "\n".join(lines) + "\n"
    doc = tomllib.loads(result)
    for sec, key, val in triples:
        if doc.get(sec, {}).get(key) != tomllib.loads(f"v = {val}")["v"]:
            raise ValueError(f"could not set [{sec}] {key}")
    return result


def write(path: str, text: str, owner: str) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    if owner:
        uid, gid = (int(x) for x in owner.split(":"))
        os.chown(tmp, uid, gid)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def main(argv: list[str]) -> int:
    path, owner, rest = argv[0], argv[1], argv[2:]
    triples = [tuple(rest[i:i + 3]) for i in range(0, len(rest), 3)]
    old = open(path).read() if os.path.exists(path) else ""
    try:
        new = set_keys(old, triples)
    except ValueError as e:
        sys.exit(f"toml_set: {path}: {e}")
    if new == old:
        print("unchanged")
        return 0
    write(path, new, owner)
    print("changed")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
