"""The capture ring: the callback never blocks, the reader gets every sample in order, and a
reader waiting for several chunks is woken once, when they are all there."""

import threading

import numpy as np

from edge_asr.audio import SampleRing


class CountingCondition(threading.Condition):
    def __init__(self) -> None:
        super().__init__(threading.Lock())
        self.notified = 0

    def notify(self, n: int = 1) -> None:
        self.notified += 1
        super().notify(n)


def test_reader_waiting_for_three_chunks_is_woken_once_with_all_of_them() -> None:
    ring = SampleRing(16000)
    ring._ready = CountingCondition()  # the ring's own lock and wait logic, counted
    chunks = [np.full(1600, i, np.int16) for i in range(1, 4)]
    got = np.zeros(4800, np.int16)
    result: list[bool] = []
    reader = threading.Thread(target=lambda: result.append(ring.read_into(got, 5.0)))
    reader.start()
    while ring._want != 4800:  # the reader is waiting
        threading.Event().wait(0.001)
    for chunk in chunks:
        ring.write(chunk)
    reader.join(5.0)
    assert result == [True]
    np.testing.assert_array_equal(got, np.concatenate(chunks))
    assert ring._ready.notified == 1


def test_short_read_times_out_without_consuming_and_overruns_are_counted() -> None:
    ring = SampleRing(4000)
    ring.write(np.arange(1600, dtype=np.int16))
    assert not ring.read_into(np.zeros(3200, np.int16), 0.01)
    one = np.zeros(1600, np.int16)
    assert ring.read_into(one, 0.01)
    np.testing.assert_array_equal(one, np.arange(1600))
    for _ in range(3):  # 4800 samples into a 4000-sample ring nobody reads
        ring.write(np.ones(1600, np.int16))
    assert ring.overruns == 1


def test_one_stalled_reader_is_one_overrun_however_long_the_stall() -> None:
    """A 6 s stall of the reader counted 20 overruns in callback mode (one per buffer) and 1
    in poll mode; both count episodes now."""
    ring = SampleRing(4000)
    for _ in range(20):  # the reader is away: every write overwrites
        ring.write(np.ones(1600, np.int16))
    assert ring.overruns == 1
    assert ring.read_into(np.zeros(1600, np.int16), 0.01)  # it catches up ...
    for _ in range(5):  # ... and falls behind again
        ring.write(np.ones(1600, np.int16))
    assert ring.overruns == 2
