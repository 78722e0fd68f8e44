#!/usr/bin/env python3
"""Probe behind build/results/probe-ensemble.json (not part of the product): do two students'
averaged posteriors hear more held-out commands at the calibrated false-accept rate than either
student alone? Both models must share labels and frontend; the pair runs through the product's
streaming recognizer, calibrated on the factory's validation streams and evaluated on its
held-out clips and test stream exactly as `edge-asr train` does for one model.

  PYTHONPATH=. .venv/bin/python build/experiments/ensemble.py OUT.json MODEL_A MODEL_B [WEIGHT_A]
      the pair calibrated and evaluated as `edge-asr train` does one model; the single models'
      own figures are read from their model.json, which the same code wrote on the same clips
  PYTHONPATH=. .venv/bin/python build/experiments/ensemble.py det OUT.json MODEL_A MODEL_B [W_A]
      A, B and the pair at equal false accepts: clean command clips heard (first detection
      right) and unknown words accepted at the lowest threshold within each false-accept rate,
      validation voices against the 15 validation hours, held-out voices against the 3 test
      hours. Each model traces every input once; the pair's posteriors are the traces' mean.

WEIGHT_A or W_A (default 0.5) is model A's share of the averaged posteriors.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from _usage import arguments

import edge_asr.train.evaluate as evaluate_module
from edge_asr.audio import read_wav
from edge_asr.backends import OnnxBackend
from edge_asr.calibrate import THRESHOLDS, labelled_clips
from edge_asr.model import ModelSpec, is_internal, load_spec
from edge_asr.train.evaluate import (
    SNRS_DB,
    Evaluator,
    Trace,
    calibrate,
    clip_traces,
    evaluate,
    false_accept_counts,
    false_reject_rates,
    heldout_clips,
    score_clips,
    summary,
)
from edge_asr.train.tts import DEFAULT_CACHE_DIR

CACHE = DEFAULT_CACHE_DIR
DATASET = CACHE / "datasets/speech-commands-20"
STREAMS = CACHE / "streams/speech-commands-20"
SMOOTHING_MS = 400
PER_HOUR = (0.0, 0.2, 0.5, 1.0, 2.0)  # false-accept rates the DET comparison reads off


class MeanBackend:
    """Posteriors of several ONNX models, averaged with fixed weights."""

    name = runtime = "onnx"

    def __init__(self, models: list[tuple[ModelSpec, Path]], weights: list[float]) -> None:
        self._backends = [OnnxBackend(spec, path) for spec, path in models]
        self._weights = np.asarray(weights, np.float32)
        self._out = np.zeros(len(models[0][0].labels), np.float32)

    def infer(self, features: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        self._out[:] = 0.0
        for weight, backend in zip(self._weights, self._backends, strict=True):
            self._out += weight * backend.infer(features)
        return self._out


def single_figures(model_dir: Path) -> dict[str, Any]:
    """What `edge-asr train` recorded for one model on these clips and streams."""
    spec = json.loads((model_dir / "model.json").read_text())
    ev = spec["streaming_eval"]
    return {
        "version": spec["version"],
        "threshold": spec["thresholds"]["default"],
        "validation_streams": spec["calibration"].get("streams"),
        "heldout_top1": ev["synthetic_heldout"]["top1"],
        "heldout_unknown_accepted": ev["synthetic_heldout"]["unknown_false_accept_rate"],
        "test_false_accepts_per_hour": ev["negative_stream"]["false_accepts_per_hour"],
        "validation_top1": ev["synthetic_validation"]["top1"],
    }


def pair_specs(a_dir: Path, b_dir: Path) -> tuple[ModelSpec, ModelSpec]:
    """Both models' specs; their posteriors can only be averaged over the same labels and frames."""
    spec_a, spec_b = load_spec(a_dir), load_spec(b_dir)
    if spec_a.labels != spec_b.labels or spec_a.frontend != spec_b.frontend:
        raise SystemExit("ensemble: the models differ in labels or frontend")
    return spec_a, spec_b


def mean_trace(a: Trace, b: Trace, weight_a: float) -> Trace:
    """The pair's trace: both models saw the same frames and the gate (energy only) opened and
    closed at the same moments, so their events align one to one."""
    events: list[tuple[float, float, npt.NDArray[np.float32] | None]] = []
    for (now, start, pa), (now_b, _, pb) in zip(a.events, b.events, strict=True):
        assert now == now_b and (pa is None) == (pb is None)
        if pa is None or pb is None:
            events.append((now, start, None))  # the gate closed
        else:
            events.append((now, start, weight_a * pa + (1 - weight_a) * pb))
    return Trace(a.label, events, a.seconds, a.snr_db, a.source)


