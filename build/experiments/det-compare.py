#!/usr/bin/env python3
"""Compare models at equal false accepts instead of at each one's calibrated threshold (which
1-5 false accepts in 3 hours decide): for the validation voices against the validation stream
and the held-out voices against the test stream, the share of clean command clips whose first
detection is right at the lowest threshold with at most N false accepts in the stream.
Not part of the product; behind build/results/ablation-more-copies.json.

  PYTHONPATH=. .venv/bin/python build/experiments/det-compare.py OUT.json MODEL_DIR [MODEL_DIR ...]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from _usage import arguments

from edge_asr.audio import read_wav
from edge_asr.calibrate import THRESHOLDS, labelled_clips
from edge_asr.model import is_internal, load_spec
from edge_asr.train.evaluate import (
    Evaluator,
    clip_traces,
    false_accept_counts,
    false_reject_rates,
    heldout_clips,
)
from edge_asr.train.tts import DEFAULT_CACHE_DIR

CACHE = DEFAULT_CACHE_DIR  # $EDGE_ASR_CACHE or ~/.cache/edge-asr, as edge-asr train
DATASET = CACHE / "datasets/speech-commands-20"
STREAMS = CACHE / "streams/speech-commands-20"
MAX_FALSE_ACCEPTS = (0, 1, 2, 3, 6)  # in the 3-hour stream: 0, 0.33, 0.67, 1 and 2 per hour


def det(ev: Evaluator, clips: list[tuple[Path, str]], stream: Path, music: int) -> dict[str, Any]:
    traces = [
        t for t in clip_traces(ev, clips, (None,), music_split=music) if not is_internal(t.label)
    ]
    neg = ev.trace(read_wav(stream, ev.spec.frontend.sample_rate_hz), "_negative_")
    rejects = false_reject_rates(ev, traces, THRESHOLDS)
    hours = neg.seconds / 3600
    counts = false_accept_counts(ev, neg, THRESHOLDS)
    at = {}
    for n in MAX_FALSE_ACCEPTS:
        meet = [t for t in THRESHOLDS if counts[t] <= n]
        if not meet:  # more false accepts than n even at the highest threshold
            at[f"<={n}"] = {"threshold": None, "clean_top1": 0.0, "false_accepts": None}
            continue
        t = min(meet)
        at[f"<={n}"] = {
            "threshold": t,
            "clean_top1": round(1 - rejects[t], 4),
            "false_accepts": counts[t],
        }
    return {"clips": len(traces), "stream_hours": round(hours, 3), "at": at}


def main(out: Path, models: list[Path]) -> int:
    report: dict[str, Any] = {
        "command": " ".join(["build/experiments/det-compare.py", *sys.argv[1:]])
    }
    report["rule"] = __doc__.split("\n\n")[0].replace("\n", " ")
    for model in models:
        spec = load_spec(model)
        ev = Evaluator(spec)
        val = labelled_clips(DATASET / "val_wav", spec.labels)
        report[str(model)] = {
            "model": f"{spec.name} {spec.version}",
            "validation": det(ev, val, STREAMS / "val-180min.wav", 1),
            "heldout": det(ev, heldout_clips(DATASET, spec.labels), STREAMS / "test-180min.wav", 2),
        }
        for split in ("validation", "heldout"):
            cells = report[str(model)][split]["at"]
            print(model, split, {k: (v["threshold"], v["clean_top1"]) for k, v in cells.items()})
    out.write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    out, *models = arguments(__doc__, 2)
    raise SystemExit(main(Path(out), [Path(p) for p in models]))
