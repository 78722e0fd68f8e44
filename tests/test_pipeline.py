"""The streaming recognizer: same answers whatever the chunking, and no memory growth."""

import gc
import json
import logging
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from tiny_model import build_tiny_model

from edge_asr.backends import load_backend
from edge_asr.config import DecoderSettings
from edge_asr.model import ModelSpec, load_spec
from edge_asr.pipeline import Recognizer


@pytest.fixture(scope="module")
def spec(tmp_path_factory: pytest.TempPathFactory) -> ModelSpec:
    folder = tmp_path_factory.mktemp("tiny")
    build_tiny_model(folder)
    return load_spec(folder)


def bursts(seconds: float, at: list[float]) -> np.ndarray:
    """Digital silence with 0.4 s noise bursts ("utterances") starting at the given times."""
    rng = np.random.default_rng(3)
    audio = np.zeros(int(seconds * 16000), np.int16)
    for start in at:
        i = int(start * 16000)
        audio[i : i + 6400] = rng.normal(0, 4000, 6400).astype(np.int16)
    return audio


def recognize(spec: ModelSpec, audio: np.ndarray, chunk: int) -> list[tuple[str, float]]:
    rec = Recognizer(spec, load_backend(spec, "onnx"), DecoderSettings())
    found = []
    for start in range(0, len(audio), chunk):
        found += [(d.command, round(d.end_s, 3)) for d in rec.feed(audio[start : start + chunk])]
    return found


def test_each_burst_is_one_detection_whatever_the_chunking(spec: ModelSpec) -> None:
    audio = bursts(8.0, [1.0, 3.5, 6.0])
    expected = recognize(spec, audio, 1600)
    assert [cmd for cmd, _ in expected] == ["loud", "loud", "loud"]
    for end, start in zip([t for _, t in expected], [1.0, 3.5, 6.0], strict=True):
        assert start < end < start + 1.2
    for chunk in (160, 512, 4000, 16000):
        assert recognize(spec, audio, chunk) == expected


def test_silence_skips_inference(spec: ModelSpec) -> None:
    rec = Recognizer(spec, load_backend(spec, "onnx"), DecoderSettings())
    rec.feed(np.zeros(16000 * 5, np.int16))
    assert rec.times.inferences == 0
    rec.feed(bursts(2.0, [0.5]))
    assert rec.times.inferences > 0


