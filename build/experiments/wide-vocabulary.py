#!/usr/bin/env python3
"""Ablation behind build/results/ablation-wide-vocabulary.json (kept so its figures can be
re-made; not part of the product): 1.4.0's recipe against the same recipe with a three times
wider vocabulary of unknown words at about the same number of clips, which 1.5.0 adopted.

  OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 OPENBLAS_CORETYPE=Cooperlake \\
    .venv/bin/python build/experiments/wide-vocabulary.py wide|narrow OUT_DIR [CACHE [TRAIN_SEED]]

narrow is 1.4.0's full preset: 150 unknown words (near-misses, Speech Commands' auxiliary words,
common words), each spoken by 25 training styles, in every split. wide is the full preset since
1.5.0: those 150, the rest of the factory's hand-made vocabulary (262 words in all) and then the
most frequent other English words (edge_asr/train/frequent_words.py, from wordfreq's top list)
make 450 in the training split, each spoken by 11 styles (one of every training voice): 4950
unknown clips instead of 3750. Its validation and test splits speak only the first 150, with
the same voices and styles as 1.4.0's, so both arms pick epochs, calibrate the threshold and
measure every figure on the very same clips, and on the very same negative streams (their
sentences do not depend on the unknown words). Compare with build/compare-models and
build/experiments/det-compare.py.

The measured wide arm ran before frequent_words.py existed, with the list drawn from wordfreq
3.1.1 at run time; frequent_words.py was written from it and gives the same 450 words in the
same order (checked then, with wordfreq installed). narrow is cached under speech-commands-20
(1.4.0's caches), wide under speech-commands-20-wide, its streams linked from
speech-commands-20. CACHE defaults to ~/.cache/edge-asr-cl (the 1.4.0 build's); TRAIN_SEED
(edge-asr train --train-seed) draws other networks from the same data.
"""

from __future__ import annotations

import sys
from pathlib import Path

from _recipes import link_streams, pin_1_4_0
from _usage import arguments

from edge_asr.train import vocab
from edge_asr.train.cli import main

COMMANDS = ", ".join(vocab.DEFAULT_COMMANDS)
NAMES = {"narrow": ("speech-commands-20", "1.4.0"), "wide": ("speech-commands-20-wide", "0.0.0")}

if __name__ == "__main__":
    args = arguments(__doc__, 2, 4)
    arm, out = args[0], args[1]
    if arm not in NAMES:
        print(f"wide-vocabulary.py: wide or narrow first, not {arm!r}", file=sys.stderr)
        raise SystemExit(2)
    cache = Path(args[2] if len(args) > 2 else Path.home() / ".cache/edge-asr-cl")
    name, version = NAMES[arm]
    link_streams(cache, name)
    if arm == "narrow":
        pin_1_4_0()
    argv = ["--commands", COMMANDS, "--out", out, "--name", name, "--version", version]
    argv += ["--size", "full", "--seed", "0", "--cache", str(cache)]
    if len(args) > 3:
        argv += ["--train-seed", args[3]]
    print("edge-asr train", *argv, file=sys.stderr)
    raise SystemExit(main("train", argv))
