#!/usr/bin/env python3
"""Screen behind build/results/probe-focal.json (kept so its figures can be re-made; not part of
the product): does a focal loss (Lin et al. 2017) help the student separate commands from the
unknown words that score most like them? The operating point is set by the tail: the few
validation unknown words (near-misses) that score highest, against commands of voices the
network finds hard. Plain cross-entropy spends most of its gradient on windows it already gets
right; the focal loss scales each window's by (1 - p)^GAMMA, p the probability given to its
target (`fit.TrainConfig.focal_gamma`), so training dwells on those two tails. Hard-negative
mining, the one change that moved the calibrated recall by double digits (1.3.0), does the
same for near-misses offline; this does it online, for every class.

The screen trains the student without distillation on the recipe's cached 1.5.0 windows with the
recipe's student settings except the number of epochs, and reports window figures only (no
streaming, no hard negatives; `_screen.py`), as lifter.py and bc-resnet.py do:

  OMP_NUM_THREADS=1 OPENBLAS_CORETYPE=Cooperlake .venv/bin/python build/experiments/focal.py \\
      GAMMA [--epochs N] [--train-seed S] [--cache DIR] [--json OUT]

GAMMA = 0 trains the plain twin (lifter.py 0's network).
"""

from __future__ import annotations

import sys
from dataclasses import replace

from _screen import emit, load, parse, shipped_student, train_and_report


def main(argv: list[str]) -> int:
    args = parse(__doc__, argv, "gamma", float, "focal exponent (0: plain cross-entropy)")
    s, test, test_meta = load(args.cache, args.train_seed)
    s.s_cfg = replace(s.s_cfg, focal_gamma=args.gamma)
    net = shipped_student(s, args.train_seed)
    splits = (s.train, s.val, test)
    name = f"focal-{args.gamma:g}"
    figures = train_and_report(net, s, splits, test_meta, args.epochs, args.train_seed, name)
    return emit({"focal_gamma": args.gamma, **figures}, args.json)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
