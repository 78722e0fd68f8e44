"""The experiment scripts' shared argument check (they run as files, so this sits beside them)."""

from __future__ import annotations

import sys


def arguments(doc: str | None, least: int, most: int | None = None) -> list[str]:
    """The script's arguments; its docstring and exit 0 for -h/--help, exit 2 when fewer than
    `least` or more than `most` are given or the first one is an option."""
    args = sys.argv[1:]
    wanted = len(args) >= least and (most is None or len(args) <= most)
    if wanted and not (args and args[0].startswith("-")):
        return args
    print(doc, file=sys.stderr)
    raise SystemExit(0 if args[:1] in (["-h"], ["--help"]) else 2)
