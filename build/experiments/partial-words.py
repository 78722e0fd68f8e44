#!/usr/bin/env python3
"""Ablation behind build/results/ablation-partial-words.json (kept so its figures can be re-made;
not part of the product; measured, not adopted): the 1.5.0 recipe with partial words as
negatives. Every training window holds a whole clip, so the student never hears "sev-" without
"-en" and is never told that it is not "seven"; in running speech a command's first or last part
is everywhere ("sever", "lift", "stomp", "gown" were 1.3.1's false accepts), and a multi-word
custom command's first word ("lights" of "lights on") is one of those parts. Here each training
copy of a command is joined, with probability P, by a window of only its first or last 30-60 %
(faded at the cut, augmented like any copy) labelled _unknown_ (`dataset.SizePreset.p_partial`,
`augment.partial_word`); the whole words' windows are the twin's, byte for byte. The student
trains without distillation, as in the random-equalisation pairs whose plain arms (training
seeds 3 and 4) are its twins. Validation and test clips and the negative streams are the
recipe's own.

  OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 OPENBLAS_CORETYPE=Cooperlake \\
    .venv/bin/python build/experiments/partial-words.py P data [CACHE]
      builds the training data on two worker processes (then run the arms)
  OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 OPENBLAS_CORETYPE=Cooperlake \\
    .venv/bin/python build/experiments/partial-words.py P OUT_DIR [CACHE [TRAIN_SEED [TEACHER]]]
      the recipe from that data, into OUT_DIR (compare with build/compare-models)

  .venv/bin/python build/experiments/partial-words.py P custom OUT_DIR CACHE [TRAIN OPTIONS]
      the README's custom model ("lights on, lights off, open the door", --size small) with
      partial words, cached beside the plain one in CACHE as my-commands-partialN (its
      streams linked from my-commands'); the plain one is the README command with --cache CACHE

CACHE defaults to ~/.cache/edge-asr; the data is cached as speech-commands-20-partialN (N is
100 P), the streams are linked from speech-commands-20's. TEACHER is a cached teacher checkpoint
that fills the card's table instead of training one (see voice-share.py).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from _recipes import link_streams, no_kd_arm
from _usage import arguments

from edge_asr.train import dataset
from edge_asr.train.cli import main

CUSTOM = "lights on, lights off, open the door"


def custom(percent: int, out: str, cache: Path, rest: list[str]) -> int:
    name = f"my-commands-partial{percent}"
    link_streams(cache, name, "my-commands")
    argv = ["--commands", CUSTOM, "--out", out, "--name", name, "--size", "small"]
    argv += ["--cache", str(cache), "--version", f"1.0.0-partial{percent}", *rest]
    return main("train", argv)


if __name__ == "__main__":
    args = arguments(__doc__, 2)
    percent = round(100 * float(args[0]))
    if args[1] == "custom":
        if len(args) < 4:
            raise SystemExit(__doc__)
        dataset.SIZES["small"] = replace(dataset.SIZES["small"], p_partial=percent / 100)
        raise SystemExit(custom(percent, args[2], Path(args[3]), args[4:]))
    dataset.SIZES["full"] = replace(dataset.SIZES["full"], p_partial=percent / 100)
    name = f"speech-commands-20-partial{percent}"
    raise SystemExit(no_kd_arm(name, f"0.0.0-partial{percent}", args[1:]))
