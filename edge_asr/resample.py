"""Streaming sample-rate conversion for devices and files that cannot deliver 16 kHz."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

TAPS = 63


class Resampler:
    """Windowed-sinc low-pass (against aliasing) followed by linear interpolation.

    Good to about -50 dB of aliasing for speech bands: plenty for features that stop at 7.6 kHz.
    State carries across calls, so chunked and whole-signal output are the same samples.
    """

    def __init__(self, rate_in: int, rate_out: int) -> None:
        self.rate_in, self.rate_out = rate_in, rate_out
        self._step = rate_in / rate_out
        cutoff = 0.45 * min(rate_in, rate_out) / rate_in  # cycles per input sample
        n = np.arange(TAPS) - (TAPS - 1) / 2
        taps = 2 * cutoff * np.sinc(2 * cutoff * n) * np.blackman(TAPS)
        self._taps = (taps / taps.sum()).astype(np.float32)
        self._history = np.zeros(TAPS - 1, dtype=np.float32)
        self._skip = TAPS // 2  # the filter's group delay, dropped once at the start
        self._produced = 0  # filtered samples produced so far (after the skip)
        self._carry = 0.0  # the last of them, needed to interpolate across calls
        self._emitted = 0  # output samples so far; output k sits at filtered position k * step

    def process(self, chunk: npt.NDArray[np.int16], final: bool = False) -> npt.NDArray[np.int16]:
        x = np.concatenate([self._history, chunk.astype(np.float32)])
        # One filtered sample per input sample (np.convolve would swap operands if x were shorter).
        filtered = np.convolve(x, self._taps, mode="valid") if chunk.shape[0] else x[:0]
        self._history = x[-(TAPS - 1) :]
        if final:  # flush the filter's delay so the end of the signal is not cut off
            tail = np.concatenate([self._history, np.zeros(TAPS // 2, np.float32)])
            filtered = np.concatenate([filtered, np.convolve(tail, self._taps, "valid")])
        skip = min(self._skip, filtered.shape[0])
        filtered, self._skip = filtered[skip:], self._skip - skip
        if filtered.shape[0] == 0:
            return np.zeros(0, np.int16)
        first = self._produced - 1 if self._produced else 0  # absolute index of y[0]
        y = np.concatenate([[self._carry], filtered]) if self._produced else filtered
        self._produced += filtered.shape[0]
        self._carry = float(filtered[-1])
        last = self._produced - 1
        count = int(np.floor(last / self._step + 1e-9)) + 1 - self._emitted
        positions = (self._emitted + np.arange(max(count, 0))) * self._step
        self._emitted += positions.shape[0]
        out = np.interp(positions, np.arange(first, first + y.shape[0]), y)
        return np.clip(np.rint(out), -32768, 32767).astype(np.int16)
