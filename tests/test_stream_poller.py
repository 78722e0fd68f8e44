"""StreamPoller: whole chunks from a callback-less PortAudio stream, taken when they are due.

The stream here is a FAKE of PortAudio's blocking input stream (get_read_available / read),
driven by the real monotonic clock: audio lands a period at a time, as a sound card delivers
it. The real stream is exercised through the PulseAudio virtual microphone by the end-to-end,
unplug and stall tests (test_daemon_e2e, test_faults, test_mic_memory).
"""

import threading
import time
from collections.abc import Callable

import numpy as np
import pytest

from edge_asr.audio import MicrophoneLost, StreamPoller

RATE = 16000
PERIOD = 320  # 20 ms, so the tests run fast; the poller's arithmetic is in periods
OVERFLOWED = -9981  # paInputOverflowed, as PyAudio puts it in OSError.errno


class FakeInputStream:
    """Period k (0, 1, ...) lands at start + (k + 1) * period + delay(k); its samples are the
    running sample count (mod 2**15) from `origin`, so any loss or repeat shows in what the
    reader gets. Like PyAudio's, a read that raises the overflow closes the stream."""

    def __init__(
        self,
        buffer_periods: int = 20,
        delay: Callable[[int], float] = lambda k: 0.0,
        origin: int = 0,
    ) -> None:
        self.start = time.monotonic()
        self.origin = origin
        self.closed = False
        self.period_s = PERIOD / RATE
        self.buffer = buffer_periods * PERIOD
        self.delay = delay
        self.stalled_after: int | None = None  # periods landed before the stream stalls
        self.error: int | None = None  # what get_read_available returns once the device is gone
        self.read_pos = 0  # frames handed out (or dropped) so far
        self.polls = 0
        self.overflowed = False
        self._lock = threading.Lock()

    def _landed(self) -> int:
        elapsed = time.monotonic() - self.start
        k = max(0, int(elapsed / self.period_s) + 2)
        while k > 0 and (k * self.period_s + self.delay(k - 1)) > elapsed:
            k -= 1  # periods land in order: a late one holds back those after it
        if self.stalled_after is not None:
            k = min(k, self.stalled_after)
        return k * PERIOD

    def _check_overflow(self, landed: int) -> None:
        if landed - self.read_pos > self.buffer:  # the oldest audio is overwritten
            self.read_pos = landed - self.buffer
            self.overflowed = True

    def _check_open(self) -> None:
        if self.closed:
            raise OSError(-9988, "Stream closed")

    def get_read_available(self) -> int:
        with self._lock:
            self._check_open()
            self.polls += 1
            if self.error is not None:
                return self.error
            landed = self._landed()
            self._check_overflow(landed)
            return landed - self.read_pos

    def read(self, frames: int, exception_on_overflow: bool = True) -> bytes:
        with self._lock:
            self._check_open()
            landed = self._landed()
            self._check_overflow(landed)
            assert landed - self.read_pos >= frames, "the poller would block"
            first = self.origin + self.read_pos
            data = (np.arange(first, first + frames) % 32768).astype(np.int16)
            self.read_pos += frames
            if self.overflowed and exception_on_overflow:
                self.overflowed = False
                self.closed = True  # PyAudio's read cleans the stream up before raising
                raise OSError(OVERFLOWED, "Input overflowed")
            return data.tobytes()

    def reopened(self) -> "FakeInputStream":
        """The device's next stream: it captures from now on."""
        return FakeInputStream(self.buffer // PERIOD, origin=self.origin + self._landed())


def poller_for(stream: FakeInputStream, reopen: Callable[[], object] | None = None) -> StreamPoller:
    return StreamPoller(stream, RATE, PERIOD, OVERFLOWED, reopen=reopen)


def ramp_from(first: int, frames: int) -> np.ndarray:
    return (np.arange(first, first + frames) % 32768).astype(np.int16)


def read_chunks(poller: StreamPoller, n: int, frames: int) -> np.ndarray:
    out = np.zeros(frames, np.int16)
    got = []
    for _ in range(n):
        assert poller.read_into(out, timeout_s=1.0)
        got.append(out.copy())
    return np.concatenate(got)


def test_every_sample_arrives_once_in_order_without_busy_polling() -> None:
    stream = FakeInputStream()
    poller = poller_for(stream)
    got = read_chunks(poller, 25, 2 * PERIOD)  # 1 s of audio in 40 ms reads
    np.testing.assert_array_equal(got, ramp_from(0, got.shape[0]))
    assert poller.overflows == 0
    # Once it has learnt when periods land, it polls about once per read (a busy reader would
    # poll thousands of times in a second).
    assert stream.polls / 25 <= 3.0


def test_jitter_and_a_late_period_lose_and_repeat_nothing() -> None:
    rng = np.random.default_rng(7)
    jitter = rng.uniform(-0.002, 0.002, size=200)
    stream = FakeInputStream(delay=lambda k: 0.015 if k == 20 else float(jitter[k]))
    poller = poller_for(stream)
    got = read_chunks(poller, 30, 2 * PERIOD)
    np.testing.assert_array_equal(got, ramp_from(0, got.shape[0]))
    assert stream.polls / 30 <= 5.0


def test_a_stalled_stream_times_out_with_nothing_consumed_and_no_busy_loop() -> None:
    stream = FakeInputStream()
    poller = poller_for(stream)
    read_chunks(poller, 3, PERIOD)
    stream.stalled_after = 5  # two more periods land, then nothing
    out = np.zeros(4 * PERIOD, np.int16)
    polls = stream.polls
    began = time.monotonic()
    assert not poller.read_into(out, timeout_s=0.3)
    assert time.monotonic() - began >= 0.3
    assert stream.read_pos == 3 * PERIOD  # the two periods that did land are still there
    assert stream.polls - polls <= 40  # short doubling steps, capped at 20 ms
    stream.stalled_after = None  # audio flows again: the reader resumes where it stopped
    got = read_chunks(poller, 2, 2 * PERIOD)
    np.testing.assert_array_equal(got, ramp_from(3 * PERIOD, 4 * PERIOD))


def test_an_overflow_is_counted_and_reading_carries_on_in_a_new_stream() -> None:
    """PyAudio closes the stream when a read reports the overflow: it used to end in
    'Stream closed' (a generic error, a backoff and nothing heard for seconds)."""
    stream = FakeInputStream(buffer_periods=3)
    streams = [stream]

    def reopen() -> FakeInputStream:
        streams.append(streams[-1].reopened())
        return streams[-1]

    poller = poller_for(stream, reopen)
    read_chunks(poller, 2, PERIOD)
    time.sleep(8 * stream.period_s)  # the reader is held up longer than the buffer lasts
    got = read_chunks(poller, 5, PERIOD)
    assert poller.overflows == 1 and len(streams) == 2 and stream.closed
    # after the gap the audio is contiguous again
    np.testing.assert_array_equal(got, ramp_from(int(got[0]), got.shape[0]))
    assert int(got[0]) > 2 * PERIOD


def test_an_overflow_found_by_the_availability_poll_is_counted() -> None:
    """PortAudio's ALSA code may meet the overrun in get_read_available, restart the device and
    return paInputOverflowed there: counted, not taken for a lost microphone."""
    stream = FakeInputStream()
    poller = poller_for(stream)
    read_chunks(poller, 1, PERIOD)
    real = stream.get_read_available
    codes = iter([OVERFLOWED])
    stream.get_read_available = lambda: next(codes, None) or real()  # type: ignore[method-assign]
    read_chunks(poller, 2, PERIOD)
    assert poller.overflows == 1


def test_a_closed_stream_raises_microphone_lost() -> None:
    stream = FakeInputStream()
    poller = poller_for(stream)
    read_chunks(poller, 1, PERIOD)
    stream.closed = True
    with pytest.raises(MicrophoneLost, match="Stream closed"):
        poller.read_into(np.zeros(PERIOD, np.int16), timeout_s=1.0)


def test_discard_forgets_what_was_captured_so_far() -> None:
    stream = FakeInputStream()
    poller = poller_for(stream)
    time.sleep(4.5 * stream.period_s)
    poller.discard()
    skipped = stream.read_pos
    assert skipped >= 3 * PERIOD
    got = read_chunks(poller, 2, PERIOD)
    np.testing.assert_array_equal(got, ramp_from(skipped, 2 * PERIOD))


def test_a_vanished_device_raises_microphone_lost() -> None:
    stream = FakeInputStream()
    poller = poller_for(stream)
    read_chunks(poller, 1, PERIOD)
    stream.error = -9988  # paStreamIsStopped / device gone: PyAudio passes the code through
    with pytest.raises(MicrophoneLost, match="-9988"):
        poller.read_into(np.zeros(PERIOD, np.int16), timeout_s=1.0)


def test_a_read_error_other_than_overflow_raises_microphone_lost() -> None:
    stream = FakeInputStream()
    poller = poller_for(stream)

    def broken(frames: int, exception_on_overflow: bool = True) -> bytes:
        raise OSError(-9999, "Unanticipated host error")

    stream.read = broken  # type: ignore[method-assign]
    time.sleep(1.5 * stream.period_s)
    with pytest.raises(MicrophoneLost, match="Unanticipated host error"):
        poller.read_into(np.zeros(PERIOD, np.int16), timeout_s=1.0)


def test_a_frozen_process_is_not_taken_for_a_lost_microphone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """SIGSTOP, or a system stall: the reader's sleep ends long after the stall timeout and the
    sound stack's thread, frozen too, has yet to catch up. The audio still arrives."""
    import edge_asr.audio as audio

    stream = FakeInputStream(buffer_periods=100)  # the sound server keeps what was captured
    poller = poller_for(stream)
    read_chunks(poller, 2, PERIOD)
    real_sleep = time.sleep
    frozen = threading.Event()

    def freezing_sleep(seconds: float) -> None:
        if not frozen.is_set():
            frozen.set()
            stream.stalled_after = stream._landed() // PERIOD  # nothing lands while frozen
            real_sleep(seconds + 0.6)  # past the 0.3 s timeout
            threading.Timer(0.1, lambda: setattr(stream, "stalled_after", None)).start()
            return
        real_sleep(seconds)

    monkeypatch.setattr(audio.time, "sleep", freezing_sleep)
    out = np.zeros(3 * PERIOD, np.int16)
    assert poller.read_into(out, timeout_s=0.3)
    np.testing.assert_array_equal(out, ramp_from(2 * PERIOD, 3 * PERIOD))
    assert poller.overflows == 0
