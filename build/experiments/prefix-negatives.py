#!/usr/bin/env python3
"""Ablation behind build/results/ablation-prefix-negatives.json (kept so its figures can be
re-made; not part of the product): the 1.5.0 recipe (build/model's) with sixteen, sixty,
seventeen and seventy added to the near-miss negatives of six and seven, the number words that
build/experiments/prefix-words.py found firing six or seven on synthetic voices while
eighteen, eighty, nineteen and ninety (near-misses already) never did. The student trains
without distillation, as in the other data ablations whose plain arm (training seed 3) is its
twin: build/results/candidate-1.5.0-train-seed-3.

  OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 \\
    .venv/bin/python build/experiments/prefix-negatives.py data [CACHE]
      builds the training data on two worker processes (then run the arm)
  OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 \\
    .venv/bin/python build/experiments/prefix-negatives.py OUT_DIR [CACHE [TRAIN_SEED [TEACHER]]]
      the recipe from that data, into OUT_DIR (compare with build/compare-models)

CACHE defaults to ~/.cache/edge-asr; the data is cached as speech-commands-20-prefix, the
streams are linked from speech-commands-20's. TEACHER is a cached teacher checkpoint that fills
the card's table instead of training one (see voice-share.py).
"""

from __future__ import annotations

from _recipes import no_kd_arm
from _usage import arguments

from edge_asr.train import vocab

NAME = "speech-commands-20-prefix"
ADDED = {"six": ("sixteen", "sixty"), "seven": ("seventeen", "seventy")}

if __name__ == "__main__":
    args = arguments(__doc__, 1, 4)
    for command, words in ADDED.items():
        vocab.NEAR_MISSES[command] = (*vocab.NEAR_MISSES[command], *words)
    raise SystemExit(no_kd_arm(NAME, "0.0.0-prefix", args))
