#!/usr/bin/env python3
"""What a model fires on in the factory's command-free streams: every detection at or above a
threshold, best score first, with the voice and sentence under it (the streams' JSON).

  .venv/bin/python build/experiments/false-accepts.py MODEL_DIR THRESHOLD WAV... [--json OUT]

Made the false_accepts_1_3_1 list of build/results/ablation-natural-streams.json:
  ... false-accepts.py models/speech-commands-20 0.80 \\
      ~/.cache/edge-asr/streams/speech-commands-20/val-180min*.wav
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from _streams import Segments
from _usage import arguments

from edge_asr.audio import read_wav
from edge_asr.calibrate import replay_thresholds
from edge_asr.model import load_spec
from edge_asr.train.evaluate import Evaluator


def main(model: Path, threshold: float, wavs: list[Path], out: Path | None) -> int:
    spec = load_spec(model)
    ev = Evaluator(spec)
    rows = []
    for wav in wavs:
        segments = Segments(wav)
        trace = ev.trace(read_wav(wav, spec.frontend.sample_rate_hz), "_negative_")
        for d in replay_thresholds(trace.events, spec, [threshold], ev.settings)[threshold]:
            seg = segments.under(d, spec.window_s)
            rows.append(
                {
                    "command": d.command,
                    "score": round(d.score, 3),
                    "end_s": d.end_s,
                    "kind": seg["kind"],
                    "voice": seg.get("voice", ""),
                    "text": seg.get("text", ""),
                    "seg_start": seg["start_s"],
                }
            )
    rows.sort(key=lambda r: -r["score"])
    for r in rows:
        into = r["end_s"] - r["seg_start"]
        print(
            f"{r['score']:.3f} {r['command']:6s} {r['voice'] or r['kind']:44s} {into:5.2f} s |"
            f" {r['text']}"
        )
    print(f"{len(rows)} detections at >= {threshold} in {len(wavs)} stream(s)")
    if out is not None:
        out.write_text(json.dumps(rows, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    args = arguments(__doc__, 3)
    out = None
    if "--json" in args:
        i = args.index("--json")
        out, args = Path(args[i + 1]), args[:i] + args[i + 2 :]
    sys.exit(main(Path(args[0]), float(args[1]), [Path(a) for a in args[2:]], out))
