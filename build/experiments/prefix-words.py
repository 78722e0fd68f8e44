#!/usr/bin/env python3
"""Probe behind build/results/probe-prefix-words.json (kept so its figures can be re-made; not
part of the product): does a model fire a command on a longer word that begins with it
("seventeen" -> seven)? Each word is synthesised by espeak-ng (8 voices x 2 rates) and flite
(4 voices), trimmed, put between 1 s and 2 s of silence and run through the streaming
recognizer at the model's own threshold, as `edge-asr recognize` would. Synthetic voices only:
the training engines, nothing reserved for evaluation.

  .venv/bin/python build/experiments/prefix-words.py [MODEL_DIR] [--json OUT]

It prints, per word, how many renditions fired and what; for each number word, whether the
training recipe speaks it as a negative (edge_asr/train/vocab.py NEAR_MISSES).
"""

from __future__ import annotations

import argparse
import collections
import json
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from edge_asr.model import default_model_dir, load_spec
from edge_asr.train import vocab
from edge_asr.train.evaluate import Evaluator
from edge_asr.train.tts import parse_wav_bytes, resample, trim_and_normalise

WORDS = (
    "thirteen", "thirty", "fourteen", "forty", "fifteen", "fifty", "sixteen", "sixty",
    "seventeen", "seventy", "eighteen", "eighty", "nineteen", "ninety",
    "three", "four", "five", "six", "seven", "eight", "nine",
)  # fmt: skip
ESPEAK = ("en-us", "en-gb", "en-us+f3", "en-gb+m3", "en-us+m5", "en-029", "en-gb-x-rp", "en-us+f5")
FLITE = ("slt", "rms", "awb", "kal")


def renditions(word: str, work: Path) -> list[tuple[str, np.ndarray]]:
    """(voice, 16 kHz int16 clip) for each synthetic rendition of `word`."""
    out = []
    commands = [["espeak-ng", "-v", v, "-s", str(r), "-w"] for v in ESPEAK for r in (150, 185)]
    commands += [["flite", "-voice", v, "-t", word, "-o"] for v in FLITE]
    for i, cmd in enumerate(commands):
        wav = work / f"{word}-{i}.wav"
        args = [*cmd, str(wav)] + ([word] if cmd[0] == "espeak-ng" else [])
        subprocess.run(args, check=True, capture_output=True)
        audio, rate = parse_wav_bytes(wav.read_bytes())
        mono = audio[:, 0] if audio.ndim > 1 else audio
        out.append((" ".join(cmd[:5] if cmd[0] == "espeak-ng" else cmd[:3]), resample(mono, rate)))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", nargs="?", type=Path, default=default_model_dir())
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    spec = load_spec(args.model)
    ev = Evaluator(spec, "onnx")
    threshold = spec.default_threshold
    negatives = {m for misses in vocab.NEAR_MISSES.values() for m in misses}
    silence = np.zeros(16000, np.int16)
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        for word in WORDS:
            heard: collections.Counter[str] = collections.Counter()
            clips = renditions(word, Path(tmp))
            for _, clip in clips:
                audio = np.concatenate([silence, trim_and_normalise(clip), silence, silence])
                trace = ev.trace(audio, "_probe_")
                heard[" ".join(d.command for d in ev.detections(trace, threshold)) or "-"] += 1
            fired = len(clips) - heard["-"]
            trained = (
                "command"
                if word in spec.commands
                else ("near-miss negative" if word in negatives else "in no training list")
            )
            rows[word] = {
                "renditions": len(clips),
                "fired": fired,
                "heard": dict(heard),
                "in_training": trained,
            }
            shown = dict(heard.most_common(3))
            print(f"{word:10s} {fired:2d}/{len(clips)} fired  ({trained})  {shown}")
    if args.json:
        out = {
            "command": "build/experiments/prefix-words.py "
            + " ".join(str(a) for a in ([args.model] if args.model != default_model_dir() else [])),
            "model": f"{spec.name} {spec.version}",
            "threshold": threshold,
            "voices": {
                "espeak-ng": [f"{v} at 150 and 185 wpm" for v in ESPEAK],
                "flite": list(FLITE),
            },
            "words": rows,
        }
        args.json.write_text(json.dumps(out, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
