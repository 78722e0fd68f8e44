#!/usr/bin/env python3
"""Does a model fire on part of a command? Not part of the product; behind
build/results/ablation-partial-words.json. The held-out engine's voices (festival: kal, ked and
HTS slt, at three rates) say each command whole and a few fragments of it (for a multi-word
command its first and its last words alone, then the first word followed by another word; for
a one-word command the near-misses that begin like it), each padded with 0.5 s of silence; the
files go through `edge-asr recognize` as a device would hear them, at each model's threshold.

  .venv/bin/python build/experiments/fragments.py OUT.json MODEL_DIR [MODEL_DIR ...]

Prints per model the share of whole commands heard as themselves and the share of fragments
that fire any command, and writes both, with every file's detections, to OUT.json.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
from _usage import arguments

from edge_asr.model import is_internal, load_spec
from edge_asr.train.tts import DEFAULT_CACHE_DIR, SAMPLE_RATE_HZ, TtsCache, VoiceSpec

ROOT = Path(__file__).resolve().parents[2]
VOICES = ("kal_diphone", "ked_diphone", "cmu_us_slt_arctic_hts")
RATES = (0.9, 1.0, 1.1)
PAD_S = 0.5
# One-word commands: words that begin (or end) like them and are not them.
NEAR_START = {
    "seven": ["sev"], "three": ["thr"], "left": ["lef"], "stop": ["sto"], "zero": ["zee"],
    "right": ["rye"], "down": ["dow"], "eight": ["ay"], "nine": ["nigh"], "five": ["fie"],
}  # fmt: skip
FOLLOWER = "please"


def fragments(command: str) -> list[str]:
    words = command.split()
    if len(words) > 1:
        return [words[0], words[-1], f"{words[0]} {FOLLOWER}"]
    return NEAR_START.get(command, [])


def synthesize(commands: list[str], folder: Path) -> list[dict[str, Any]]:
    cache = TtsCache(DEFAULT_CACHE_DIR / "tts")
    pad = np.zeros(int(PAD_S * SAMPLE_RATE_HZ), np.int16)
    rows = []
    for command in commands:
        texts = [(command, True)] + [(f, False) for f in fragments(command)]
        for text, whole in texts:
            for voice in VOICES:
                for rate in RATES:
                    audio = cache.get(text, VoiceSpec("festival", voice, rate=rate))
                    path = folder / f"{len(rows):04d}.wav"
                    sf.write(path, np.r_[pad, audio, pad], SAMPLE_RATE_HZ, subtype="PCM_16")
                    rows.append({"file": str(path), "text": text, "command": command,
                                 "whole": whole, "voice": voice, "rate": rate})  # fmt: skip
    return rows


def recognize(model: Path, rows: list[dict[str, Any]]) -> list[list[str]]:
    out = subprocess.run(
        [
            str(ROOT / ".venv/bin/edge-asr"),
            "recognize",
            "--json",
            "--model",
            str(model),
            *[r["file"] for r in rows],
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    by_file = {
        o["file"]: [d["command"] for d in o["detections"]]
        for o in map(json.loads, out.split("\n")[:-1])
    }
    return [by_file[r["file"]] for r in rows]


def main(args: list[str]) -> int:
    out, models = Path(args[0]), [Path(m) for m in args[1:]]
    spec = load_spec(models[0])
    commands = [c for c in spec.labels if not is_internal(c)]
    report: dict[str, Any] = {"voices": VOICES, "rates": RATES, "pad_s": PAD_S, "models": {}}
    with tempfile.TemporaryDirectory() as tmp:
        rows = synthesize(commands, Path(tmp))
        for model in models:
            heard = recognize(model, rows)
            whole = [
                h[:1] == [r["command"]] for r, h in zip(rows, heard, strict=True) if r["whole"]
            ]
            fired = [bool(h) for r, h in zip(rows, heard, strict=True) if not r["whole"]]
            summary = {
                "version": load_spec(model).version,
                "whole_heard": round(sum(whole) / len(whole), 4),
                "whole_n": len(whole),
                "fragments_fired": round(sum(fired) / max(1, len(fired)), 4),
                "fragments_n": len(fired),
                "detections": [
                    {"text": r["text"], "voice": r["voice"], "rate": r["rate"], "heard": h}
                    for r, h in zip(rows, heard, strict=True)
                    if h
                ],
            }
            report["models"][str(model)] = summary
            print(model, {k: v for k, v in summary.items() if k != "detections"})
    out.write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(arguments(__doc__, 2)))
