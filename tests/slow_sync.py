"""A disk whose fsync is slow, for a real process: builds tests/slow_sync.c into a shared
library that LD_PRELOAD puts in front of libc's fsync() and fdatasync() (gcc is one of
build/setup's packages)."""

from __future__ import annotations

import subprocess
from pathlib import Path

SOURCE = Path(__file__).with_name("slow_sync.c")


def slow_sync_env(folder: Path, delay_ms: int) -> dict[str, str]:
    """Environment that makes every fsync/fdatasync of a process wait `delay_ms` first."""
    library = folder / "slow_sync.so"
    subprocess.run(
        ["gcc", "-shared", "-fPIC", "-O2", "-o", str(library), str(SOURCE), "-ldl"],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return {"LD_PRELOAD": str(library), "SLOW_SYNC_MS": str(delay_ms)}
