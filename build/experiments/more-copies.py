#!/usr/bin/env python3
"""Ablation behind build/results/ablation-more-copies.json (kept so its figures can be re-made;
not part of the product): 1.4.0's recipe (build/model's until 1.5.0) with COPIES augmented
copies of every training clip instead of 4, at the same number of training samples (epochs
scaled down), so the networks see more distinct rooms, noises and converted voices rather than
the same ones more often.

  OMP_NUM_THREADS=1 .venv/bin/python build/experiments/more-copies.py COPIES OUT_DIR

Data, streams and stages are cached under ~/.cache/edge-asr under the model name
speech-commands-20-copiesN, so it never touches build/model's caches.
"""

from __future__ import annotations

import sys
from dataclasses import replace

from _recipes import pin_1_4_0
from _usage import arguments

from edge_asr.train import dataset, recipe, vocab
from edge_asr.train.cli import main

COMMANDS = ", ".join(vocab.DEFAULT_COMMANDS)


def scaled(copies: int) -> None:
    """Patch the full data preset (1.4.0's) and the long training preset in place."""
    pin_1_4_0()
    base = dataset.SIZES["full"]
    factor = base.train_copies / copies
    dataset.SIZES["full"] = replace(base, train_copies=copies)
    p = recipe.PRESETS["long"]

    def epochs(cfg: recipe.fit.TrainConfig) -> recipe.fit.TrainConfig:
        return replace(cfg, epochs=max(1, round(cfg.epochs * factor)))

    recipe.PRESETS["long"] = replace(
        p, teacher=epochs(p.teacher), student=epochs(p.student), mine_tune=epochs(p.mine_tune)
    )


if __name__ == "__main__":
    count, out = arguments(__doc__, 2, 2)
    if not count.isdigit() or int(count) < 1:
        print(f"more-copies.py: COPIES must be a whole number >= 1, not {count!r}", file=sys.stderr)
        raise SystemExit(2)
    copies = int(count)
    scaled(copies)
    name = f"speech-commands-20-copies{copies}"
    argv = ["--commands", COMMANDS, "--out", out, "--name", name, "--version", "0.0.0"]
    raise SystemExit(main("train", [*argv, "--size", "full", "--seed", "0"]))
