"""Generated files kept in the repository: write the stale ones, or only report them (``--check``)."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path


def sync(files: Mapping[Path, str], root: Path, check: bool) -> int:
    """Write every file of ``files`` (path under ``root`` -> text) whose text differs; with ``check``, write nothing
    and return 1 when any differs."""
    stale = [relative for relative, text in files.items()
             if not (root / relative).exists() or (root / relative).read_text() != text]
    if check:
        if stale:
            print(f"out of date: {', '.join(str(root / p) for p in stale)} -- fix: run `make generate`", file=sys.stderr)
        return 1 if stale else 0
    for relative in stale:
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text(files[relative])
    print("\n".join(f"wrote {root / p}" for p in stale) or f"{root}: up to date")
    return 0
