"""Resampling for devices and files that are not 16 kHz: accurate, and chunking-invariant."""

import numpy as np
import pytest

from edge_asr.resample import Resampler


def tone(rate: int, seconds: float, hz: float = 440.0) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (8000 * np.sin(2 * np.pi * hz * t)).astype(np.int16)


@pytest.mark.parametrize("rate", [8000, 22050, 44100, 48000])
def test_tone_survives_conversion(rate: int) -> None:
    out = Resampler(rate, 16000).process(tone(rate, 1.0), final=True)
    assert abs(len(out) - 16000) <= 1
    ideal = tone(16000, len(out) / 16000)
    error = np.abs(out[200:-200].astype(float) - ideal[200:-200])
    assert error.max() < 0.02 * 8000


def test_chunked_equals_whole() -> None:
    signal = tone(48000, 2.0)
    whole = Resampler(48000, 16000).process(signal, final=True)
    resampler = Resampler(48000, 16000)
    parts, pos = [], 0
    for size in [100, 4800, 3, 0, 20000, 1] * 3:
        parts.append(resampler.process(signal[pos : pos + size]))
        pos += size
    parts.append(resampler.process(signal[pos:], final=True))
    np.testing.assert_array_equal(np.concatenate(parts), whole)


def test_removes_aliases_when_downsampling() -> None:
    # 12 kHz cannot exist at 16 kHz; it must be filtered, not folded down to 4 kHz.
    out = Resampler(48000, 16000).process(tone(48000, 1.0, hz=12000), final=True)
    assert np.abs(out[200:-200]).max() < 0.01 * 8000