def det_split(
    evs: dict[str, Evaluator],
    weight_a: float,
    clips: list[tuple[Path, str]],
    streams: list[Path],
    music: int,
) -> dict[str, Any]:
    """For A, B and the pair: clean top-1 and unknown words accepted at each false-accept rate."""
    traces = {k: clip_traces(ev, clips, (None,), music_split=music) for k, ev in evs.items()}
    traces["pair"] = [
        mean_trace(a, b, weight_a) for a, b in zip(traces["a"], traces["b"], strict=True)
    ]
    counts: dict[str, dict[float, int]] = {k: dict.fromkeys(THRESHOLDS, 0) for k in traces}
    seconds = 0.0
    for wav in streams:
        audio = read_wav(wav, evs["a"].spec.frontend.sample_rate_hz)
        neg = {k: ev.trace(audio, "_negative_") for k, ev in evs.items()}
        neg["pair"] = mean_trace(neg["a"], neg["b"], weight_a)
        seconds += neg["a"].seconds
        for k, trace in neg.items():
            for t, n in false_accept_counts(evs["a"], trace, THRESHOLDS).items():
                counts[k][t] += n
        logging.info("%s: %s", wav.name, {k: c[0.9] for k, c in counts.items()})
    hours = seconds / 3600
    out: dict[str, Any] = {"stream_hours": round(hours, 2)}
    for k, tr in traces.items():
        commands = [t for t in tr if not is_internal(t.label)]
        unknown = [t for t in tr if t.label == "_unknown_"]
        rejects = false_reject_rates(evs["a"], commands, THRESHOLDS)
        at = {}
        for rate in PER_HOUR:
            t = min(t for t in THRESHOLDS if counts[k][t] <= rate * hours)
            accepted = sum(bool(evs["a"].detections(u, t)) for u in unknown)
            at[f"<={rate:g}/h"] = {
                "threshold": t,
                "false_accepts": counts[k][t],
                "clean_top1": round(1 - rejects[t], 4),
                "unknown_accepted": round(accepted / max(1, len(unknown)), 4),
            }
        out[k] = {"commands": len(commands), "unknown": len(unknown), "at": at}
    return out


def det_main(out: Path, a_dir: Path, b_dir: Path, weight_a: float) -> int:
    spec_a, spec_b = pair_specs(a_dir, b_dir)
    evs = {"a": Evaluator(spec_a), "b": Evaluator(spec_b)}
    started = time.monotonic()
    report: dict[str, Any] = {
        "question": __doc__.split("\n\n")[0],
        "command": " ".join(["build/experiments/ensemble.py", *sys.argv[1:]]),
        "models": {"a": str(a_dir), "b": str(b_dir), "weight_a": weight_a},
        "validation": det_split(
            evs,
            weight_a,
            labelled_clips(DATASET / "val_wav", spec_a.labels),
            sorted(STREAMS.glob("val-180min*.wav")),
            1,
        ),
        "heldout": det_split(
            evs, weight_a, heldout_clips(DATASET, spec_a.labels), [STREAMS / "test-180min.wav"], 2
        ),
    }
    report["seconds"] = round(time.monotonic() - started)
    out.write_text(json.dumps(report, indent=1) + "\n")
    for split in ("validation", "heldout"):
        for k in ("a", "b", "pair"):
            cells = report[split][k]["at"]
            print(
                split,
                k,
                {
                    r: (c["threshold"], c["clean_top1"], c["unknown_accepted"])
                    for r, c in cells.items()
                },
            )
    return 0


def main() -> int:
    args = arguments(__doc__, 3, 5)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if args[0] == "det":
        weight = float(args[4]) if len(args) > 4 else 0.5
        return det_main(Path(args[1]), Path(args[2]), Path(args[3]), weight)
    out, a_dir, b_dir = Path(args[0]), Path(args[1]), Path(args[2])
    weight_a = float(args[3]) if len(args) > 3 else 0.5
    spec_a, spec_b = pair_specs(a_dir, b_dir)
    models = [(spec_a, a_dir / "model.onnx"), (spec_b, b_dir / "model.onnx")]
    # Every Evaluator (calibration, held-out clips, test stream, humans) gets the pair.
    evaluate_module.load_backend = lambda *_a, **_k: MeanBackend(  # type: ignore[attr-defined,assignment]
        models, [weight_a, 1.0 - weight_a]
    )
    val_negs = sorted(STREAMS.glob("val-180min*.wav"))
    test_neg = STREAMS / "test-180min.wav"
    started = time.monotonic()
    ev = Evaluator(spec_a)
    by_span = calibrate(ev, val_negs, [SMOOTHING_MS])
    threshold, rates = by_span[SMOOTHING_MS]
    report = summary(evaluate(a_dir, DATASET, test_neg, threshold=threshold))
    val_clips = labelled_clips(DATASET / "val_wav", spec_a.labels)
    validation = score_clips(ev, clip_traces(ev, val_clips, SNRS_DB, music_split=1), threshold)
    result = {
        "question": __doc__.split("\n\n")[0],
        "command": " ".join(["build/experiments/ensemble.py", *sys.argv[1:]]),
        "models": {"a": str(a_dir), "b": str(b_dir), "weight_a": weight_a},
        "validation_streams": [p.name for p in val_negs],
        "ensemble": {
            "threshold": threshold,
            "validation_false_accepts_per_hour": round(rates[threshold], 3),
            "heldout": report,
            "validation": {
                k: v for k, v in validation.items() if k not in ("confusion", "first_detections")
            },
        },
        "single": {"a": single_figures(a_dir), "b": single_figures(b_dir)},
        "seconds": round(time.monotonic() - started),
    }
    out.write_text(json.dumps(result, indent=1) + "\n")
    held = report["synthetic_heldout"]
    print(
        f"ensemble threshold {threshold:.2f}: held-out {held['top1']}, unknown accepted "
        f"{held['unknown_false_accept_rate']}, test FA/h "
        f"{report.get('negative_stream', {}).get('false_accepts_per_hour')}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
