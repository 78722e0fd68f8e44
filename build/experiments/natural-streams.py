#!/usr/bin/env python3
"""Measurement behind build/results/ablation-natural-streams.json: what a model's calibrated
threshold and figures become when the command-free streams speak words as often as English
does (vocab.sentences(natural=True)) instead of the factory's near-miss stress mix, where every
word of the lists is as likely as "the" and about a quarter of the words are near-misses of a
command ("sever", "gown", "lift", "stomp").

  .venv/bin/python build/experiments/natural-streams.py make WORK SEED...
      WORK/streams/natural-180min-seedN.wav for each SEED, made like the factory's validation
      and test streams (voices, music, noise, levels) but with natural word frequencies; the
      factory's seeds are 0 (test) and 1, 3, 5, 7, 9 (validation)
  .venv/bin/python build/experiments/natural-streams.py score WORK MODEL_DIR DATASET_DIR \\
      OLD_STREAMS_DIR
      the model at its own threshold and at the threshold calibrated as the factory does
      (lowest meeting 0.5 false accepts per hour, 400 ms smoothing) on the natural validation
      streams (seeds 1-9): false accepts per hour on the natural test stream (seed 0) and on
      the factory's own validation and test streams (OLD_STREAMS_DIR: val-180min*.wav,
      test-180min.wav), held-out and validation clips (DATASET_DIR: test_wav/, val_wav/), the
      human recordings (evaluation only)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from _usage import arguments

from edge_asr.audio import read_wav
from edge_asr.calibrate import THRESHOLDS, labelled_clips, pick_threshold
from edge_asr.model import load_spec
from edge_asr.train import vocab
from edge_asr.train.evaluate import (
    Evaluator,
    clip_traces,
    false_accept_counts,
    heldout_clips,
    human_recordings,
    score_clips,
)
from edge_asr.train.stream import make_negative_stream

MINUTES = 180.0
VAL_SEEDS = (1, 3, 5, 7, 9)
TEST_SEED = 0
SNRS = (None, 20.0, 10.0, 0.0)


def stream_path(work: Path, seed: int) -> Path:
    return work / "streams" / f"natural-{MINUTES:g}min-seed{seed}.wav"


def make(work: Path, seeds: list[int]) -> int:
    for seed in seeds:
        make_negative_stream(
            stream_path(work, seed),
            MINUTES,
            seed,
            commands=vocab.DEFAULT_COMMANDS,
            natural=True,
        )
    return 0


def score(work: Path, model: Path, dataset: Path, old: Path) -> int:
    spec = load_spec(model)
    ev = Evaluator(spec)
    natural_val = [stream_path(work, s) for s in VAL_SEEDS]
    streams = {
        "natural test (seed 0)": [stream_path(work, TEST_SEED)],
        "natural validation (seeds 1-9)": natural_val,
        "near-miss mix test": [old / "test-180min.wav"],
        "near-miss mix validation": sorted(old.glob("val-180min*.wav")),
    }
    counts = {}
    for name, wavs in streams.items():
        total, hours = dict.fromkeys(THRESHOLDS, 0), 0.0
        for wav in wavs:
            trace = ev.trace(read_wav(wav, spec.frontend.sample_rate_hz), "_negative_")
            hours += trace.seconds / 3600
            for t, n in false_accept_counts(ev, trace, THRESHOLDS).items():
                total[t] += n
        counts[name] = (total, hours)
        print(name, f"{hours:.1f} h", flush=True)
    # As the factory calibrates (evaluate.calibrate), from the counts above: each stream is
    # traced once.
    total, hours = counts["natural validation (seeds 1-9)"]
    natural_rates = {t: n / hours for t, n in total.items()}
    chosen = pick_threshold(natural_rates)
    heldout = clip_traces(ev, heldout_clips(dataset, spec.labels), SNRS)
    val_clips = labelled_clips(dataset / "val_wav", spec.labels)
    validation = clip_traces(ev, val_clips, SNRS, music_split=1)
    out: dict[str, object] = {
        "model": f"{spec.name} {spec.version}",
        "smoothing_ms": spec.decoder["smoothing_ms"],
        "natural_validation_rates": {f"{t:.2f}": round(r, 3) for t, r in natural_rates.items()},
    }
    for name, thr in (("own threshold", spec.default_threshold), ("natural calibration", chosen)):
        row: dict[str, object] = {"threshold": thr}
        row["false_accepts"] = {
            stream: {
                "count": total[thr],
                "hours": round(hours, 2),
                "per_hour": round(total[thr] / hours, 2),
            }
            for stream, (total, hours) in counts.items()
        }
        for label, traces in (("heldout", heldout), ("validation", validation)):
            s = score_clips(ev, traces, thr)
            row[label] = {"top1": s["top1"], "unknown_accepted": s["unknown_false_accept_rate"]}
        h = human_recordings(ev, thr)
        row["humans"] = {
            "commands_heard": h["commands_heard"],
            "commands_said": h["commands_said"],
            "detections_never_said": h["detections_never_said"],
        }
        out[name] = row
        print(name, json.dumps(row), flush=True)
    path = work / f"score-{spec.version}.json"
    path.write_text(json.dumps(out, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    args = arguments(__doc__, 2)
    if args[0] == "make" and len(args) >= 3:
        sys.exit(make(Path(args[1]), [int(s) for s in args[2:]]))
    if args[0] == "score" and len(args) == 5:
        sys.exit(score(*(Path(a) for a in args[1:])))
    print(__doc__, file=sys.stderr)
    sys.exit(2)
