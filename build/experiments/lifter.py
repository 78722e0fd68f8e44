#!/usr/bin/env python3
"""Screen behind build/results/probe-lifter.json (kept so its figures can be re-made; not part of
the product): does smoothing each log-mel frame across the mel bands (cepstral liftering: keep
the first K coefficients of its DCT-II, invert) help the student hear voices of an engine it
never trained on? The 40 log-mel bands resolve pitch harmonics below ~1 kHz and the texture of
each engine's vocoder; the held-out festival voices include the same speaker as a training flite
voice (slt) through another vocoder (HTS), and that voice is the one heard least. A liftered
frame keeps the spectral envelope (formants), which is what a word is, and drops the rest.

Not adopted, so nothing in the product carries it: the transform is linear and fixed (a 40x40
projection), and a student trained on liftered windows could carry it as one MatMul in front of
its first conv (78 k MACs; an export of such a net to both INT8 files was tried and agreed).
The screen trains the student without distillation on the recipe's cached 1.5.0 windows,
liftered or not, with the recipe's student settings except the number of epochs, and reports
window figures only (no streaming, no hard negatives; `_screen.py`):

  OMP_NUM_THREADS=1 OPENBLAS_CORETYPE=Cooperlake .venv/bin/python build/experiments/lifter.py \\
      K [--epochs N] [--train-seed S] [--cache DIR] [--json OUT]

K = 0 trains the plain twin. Per held-out voice: clean window top-1; and at the threshold where
2 % of validation unknown-word windows score a command (max command posterior), the share of
command windows heard as their command, on validation and held-out windows, clean and noisy.
"""

from __future__ import annotations

import sys
from dataclasses import replace

import numpy as np
import torch
from _screen import emit, load, parse, shipped_student, train_and_report

from edge_asr.train import fit


def lifter_matrix(n_bins: int, keep: int) -> torch.Tensor:
    """(F, F) projection onto the first `keep` orthonormal DCT-II basis vectors across bins."""
    n = np.arange(n_bins)
    basis = np.cos(np.pi / n_bins * (n[None, :] + 0.5) * np.arange(n_bins)[:, None])
    basis[0] *= 1 / np.sqrt(2)
    basis *= np.sqrt(2 / n_bins)  # rows orthonormal
    kept = basis[:keep]
    return torch.from_numpy((kept.T @ kept).astype(np.float32))


def liftered(split: fit.Split, proj: torch.Tensor | None) -> fit.Split:
    return split if proj is None else replace(split, x=split.x @ proj)


def main(argv: list[str]) -> int:
    args = parse(__doc__, argv, "keep", int, "DCT coefficients kept per frame (0: no liftering)")
    s, test, test_meta = load(args.cache, args.train_seed)
    proj = lifter_matrix(s.n_mels, args.keep) if args.keep else None
    splits = (liftered(s.train, proj), liftered(s.val, proj), liftered(test, proj))
    net = shipped_student(s, args.train_seed)
    row = {
        "keep": args.keep,
        **train_and_report(
            net, s, splits, test_meta, args.epochs, args.train_seed, f"lifter-{args.keep}"
        ),
    }
    return emit(row, args.json)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
