#!/usr/bin/env python3
"""Ablation behind build/results/ablation-longer-training.json (kept so its figures can be
re-made; not part of the product): the 1.5.0 recipe (build/model's) with the student trained for
EPOCHS epochs instead of 26 (the one-cycle schedule stretched to match; patience and the
hard-negative fine-tune unchanged). Every student of the full preset has picked one of its last
five epochs, so the schedule may end before the network has learnt what the data can teach it.
The student trains without distillation, as in the random-equalisation pairs whose plain arms
(training seeds 3 and 4) are its twins, on the recipe's own dataset, clips and streams.

  OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 OPENBLAS_CORETYPE=Cooperlake \\
    .venv/bin/python build/experiments/longer-training.py EPOCHS OUT_DIR \\
      [CACHE [TRAIN_SEED [TEACHER]]]

CACHE defaults to ~/.cache/edge-asr, which must hold the recipe's dataset and streams
(speech-commands-20, as build/model makes them). TEACHER is a cached teacher checkpoint that
fills the card's table instead of training one (see voice-share.py).
"""

from __future__ import annotations

from dataclasses import replace

from _recipes import no_kd_arm
from _usage import arguments

from edge_asr.train import recipe

if __name__ == "__main__":
    args = arguments(__doc__, 2, 5)
    epochs = int(args[0])
    long = recipe.PRESETS["long"]
    recipe.PRESETS["long"] = replace(long, student=replace(long.student, epochs=epochs))
    raise SystemExit(no_kd_arm("speech-commands-20", f"0.0.0-e{epochs}", args[1:]))
