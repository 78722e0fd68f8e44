"""The evaluation's DET axis through the streaming recognizer, on the shipped model's samples."""

from __future__ import annotations

from dataclasses import replace

from edge_asr.audio import read_wav
from edge_asr.model import default_model_dir, load_spec
from edge_asr.train.evaluate import Evaluator, false_reject_rates

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
