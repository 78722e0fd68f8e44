#!/usr/bin/env python3
"""Screen behind build/results/probe-word-aux.json (kept so its figures can be re-made; not part
of the product): does teaching the student WHICH word a window holds help it tell commands from
the words that sound like them? The recipe lumps its 450 unknown words into one `_unknown_`
class, so nothing asks the network to keep "sever" apart from "never" or "seven" beyond pushing
both to one side; the false accepts that set the threshold are such near-misses. Here a
training-only linear layer reads the features the head reads and names the word (each unknown
word its own class, commands and silence as usual), its cross-entropy weighted by WEIGHT and
added to the student's (`fit.TrainConfig.word_aux`). The layer is dropped after training: the
network, its size, MACs and INT8 files are the student's own.

The screen trains the student without distillation on the recipe's cached 1.5.0 windows with the
recipe's student settings except the number of epochs, and reports window figures only (no
streaming, no hard negatives; `_screen.py`), as lifter.py and bc-resnet.py do:

  OMP_NUM_THREADS=1 OPENBLAS_CORETYPE=Cooperlake .venv/bin/python build/experiments/word-aux.py \\
      WEIGHT [--epochs N] [--train-seed S] [--cache DIR] [--json OUT]

WEIGHT = 0 trains the plain twin (lifter.py 0's network).
"""

from __future__ import annotations

import sys
from dataclasses import replace

import numpy as np
import torch
from _screen import NAME, emit, load, parse, shipped_student, train_and_report


def word_labels(labels: list[str], y: torch.Tensor, text: np.ndarray) -> torch.Tensor:
    """Split.word for a split's windows: y, except that each unknown word gets its own class."""
    unknown = labels.index("_unknown_")
    is_unknown = (y == unknown).numpy()
    words = sorted(set(text[is_unknown].tolist()))
    index = {w: len(labels) + i for i, w in enumerate(words)}
    word = y.clone()
    word[torch.from_numpy(is_unknown)] = torch.tensor(
        [index[w] for w in text[is_unknown].tolist()], dtype=word.dtype
    )
    return word


def main(argv: list[str]) -> int:
    args = parse(__doc__, argv, "weight", float, "weight of the word-identity loss (0: none)")
    s, test, test_meta = load(args.cache, args.train_seed)
    with np.load(args.cache / "datasets" / NAME / "train.npz", allow_pickle=False) as data:
        text = data["text"]
    if len(text) != len(s.train):
        raise SystemExit(f"{len(text)} texts for {len(s.train)} training windows")
    train = replace(s.train, word=word_labels(s.labels, s.train.y, text))
    n_words = int(train.word.max()) + 1 if train.word is not None else 0
    s.s_cfg = replace(s.s_cfg, word_aux=args.weight)
    net = shipped_student(s, args.train_seed)
    splits = (train, s.val, test)
    name = f"word-aux-{args.weight:g}"
    figures = train_and_report(net, s, splits, test_meta, args.epochs, args.train_seed, name)
    row = {"word_aux": args.weight, "word_classes": n_words, **figures}
    return emit(row, args.json)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