def test_no_memory_growth_over_10000_frames(spec: ModelSpec) -> None:
    rec = Recognizer(spec, load_backend(spec, "onnx"), DecoderSettings())
    audio = bursts(20.0, [1, 4, 7, 10, 13, 16])  # speech keeps inference running
    chunk = 1600

    def run(seconds: int) -> None:
        for _ in range(seconds // 20):
            for start in range(0, len(audio), chunk):
                rec.feed(audio[start : start + chunk])

    run(20)  # warm-up: caches, lazily built state
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    run(200)  # 10,000 frames of 20 ms
    gc.collect()
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    # tracemalloc's own bookkeeping is not the pipeline's; onnxruntime's run() keeps a few KB
    # of output arrays in flight, which varies from snapshot to snapshot (measured 7-11 KB
    # over both 10,000 and 20,000 frames: noise, not growth). A leak of 4 bytes a frame would
    # show 40 KB.
    own = [tracemalloc.Filter(False, tracemalloc.__file__)]
    stats = after.filter_traces(own).compare_to(before.filter_traces(own), "filename")
    growth = sum(stat.size_diff for stat in stats)
    assert rec.times.inferences > 500
    assert growth < 32 * 1024, f"grew {growth} bytes over 10,000 frames"


def test_a_new_stream_starts_without_the_previous_refractory_period(spec: ModelSpec) -> None:
    # `recognize` runs many files through one recognizer: each file's clock starts at zero.
    rec = Recognizer(spec, load_backend(spec, "onnx"), DecoderSettings(refractory_ms=5000))
    first = [
        d
        for start in range(0, 32000, 1600)
        for d in rec.feed(bursts(2.0, [0.5])[start : start + 1600])
    ]
    rec.reset()
    second = [
        d
        for start in range(0, 32000, 1600)
        for d in rec.feed(bursts(2.0, [0.5])[start : start + 1600])
    ]
    assert [d.command for d in first] == [d.command for d in second] == ["loud"]


def test_idle_reader_batching_chunks_hears_the_same(spec: ModelSpec) -> None:
    """The daemon reads several chunks at once while the recognizer is idle (fewer wake-ups in
    silence); the answers must be the ones chunk-by-chunk reading gives."""
    audio = bursts(8.0, [1.0, 3.5, 6.0])
    expected = recognize(spec, audio, 1600)
    rec = Recognizer(spec, load_backend(spec, "onnx"), DecoderSettings())
    found, pos, batched = [], 0, 0
    while pos < len(audio):
        n = 1600 * (3 if rec.idle else 1)
        batched += n > 1600
        found += [(d.command, round(d.end_s, 3)) for d in rec.feed(audio[pos : pos + n])]
        pos += n
    assert found == expected
    assert batched >= 5  # the silences were read in batches
    fresh = Recognizer(spec, load_backend(spec, "onnx"), DecoderSettings())
    fresh.feed(np.zeros(32000, np.int16))
    assert fresh.idle
    fresh.feed(bursts(0.5, [0.0]))
    assert not fresh.idle  # speech in the window: read chunk by chunk again


def test_skipping_silence_leaves_the_state_frame_by_frame_pushing_would(spec: ModelSpec) -> None:
    """The idle path writes a silent read's frames into the model's window in a few slices;
    the window, its write position and the inference cadence must be exactly those of pushing
    the quiet frame once per frame (across the ring's wrap, and before the first inference)."""
    rng = np.random.default_rng(5)
    frames, backend = spec.input_frames, load_backend(spec, "onnx")
    rec = Recognizer(spec, backend, DecoderSettings())
    every, first = rec._infer_every, frames // 2
    edges = [0, 1, 2, 4, 5, 6, frames - 1, frames, frames + 1, 3 * frames + 7]
    for n in [*edges, *rng.integers(1, 300, 40)]:
        for frames_seen in (0, first - 3, first, 10_000):
            ring = rng.random(rec._ring.shape).astype(np.float32)
            quiet = rng.random(rec._quiet_row.size).astype(np.float32)
            write, since = int(n) % frames, int(n) % 7
            rec._ring[:], rec._quiet_row[:] = ring, quiet
            rec._write, rec._frames_seen, rec._since_infer = write, frames_seen, since
            rec._push_quiet(int(n))
            seen = frames_seen
            for _ in range(n):  # frame by frame: the ring twice, then the inference count
                ring[write] = ring[write + frames] = quiet
                write, seen, since = (write + 1) % frames, seen + 1, since + 1
                if since >= every and seen >= first:
                    since = 0  # an inference point (none runs: the gate is shut)
            assert (rec._write, rec._frames_seen, rec._since_infer) == (write, seen, since), n
            np.testing.assert_array_equal(rec._ring, ring)


@pytest.mark.parametrize("gate_dbfs", [-60.0, -25.0])
def test_inferences_see_the_same_window_whatever_the_chunking(
    spec: ModelSpec, gate_dbfs: float
) -> None:
    """Every inference must see the window, stream time and utterance start that feeding
    10 ms at a time gives, whatever the chunks and the frontend's batches,
    through gate openings and closings (bursts at two levels, one under the -25 dB gate and
    then in the window of the next, none starting or ending on a chunk's edge)."""
    audio = bursts(8.0, [1.03, 3.47, 4.21, 6.11])
    audio[int(3.47 * 16000) : int(3.87 * 16000)] //= 30  # under -25 dBFS
    settings = DecoderSettings(gate_dbfs=gate_dbfs)

    def inferences(chunk: int) -> list[tuple[float, float, np.ndarray]]:
        rec = Recognizer(spec, load_backend(spec, "onnx"), settings)
        seen: list[tuple[float, float, np.ndarray]] = []
        # (A gate closing is told at the end of the silent read that closes it: its time
        # depends on the chunking, and nothing is inferred then.)
        rec.posterior_hook = lambda now, start, post: (
            post is None or seen.append((now, start, post))
        )
        for start in range(0, len(audio), chunk):
            rec.feed(audio[start : start + chunk])
        return seen

    expected = inferences(160)
    assert len(expected) > 20
    for chunk in (512, 1600, 3200, 16000):
        got = inferences(chunk)
        assert [(now, start) for now, start, _ in got] == [(n, s) for n, s, _ in expected]
        for (_, _, a), (_, _, b) in zip(got, expected, strict=True):
            np.testing.assert_allclose(a, b, atol=1e-5)


def test_decoder_timing_is_the_models_unless_configured(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """model.json's decoder timing (what its thresholds were calibrated for) is the default;
    a configured one wins, with a warning that the thresholds were calibrated otherwise."""
    folder = tmp_path / "m"
    build_tiny_model(folder)
    data = json.loads((folder / "model.json").read_text())
    data["decoder"] = {"infer_every_ms": 200, "smoothing_ms": 400}
    (folder / "model.json").write_text(json.dumps(data))
    spec = load_spec(folder)
    audio = bursts(4.0, [0.5, 2.5])

    def inferences(settings: DecoderSettings) -> int:
        rec = Recognizer(spec, load_backend(spec, "onnx"), settings)
        rec.feed(audio)
        return rec.times.inferences

    with caplog.at_level(logging.WARNING, logger="edge_asr.pipeline"):
        at_model = inferences(DecoderSettings())
        assert not caplog.records
        configured = inferences(DecoderSettings(infer_every_ms=100))
    assert configured == pytest.approx(2 * at_model, abs=2)
    assert "calibrated for 200 and 400 ms" in caplog.text


def test_default_threshold_override_applies_to_commands_not_named(spec: ModelSpec) -> None:
    audio = bursts(3.0, [1.0])

    def heard(thresholds: dict[str, float]) -> list[str]:
        rec = Recognizer(spec, load_backend(spec, "onnx"), DecoderSettings(), thresholds)
        return [d.command for d in rec.feed(audio)]

    assert heard({}) == ["loud"]
    assert heard({"default": 1.0}) == []
    assert heard({"default": 1.0, "loud": 0.5}) == ["loud"]


def test_the_idle_path_tells_a_chunk_of_zeros_from_quiet_sound(spec: ModelSpec) -> None:
    """The daemon learns from quiet_peak, for nothing, whether the microphone gives only zeros
    (muted): 0 for a silent chunk of zeros, the peak of one that is quiet but not zero, None
    once the window holds sound (then the microphone is not muted)."""
    recognizer = Recognizer(spec, load_backend(spec, "onnx"), DecoderSettings())
    recognizer.feed(np.zeros(1600, np.int16))
    assert recognizer.quiet_peak == 0
    hiss = np.zeros(1600, np.int16)
    hiss[::7] = 3  # far under the gate, but not zero
    recognizer.feed(hiss)
    assert recognizer.quiet_peak == 3
    recognizer.feed(bursts(0.4, [0.0]))
    recognizer.feed(np.zeros(1600, np.int16))  # the window still holds the loud frames
    assert recognizer.quiet_peak is None
