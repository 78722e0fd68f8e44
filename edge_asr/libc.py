"""The C library, loaded once, for the few Linux calls Python does not wrap (mlockall, prctl)."""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import functools

_PR_SET_NAME = 15


@functools.cache
def libc() -> ctypes.CDLL:
    """This process's C library, with errno captured for ctypes.get_errno()."""
    return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


def name_this_thread(name: str) -> None:
    """Set the calling thread's kernel-visible name (15 bytes at most), so `top -H`, `ps -L` and
    /proc show which thread burns what; silently a no-op where prctl is missing."""
    with contextlib.suppress(OSError, AttributeError):
        libc().prctl(_PR_SET_NAME, name.encode()[:15], 0, 0, 0)
