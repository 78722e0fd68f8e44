"""Resampling for devices and files that are not 16 kHz: accurate, and chunking-invariant."""

import struct
import wave
from pathlib import Path

import numpy as np
import pytest

from edge_asr.audio import WavFileSource, iter_wav, read_wav
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


def extensible_wav(path: Path, samples: np.ndarray, rate: int, width: int) -> None:
    """A WAVE_FORMAT_EXTENSIBLE file (what sox and ffmpeg write for 24/32-bit audio)."""
    wide = samples.astype(np.int64) << (8 * (width - 2))  # the same signal, more bits
    data = b"".join(int(v).to_bytes(width, "little", signed=True) for v in wide)
    pcm = b"\x01\x00\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"
    fmt = struct.pack("<HHLLHH", 0xFFFE, 1, rate, rate * width, width, 8 * width)
    fmt += struct.pack("<HHL", 22, 8 * width, 4) + pcm
    body = b"WAVE" + b"fmt " + struct.pack("<L", len(fmt)) + fmt
    body += b"data" + struct.pack("<L", len(data)) + data
    path.write_bytes(b"RIFF" + struct.pack("<L", len(body)) + body)


@pytest.mark.parametrize("width", [3, 4])
def test_24_and_32_bit_extensible_wavs_read_as_their_16_bit_samples(
    tmp_path: Path, width: int
) -> None:
    """Python 3.11's wave refused this layout ('unknown format: 65534'), and every 24-bit file."""
    signal = tone(16000, 0.5)
    extensible_wav(tmp_path / "x.wav", signal, 16000, width)
    np.testing.assert_array_equal(read_wav(tmp_path / "x.wav", 16000), signal)


def test_wav_file_source_streams_microphone_chunks(tmp_path: Path) -> None:
    """`recognize` reads files 10 s at a time (an hour at 44.1 kHz stereo took 6.9 GB whole):
    the chunks are read_wav's samples, then half a second of silence, in equal chunks."""
    signal = tone(44100, 23.3)
    path = tmp_path / "x.wav"
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1), out.setsampwidth(2), out.setframerate(44100)
        out.writeframes(signal.astype("<i2").tobytes())
    source = WavFileSource(path, 16000, 1600)
    chunks = []
    while (chunk := source.read()) is not None:
        chunks.append(chunk.copy())
    assert all(c.shape[0] == 1600 for c in chunks[:-1]) and 0 < chunks[-1].shape[0] <= 1600
    expected = np.concatenate([read_wav(path, 16000), np.zeros(8000, np.int16)])
    np.testing.assert_array_equal(np.concatenate(chunks), expected)
