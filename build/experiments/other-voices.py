#!/usr/bin/env python3
"""Do six more unheard voices rank models as the held-out engine does? Not part of the product;
behind build/results/probe-other-voices.json. The held-out engine (festival: three voices, 240
clean clips) decides little on its own: models a few points apart on it swap places with the
next training seed. Here the optional engines' six voices (tts.OPTIONAL_ENGINE_TYPES: MBROLA us1,
us2, us3, en1 and Pico en-US, en-GB), which no recipe trains on, say every command at three
rates, each padded with 0.5 s of silence before and 1 s after; the files go through `edge-asr
recognize` as a device would hear them, at each model's threshold. A clip counts when its first
detection is its command (as the card's streaming figures count).

  .venv/bin/python build/experiments/other-voices.py OUT.json MODEL_DIR [MODEL_DIR ...]

Prints per model the share heard on the six voices (and per voice) beside its held-out engine's
clean figure and its validation figures (clean, and the mean that compare-models decides by)
from its model.json, then the rank correlation of the six voices' figure with each over the
models, and writes all of it to OUT.json. Needs the optional engines' Debian packages (see
more-voices.py).
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
from _usage import arguments
from fragments import recognize
from scipy.stats import spearmanr

from edge_asr.model import is_internal, load_spec
from edge_asr.train.tts import (
    DEFAULT_CACHE_DIR,
    OPTIONAL_ENGINE_TYPES,
    SAMPLE_RATE_HZ,
    TtsCache,
    VoiceSpec,
)

RATES = (0.9, 1.0, 1.1)
PAD_S = (0.5, 1.0)
CONDITIONS = ("clean", "20dB", "10dB", "0dB")


def synthesize(commands: list[str], folder: Path) -> list[dict[str, Any]]:
    engines = {name: cls() for name, cls in OPTIONAL_ENGINE_TYPES.items()}
    cache = TtsCache(DEFAULT_CACHE_DIR / "tts", engines=engines)
    before, after = (np.zeros(int(s * SAMPLE_RATE_HZ), np.int16) for s in PAD_S)
    rows = []
    for name, engine in engines.items():
        for voice in engine.voices():
            for command in commands:
                for rate in RATES:
                    audio = cache.get(command, VoiceSpec(name, voice, rate=rate))
                    path = folder / f"{len(rows):04d}.wav"
                    sf.write(path, np.r_[before, audio, after], SAMPLE_RATE_HZ, subtype="PCM_16")
                    rows.append({"file": str(path), "command": command,
                                 "voice": f"{name}:{voice}", "rate": rate})  # fmt: skip
    return rows


def main(args: list[str]) -> int:
    out, models = Path(args[0]), [Path(m) for m in args[1:]]
    spec = load_spec(models[0])
    commands = [c for c in spec.labels if not is_internal(c)]
    report: dict[str, Any] = {"rates": RATES, "pad_s": PAD_S, "models": {}}
    with tempfile.TemporaryDirectory() as tmp:
        rows = synthesize(commands, Path(tmp))
        report["clips"] = len(rows)
        for model in models:
            detections = recognize(model, rows)
            heard = [h[:1] == [r["command"]] for r, h in zip(rows, detections, strict=True)]
            per_voice: dict[str, list[bool]] = {}
            for r, h in zip(rows, heard, strict=True):
                per_voice.setdefault(r["voice"], []).append(h)
            meta = json.loads((model / "model.json").read_text())
            figures = meta["streaming_eval"]
            val = figures["synthetic_validation"]["top1"]
            summary = {
                "version": f"{meta['name']} {meta['version']}",
                "threshold": meta["thresholds"]["default"],
                "other_voices_heard": round(float(np.mean(heard)), 4),
                "by_voice": {v: round(float(np.mean(h)), 4) for v, h in sorted(per_voice.items())},
                "heldout_clean": figures["synthetic_heldout"]["top1"]["clean"],
                "validation_clean": val["clean"],
                "validation_mean": round(float(np.mean([val[c] for c in CONDITIONS])), 4),
            }
            report["models"][str(model)] = summary
            print(model, {k: v for k, v in summary.items() if k != "by_voice"}, flush=True)
    other = [s["other_voices_heard"] for s in report["models"].values()]
    for key in ("heldout_clean", "validation_clean", "validation_mean"):
        theirs = [s[key] for s in report["models"].values()]
        rho = float(spearmanr(other, theirs).statistic) if len(models) > 2 else None
        report[f"spearman_other_voices_vs_{key}"] = rho
        print(f"Spearman rho, the six other voices against {key}: {rho}")
    out.write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(arguments(__doc__, 2)))
