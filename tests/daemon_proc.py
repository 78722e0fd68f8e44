"""`edge-asr run` as a child process for tests: argv, environment and a live log reader."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

from mqtt_broker import MosquittoBroker
from pulse_mic import VirtualMic
from repo import ROOT


class Daemon:
    """`edge-asr run` as a process; its log lines are collected as they arrive, with the time."""

    def __init__(
        self,
        model: Path,
        broker: MosquittoBroker,
        state: Path,
        device_id: str,
        env: dict[str, str],
        *extra_args: str,
    ) -> None:
        self.lines: list[tuple[float, str]] = []
        self._cond = threading.Condition()
        self.proc = subprocess.Popen(
            [
                sys.executable, "-m", "edge_asr.cli", "run", "--model", str(model),
                "--mqtt-host", broker.host, "--mqtt-port", str(broker.port), "--device", "pulse",
                "--device-id", device_id, "--state-dir", str(state), *extra_args,
            ],
            env={
                # As the systemd unit and the image run it: without docstrings (-OO).
                "PYTHONOPTIMIZE": "2",
                **env,
                "EDGE_ASR_AUDIO__LOCK_MEMORY": "false",
                "EDGE_ASR_MQTT__RECONNECT_MAX_S": "2",
                "PYTHONPATH": str(ROOT),
            },
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )  # fmt: skip
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._cond:
                self.lines.append((time.time(), line.rstrip("\n")))
                self._cond.notify_all()

    @property
    def output(self) -> str:
        with self._cond:
            return "\n".join(line for _, line in self.lines)

    def wait_line(
        self, text: str, count: int = 1, after: float = 0.0, timeout_s: float = 20
    ) -> float:
        """Arrival time of the `count`-th log line containing `text` (logged after `after`)."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while True:
                hits = [t for t, line in self.lines if text in line and t >= after]
                if len(hits) >= count:
                    return hits[count - 1]
                left = deadline - time.monotonic()
                assert left > 0, f"no {count} x {text!r} in the daemon log:\n{self.output}"
                self._cond.wait(left)

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait()

    def terminate(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


class Running(NamedTuple):
    daemon: Daemon
    mic: VirtualMic
    broker: MosquittoBroker
    ready_s: float  # from exec to READY=1


@contextmanager
def ready_daemon(
    model: Path,
    device_id: str,
    *flags: str,
    env: dict[str, str] | None = None,
    on_start: Callable[[Daemon], None] | None = None,
) -> Iterator[Running]:
    """`edge-asr run` on a new virtual microphone and a new loopback mosquitto, yielded once it
    has sent READY=1 to its notify socket (as systemd hears it). `on_start(daemon)` runs right
    after exec. The daemon, broker and microphone are stopped and removed on exit (bench-live
    and the live probes under build/experiments start the daemon this way)."""
    mic = VirtualMic()
    mic.create()
    work = Path(tempfile.mkdtemp(prefix=f"{device_id}-"))
    broker = MosquittoBroker(work / "broker")
    broker.start()
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(work / "notify.sock"))
    env = {**mic.env(), "NOTIFY_SOCKET": str(work / "notify.sock"), **(env or {})}
    started = time.monotonic()
    daemon = Daemon(model, broker, work / "state", device_id, env, *flags)
    try:
        if on_start is not None:
            on_start(daemon)
        notify.settimeout(30)
        while b"READY=1" not in notify.recv(4096):
            pass
        yield Running(daemon, mic, broker, time.monotonic() - started)
    finally:
        daemon.terminate()
        broker.stop()
        mic.remove()
        notify.close()
