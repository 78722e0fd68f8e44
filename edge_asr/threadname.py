"""Kernel-visible thread names, so `top -H`, `ps -L` and /proc show which thread burns what."""

from __future__ import annotations

import ctypes
import ctypes.util

_PR_SET_NAME = 15
_libc: ctypes.CDLL | None = None


def name_this_thread(name: str) -> None:
    """Set the calling thread's name (Linux: 15 bytes at most); silently a no-op elsewhere."""
    global _libc
    try:
        if _libc is None:
            _libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        _libc.prctl(_PR_SET_NAME, name.encode()[:15], 0, 0, 0)
    except (OSError, AttributeError):
        pass
