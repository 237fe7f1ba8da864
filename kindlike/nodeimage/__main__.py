"""python -m kindlike.nodeimage ARGS: the same as `kindlike build node-image ARGS`
(one entry point, the same options and defaults; -v/--verbose is moved in
front, where the CLI takes it)."""
from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> None:
    from kindlike.cli.main import main as cli

    args = list(sys.argv[1:] if argv is None else argv)
    verbose = [a for a in args if a in ("-v", "--verbose")]
    cli([*verbose, "build", "node-image", *[a for a in args if a not in verbose]])


if __name__ == "__main__":
    main()
