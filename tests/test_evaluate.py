"""The factory's DET axis and threshold calibration through the streaming recognizer, on the
shipped model and its samples."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from tiny_model import write_wav

from edge_asr.audio import read_wav
from edge_asr.calibrate import THRESHOLDS
from edge_asr.model import default_model_dir, load_spec
from edge_asr.train.evaluate import Evaluator, calibrate, false_reject_rates

MODEL = default_model_dir()


def test_false_reject_rates_count_misses_and_wrong_commands() -> None:
    spec = load_spec(MODEL)
    ev = Evaluator(spec)
    rate = spec.frontend.sample_rate_hz
    traces = [
        ev.trace(read_wav(p, rate), p.stem) for p in sorted((MODEL / "samples").glob("*.wav"))
    ]
    threshold = spec.default_threshold
    high = 0.95  # the samples' smoothed scores reach 0.95 on some clips only
    rates = false_reject_rates(ev, traces, (threshold, high))
    missed = sum(not ev.detections(tr, high) for tr in traces)
    assert 0 < missed < len(traces)
    # every sample is heard right at the model's threshold; above it, the misses count
    assert rates == {threshold: 0.0, high: missed / len(traces)}
    # the same detections credited to another command count as rejects too
    labels = [tr.label for tr in traces]
    wrong = [replace(tr, label=labels[i - 1]) for i, tr in enumerate(traces)]
    assert false_reject_rates(ev, wrong, (threshold,)) == {threshold: 1.0}
    assert false_reject_rates(ev, [], (threshold,)) == {threshold: 0.0}


def test_calibration_pools_the_false_accepts_of_every_validation_stream(tmp_path: Path) -> None:
    """The threshold comes from all validation streams together: their detections summed over
    their hours summed, never from one stream alone."""
    spec = load_spec(MODEL)
    ev = Evaluator(spec)
    rate = spec.frontend.sample_rate_hz
    gap = np.zeros(rate, np.int16)
    said = [read_wav(p, rate) for p in sorted((MODEL / "samples").glob("*.wav"))]
    talk = write_wav(tmp_path / "talk.wav", np.concatenate([x for s in said for x in (s, gap)]))
    quiet = write_wav(tmp_path / "quiet.wav", np.zeros(rate * 300, np.int16))
    span = ev.settings.smoothing_ms
    ((chosen, rates),) = calibrate(ev, [talk, quiet], [span], target_per_hour=120.0).values()
    traces = [ev.trace(read_wav(w, rate), "_negative_") for w in (talk, quiet)]
    hours = sum(t.seconds for t in traces) / 3600
    expected = {t: sum(len(ev.detections(tr, t)) for tr in traces) / hours for t in THRESHOLDS}
    assert rates == pytest.approx(expected)
    assert chosen == min(t for t in THRESHOLDS if t >= 0.5 and expected[t] <= 120.0)
    # the talk alone would need a higher threshold for the same target: pooling matters here
    ((alone, _),) = calibrate(ev, [talk], [span], target_per_hour=120.0).values()
    assert alone > chosen
