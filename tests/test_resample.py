"""Resampling for devices and files that are not 16 kHz: accurate, and chunking-invariant."""

import wave
from pathlib import Path

import numpy as np
import pytest

from edge_asr.audio import iter_wav, read_wav
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


@pytest.mark.parametrize(
    ("rate", "channels", "width"), [(16000, 1, 2), (44100, 2, 2), (8000, 1, 1)]
)
def test_wav_read_in_blocks_equals_whole(
    tmp_path: Path, rate: int, channels: int, width: int
) -> None:
    """`calibrate` reads hours of audio block by block; the samples must be read_wav's."""
    signal = np.repeat(tone(rate, 3.3)[:, None], channels, axis=1)
    raw = (signal // 256 + 128).astype(np.uint8) if width == 1 else signal.astype("<i2")
    path = tmp_path / "x.wav"
    with wave.open(str(path), "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(width)
        out.setframerate(rate)
        out.writeframes(raw.tobytes())
    whole = read_wav(path, 16000)
    blocks = list(iter_wav(path, 16000, block_s=0.37))
    assert len(blocks) > 5
    np.testing.assert_array_equal(np.concatenate(blocks), whole)
    assert abs(whole.shape[0] - 3.3 * 16000) <= 1
