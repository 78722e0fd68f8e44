"""The daemon's listening thread never ends of a microphone error and does not stay deaf longer
than its backoff needs.

The microphone and recognizer here are FAKES (a failure of PortAudio's initialisation, or an
error after hours of listening, cannot be produced on demand with the virtual microphone); the
loop under test is the daemon's own `_capture_loop`. Real microphone loss and stalls are in
test_faults and test_daemon_e2e.
"""

from __future__ import annotations

import threading
import types

import numpy as np
import numpy.typing as npt
import pytest

import edge_asr.daemon as daemon_module
from edge_asr.daemon import Daemon, State


class FakeMic:
    capture = "poll"
    device_name = "fake"
    realtime = None
    overruns = 0

    def __init__(self, fail_at: int) -> None:
        self.reads, self.fail_at = 0, fail_at

    def drain(self) -> None:
        pass

    def read(self, chunks: int = 1) -> npt.NDArray[np.int16]:
        self.reads += 1
        if self.reads == self.fail_at:
            raise OSError(-9988, "Stream closed")  # not an AudioError: the generic path
        return np.zeros(1600, np.int16)

    def close(self) -> None:
        pass


class FakeRecognizer:
    idle = True
    fed_s = 0.0
    quiet_peak = 0
    times = types.SimpleNamespace(detections=0)

    def feed(self, chunk: npt.NDArray[np.int16]) -> list[object]:
        return []

    def reset(self) -> None:
        pass


class StopAfter:
    """The daemon's stop event: records each backoff wait; set after `waits` of them."""

    def __init__(self, waits: int) -> None:
        self.waits: list[float] = []
        self._left = waits

    def is_set(self) -> bool:
        return self._left <= 0

    def wait(self, seconds: float) -> bool:
        self.waits.append(seconds)
        self._left -= 1
        return self.is_set()


def bare_daemon(open_mic: object, stop: StopAfter) -> Daemon:
    daemon = object.__new__(Daemon)  # the capture loop's state only: no model, no broker
    audio = types.SimpleNamespace(reopen_backoff_max_s=10.0, idle_read_chunks=3)
    daemon.settings = types.SimpleNamespace(audio=audio)  # type: ignore[assignment]
    daemon.state = State.RUNNING
    daemon._lock = threading.Lock()
    daemon.muted = daemon.microphone_silent = False
    daemon._sound_at = 0.0
    daemon.overruns = daemon.mic_restarts = 0
    daemon._mic_name, daemon._heartbeat, daemon._mic = "-", 0.0, None
    daemon._notifier = types.SimpleNamespace(notify=lambda message: None)  # type: ignore[assignment]
    daemon.publisher = types.SimpleNamespace(connected=True, pending=0)  # type: ignore[assignment]
    daemon.recognizer = FakeRecognizer()  # type: ignore[assignment]
    daemon._open_mic = open_mic  # type: ignore[method-assign, assignment]
    daemon._stop = stop  # type: ignore[assignment]
    return daemon


def test_an_error_opening_the_microphone_is_retried_not_the_end_of_listening() -> None:
    """PortAudio failing to initialise raises OSError, not AudioError: the thread used to end
    there while status.json went on saying 'running'."""
    tries = []

    def open_mic() -> FakeMic:
        tries.append(1)
        raise OSError(-9999, "Unanticipated host error")

    stop = StopAfter(waits=3)
    bare_daemon(open_mic, stop)._capture_loop()
    assert len(tries) == 3 and stop.waits == [0.5, 1.0, 2.0]


def test_a_failure_after_long_listening_waits_the_shortest_backoff(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Errors hours apart are not a loop of failures: each used to double the wait, up to
    10 s of deafness per error."""
    monkeypatch.setattr(daemon_module, "MIC_SETTLED_S", 0.0)  # every microphone "settled"
    stop = StopAfter(waits=4)
    daemon = bare_daemon(lambda: FakeMic(fail_at=5), stop)
    daemon._capture_loop()
    assert stop.waits == [0.5, 0.5, 0.5, 0.5] and daemon.mic_restarts == 4
