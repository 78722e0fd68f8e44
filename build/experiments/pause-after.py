#!/usr/bin/env python3
"""Is there a pause around a detection? A spoken command stands alone; the false accepts in the
factory's streams are mostly near-misses that open a sentence (false-accepts.py), with the next
word right behind them. This measures, for every detection at THRESHOLD, whether the audio from
BEFORE_S before it to AFTER_S after it holds a quiet stretch of at least QUIET_MS (10 ms frames
at least QUIET_DB below the loudest frame of the second before the detection): for the false
accepts in command-free streams, and for the held-out command clips heard right (clean, and at
10 dB SNR with pink or brown noise, drawn here). A decoder that waits for such a pause would be
this much later and keep this share of each.

  .venv/bin/python build/experiments/pause-after.py MODEL_DIR THRESHOLD DATASET_DIR WAV...
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import numpy.typing as npt
from _usage import arguments

from edge_asr.audio import frame_power, read_wav
from edge_asr.calibrate import labelled_clips, replay_thresholds
from edge_asr.decoder import Detection
from edge_asr.model import is_internal, load_spec
from edge_asr.train.evaluate import Evaluator, noisy

BEFORE_S, AFTER_S = 0.4, 0.2
QUIET_MS = (50, 100, 150)
QUIET_DB = 15.0


def frame_db(audio: npt.NDArray[np.int16], rate: int) -> npt.NDArray[np.float32]:
    """Level of each 10 ms frame, computed once per recording."""
    db: npt.NDArray[np.float32] = 10 * np.log10(np.maximum(frame_power(audio, rate), 1.0))
    return db


def quiet_run_ms(db: npt.NDArray[np.float32], d: Detection) -> int:
    """Longest run of quiet frames (ms) in [d.end_s - BEFORE_S, d.end_s + AFTER_S]."""
    end = round(d.end_s * 100)  # in 10 ms frames
    loud = db[max(0, end - 100) : end].max(initial=0.0)
    span = db[max(0, end - round(BEFORE_S * 100)) : end + round(AFTER_S * 100)] < loud - QUIET_DB
    best = run = 0
    for q in span:
        run = run + 1 if q else 0
        best = max(best, run)
    return best * 10


def shares(runs: list[int]) -> dict[str, object]:
    return {
        "detections": len(runs),
        **{f">= {ms} ms": round(float(np.mean([r >= ms for r in runs])), 3) for ms in QUIET_MS},
    }


def main(model: Path, threshold: float, dataset: Path, wavs: list[Path]) -> int:
    spec = load_spec(model)
    ev = Evaluator(spec)
    rate = spec.frontend.sample_rate_hz
    fa_runs = []
    for wav in wavs:
        audio = read_wav(wav, rate)
        trace = ev.trace(audio, "_negative_")
        db = frame_db(audio, rate)
        for d in replay_thresholds(trace.events, spec, [threshold], ev.settings)[threshold]:
            fa_runs.append(quiet_run_ms(db, d))
    rng = np.random.default_rng(0)
    heard: dict[str, list[int]] = {"clean": [], "10 dB": []}
    for path, label in labelled_clips(dataset / "test_wav", spec.labels):
        if is_internal(label):
            continue
        clean = read_wav(path, rate)
        for key, audio in (("clean", clean), ("10 dB", noisy(clean, 10.0, rng, []))):
            found = ev.detections(ev.trace(audio, label), threshold)
            if found and found[0].command == label:
                heard[key].append(quiet_run_ms(frame_db(audio, rate), found[0]))
    out = {
        "model": f"{spec.name} {spec.version}",
        "threshold": threshold,
        "window": f"{BEFORE_S} s before to {AFTER_S} s after the detection, frames "
        f"{QUIET_DB:g} dB below the loudest of the second before",
        "false accepts in the streams": shares(fa_runs),
        **{f"held-out commands heard, {k}": shares(v) for k, v in heard.items()},
    }
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    args = arguments(__doc__, 4)
    sys.exit(main(Path(args[0]), float(args[1]), Path(args[2]), [Path(a) for a in args[3:]]))
