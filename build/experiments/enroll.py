#!/usr/bin/env python3
"""Measurement behind build/results/ablation-enroll.json (kept so its figures can be re-made):
what `edge-asr train --enroll DIR` buys the voice it was given, simulated with a voice of the
held-out TTS engine (festival) standing in for the user, since no human recording may be trained
on here.

  .venv/bin/python build/experiments/enroll.py make WORK
      WORK/enroll/<command>/*.wav: the stand-in user (festival kal_diphone) says every command
      at ENROLL_RATES; WORK/eval/<voice>/<command>/*.wav: every festival voice at EVAL_RATES,
      rates no training or held-out clip uses
  .venv/bin/edge-asr train ... --out WORK/base --enroll ...   (and once without --enroll)
  .venv/bin/python build/experiments/enroll.py score WORK MODEL_DIR...
      streaming top-1 (first detection = the command) of each model at its own calibrated
      threshold on WORK/eval, clean and at 10 dB SNR (pink, brown or held-out music), per voice

A TTS voice repeats a word far more exactly than a person does, so the enrolled voice's figure
overstates what enrolling a person gives; the other festival voices show what it costs or gives
voices that were not enrolled.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import soundfile as sf
from _usage import arguments

from edge_asr.calibrate import labelled_clips
from edge_asr.model import is_internal, load_spec
from edge_asr.train import vocab
from edge_asr.train.evaluate import Evaluator, clip_traces
from edge_asr.train.tts import DEFAULT_CACHE_DIR, SAMPLE_RATE_HZ, TtsCache, VoiceSpec

USER = "kal_diphone"
ENROLL_RATES = (0.84, 0.92, 1.04, 1.12, 1.21)
EVAL_RATES = (0.88, 0.96, 1.08, 1.16)


def make(work: Path) -> int:
    cache = TtsCache(DEFAULT_CACHE_DIR / "tts")
    voices = cache.engines["festival"].voices()
    jobs = [(work / "enroll", VoiceSpec("festival", USER, rate=r)) for r in ENROLL_RATES]
    jobs += [
        (work / "eval" / v, VoiceSpec("festival", v, rate=r)) for v in voices for r in EVAL_RATES
    ]
    commands = list(vocab.DEFAULT_COMMANDS)
    cache.fill([(c, spec) for _, spec in jobs for c in commands], desc="festival")
    for folder, spec in jobs:
        for command in commands:
            path = folder / command.replace(" ", "_") / f"{spec.name}.wav"
            path.parent.mkdir(parents=True, exist_ok=True)
            sf.write(path, cache.get(command, spec), SAMPLE_RATE_HZ, subtype="PCM_16")
    print(f"wrote {len(jobs) * len(commands)} clips under {work}")
    return 0


def score(work: Path, models: list[Path]) -> int:
    out = {}
    for model in models:
        spec = load_spec(model)
        ev = Evaluator(spec)
        by_voice: dict[str, dict[str, float]] = {}
        for folder in sorted((work / "eval").iterdir()):
            clips = labelled_clips(folder, spec.labels)
            traces = clip_traces(ev, clips, (None, 10.0), seed=0)
            row = {}
            for snr, key in ((None, "clean"), (10.0, "10dB")):
                hits = []
                for t in traces:
                    if t.snr_db != snr or is_internal(t.label):
                        continue
                    found = ev.detections(t, spec.default_threshold)
                    hits.append(bool(found) and found[0].command == t.label)
                row[key] = round(100 * float(np.mean(hits)), 1)
            row["clips"] = len(clips)
            by_voice[folder.name] = row
        out[str(model)] = {
            "version": spec.version,
            "threshold": spec.default_threshold,
            "top1_percent": by_voice,
        }
        print(model, json.dumps(out[str(model)]))
    (work / "score.json").write_text(json.dumps(out, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    args = arguments(__doc__, 2)
    if args[0] == "make" and len(args) == 2:
        sys.exit(make(Path(args[1])))
    if args[0] == "score" and len(args) >= 3:
        sys.exit(score(Path(args[1]), [Path(a) for a in args[2:]]))
    print(__doc__, file=sys.stderr)
    sys.exit(2)
