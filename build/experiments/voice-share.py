#!/usr/bin/env python3
"""Ablation behind build/results/ablation-voice-share.json (kept so its figures can be re-made;
not part of the product): the 1.5.0 recipe (build/model's) with voice conversion on another
share of the training copies (dataset.SizePreset.p_voice, 0.5 in the recipe since 1.2.0), the
student without distillation as the only student, as in the random-equalisation pairs whose
plain arms (training seeds 3 and 4) are its twins. Validation and test clips and the negative
streams are the recipe's own: the share changes only the training split.

  OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 OPENBLAS_CORETYPE=Cooperlake \\
    .venv/bin/python build/experiments/voice-share.py P data [CACHE]
      builds the training data with share P on two worker processes (then run the arms)
  OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 OPENBLAS_CORETYPE=Cooperlake \\
    .venv/bin/python build/experiments/voice-share.py P OUT_DIR [CACHE [TRAIN_SEED [TEACHER]]]
      the recipe from that data, into OUT_DIR (compare with build/compare-models)

CACHE defaults to ~/.cache/edge-asr; the data is cached as speech-commands-20-voiceN (N: the share
in per cent), the streams are linked from speech-commands-20's. TEACHER is a cached teacher
checkpoint (teacher-*.pt) that fills the card's table instead of training one: it teaches nobody
here.
"""

from __future__ import annotations

from dataclasses import replace

from _recipes import no_kd_arm
from _usage import arguments

from edge_asr.train import dataset

if __name__ == "__main__":
    args = arguments(__doc__, 2, 5)
    share = float(args[0])
    dataset.SIZES["full"] = replace(dataset.SIZES["full"], p_voice=share)
    name = f"speech-commands-20-voice{round(100 * share)}"
    raise SystemExit(no_kd_arm(name, f"0.0.0-v{share:g}", args[1:]))
