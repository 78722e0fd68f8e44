"""A running daemon for the live probes (idle-writes.py, daemon-memory.py; they run as files, so
this sits beside them): `edge-asr run` on the PulseAudio virtual microphone and a local
mosquitto, started as build/bench-live starts it, with the tests' real-part helpers."""

from __future__ import annotations

import socket
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


@contextmanager
def ready_daemon(
    name: str, extra_env: dict[str, str], *flags: str, on_start: Callable[[Any], None] | None = None
) -> Iterator[tuple[Any, Any, float]]:
    """(daemon, microphone, seconds from exec to READY) once the daemon has said READY=1;
    `on_start(daemon)` runs right after exec. Everything is stopped and removed on exit."""
    sys.path.insert(0, str(ROOT / "tests"))
    from daemon_proc import Daemon
    from mqtt_broker import MosquittoBroker
    from pulse_mic import VirtualMic

    from edge_asr.model import default_model_dir

    VirtualMic.ensure_server()
    mic = VirtualMic()
    mic.create()
    work = Path(tempfile.mkdtemp(prefix=f"{name}-"))
    broker = MosquittoBroker(work / "broker")
    broker.start()
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(work / "notify.sock"))
    env = {**mic.env(), "NOTIFY_SOCKET": str(work / "notify.sock"), **extra_env}
    started = time.monotonic()
    daemon = Daemon(default_model_dir(), broker, work / "state", name, env, *flags)
    try:
        if on_start is not None:
            on_start(daemon)
        notify.settimeout(30)
        while b"READY=1" not in notify.recv(4096):
            pass
        yield daemon, mic, time.monotonic() - started
    finally:
        daemon.terminate()
        broker.stop()
        mic.remove()
        notify.close()
