"""A running daemon for the live probes (idle-writes.py, daemon-memory.py; they run as files, so
this sits beside them): the shipped model's `edge-asr run` on the PulseAudio virtual microphone
and a local mosquitto, started by the tests' helper as build/bench-live starts it. Imported only
when called, so daemon-memory.py's `imports` mode measures a process that has not loaded it."""

from __future__ import annotations

import sys
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def ready_daemon(
    name: str, extra_env: dict[str, str], *flags: str, on_start: Callable[[Any], None] | None = None
) -> AbstractContextManager[Any]:
    """tests/daemon_proc.ready_daemon for the shipped model: yields (daemon, mic, broker,
    ready_s) once the daemon has said READY=1; `on_start(daemon)` runs right after exec."""
    sys.path.insert(0, str(ROOT / "tests"))
    from daemon_proc import ready_daemon as start

    from edge_asr.model import default_model_dir

    return start(default_model_dir(), name, *flags, env=extra_env, on_start=on_start)
