#!/usr/bin/env python3
"""How much negative audio the threshold calibration needs: each model's threshold is picked
(the factory's rule: lowest with <= 0.5 false accepts per hour) on 1, 2, 4 or 5 3-hour
validation streams of other sentences (seeds), and each pick is scored on the audio it did not
see: false accepts per hour on the other validation streams plus the test stream, and the share
of clean validation and held-out command clips heard right. Not part of the product; behind
build/results/ablation-calibration-length.json.

  PYTHONPATH=. .venv/bin/python build/experiments/calibration-length.py OUT.json MODEL_DIR [...]
"""

from __future__ import annotations

import itertools
import json
import sys
from pathlib import Path
from typing import Any

from _usage import arguments

from edge_asr.audio import read_wav
from edge_asr.calibrate import THRESHOLDS, labelled_clips, pick_threshold
from edge_asr.model import is_internal, load_spec
from edge_asr.train.cli import VALIDATION_STREAMS, validation_streams
from edge_asr.train.evaluate import (
    Evaluator,
    clip_traces,
    false_accept_counts,
    false_reject_rates,
    heldout_clips,
)
from edge_asr.train.stream import make_negative_stream
from edge_asr.train.tts import DEFAULT_CACHE_DIR as CACHE

DATASET = CACHE / "datasets/speech-commands-20"
MINUTES = 180
VAL_SEEDS = (1, 3, 5, 7, 9)  # the full preset's validation streams; 0 is the test stream
TARGET = 0.5


def streams(commands: list[str]) -> dict[int, Path]:
    """Seed -> stream: the full preset's test stream and validation streams (the factory's
    own files, made where missing)."""
    folder = CACHE / "streams/speech-commands-20"
    test = make_negative_stream(
        folder / f"test-{MINUTES}min.wav", MINUTES, 0, commands=commands, cache_dir=CACHE
    )
    vals = validation_streams(folder, "full", 0, commands, CACHE)
    return {0: test, **dict(zip(VAL_SEEDS, vals, strict=True))}


def counts(ev: Evaluator, wav: Path) -> tuple[float, dict[float, int]]:
    trace = ev.trace(read_wav(wav, ev.spec.frontend.sample_rate_hz), "_negative_")
    return trace.seconds / 3600, false_accept_counts(ev, trace, THRESHOLDS)


def pooled(parts: list[tuple[float, dict[float, int]]]) -> dict[float, float]:
    hours = sum(h for h, _ in parts)
    return {t: sum(c[t] for _, c in parts) / hours for t in THRESHOLDS}


def clean_top1(ev: Evaluator, clips: list[tuple[Path, str]]) -> dict[float, float]:
    traces = [t for t in clip_traces(ev, clips, (None,)) if not is_internal(t.label)]
    return {t: 1 - r for t, r in false_reject_rates(ev, traces, THRESHOLDS).items()}


def study(model: Path) -> dict[str, Any]:
    spec = load_spec(model)
    ev = Evaluator(spec)
    assert VALIDATION_STREAMS["full"] == len(VAL_SEEDS)
    negs = {s: counts(ev, wav) for s, wav in streams(list(spec.commands)).items()}
    val = clean_top1(ev, labelled_clips(DATASET / "val_wav", spec.labels))
    held = clean_top1(ev, heldout_clips(DATASET, spec.labels))
    picks: dict[str, list[dict[str, Any]]] = {}
    for k in (1, 2, 4, 5):
        rows = []
        for seeds in itertools.combinations(VAL_SEEDS, k):
            t = pick_threshold(pooled([negs[s] for s in seeds]), TARGET)
            unseen = [negs[s] for s in negs if s not in seeds]
            rows.append(
                {
                    "seeds": list(seeds),
                    "threshold": t,
                    "unseen_hours": round(sum(h for h, _ in unseen), 2),
                    "unseen_false_accepts_per_hour": round(pooled(unseen)[t], 3),
                    "val_clean_top1": round(val[t], 4),
                    "heldout_clean_top1": round(held[t], 4),
                }
            )
        picks[f"{k * MINUTES // 60}h"] = rows
    everything = pooled(list(negs.values()))
    return {
        "model": f"{spec.name} {spec.version}",
        "stream_hours": {s: round(h, 3) for s, (h, _) in negs.items()},
        "picks": picks,
        "summary": {
            name: {
                "thresholds": sorted({r["threshold"] for r in rows}),
                "mean_unseen_false_accepts_per_hour": round(
                    sum(r["unseen_false_accepts_per_hour"] for r in rows) / len(rows), 3
                ),
                "picks_over_target_on_unseen": sum(
                    r["unseen_false_accepts_per_hour"] > TARGET for r in rows
                ),
                "mean_heldout_clean_top1": round(
                    sum(r["heldout_clean_top1"] for r in rows) / len(rows), 4
                ),
                "picks": len(rows),
            }
            for name, rows in picks.items()
        },
        "false_accepts_by_stream_seed": {
            s: {str(t): c[t] for t in THRESHOLDS if t >= 0.8} for s, (_, c) in negs.items()
        },
        "all_streams_pick": pick_threshold(everything, TARGET),
        "all_streams_false_accepts_per_hour": {
            str(t): round(everything[t], 3) for t in THRESHOLDS if t >= 0.8
        },
    }


def main(out: Path, models: list[Path]) -> int:
    report: dict[str, Any] = {
        "command": " ".join(["build/experiments/calibration-length.py", *sys.argv[1:]]),
        "rule": __doc__.split("\n\n")[0].replace("\n", " "),
    }
    for model in models:
        report[str(model)] = study(model)
        print(model, json.dumps(report[str(model)]["summary"], indent=1))
        out.write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    out, *models = arguments(__doc__, 2)
    raise SystemExit(main(Path(out), [Path(p) for p in models]))
