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
window figures only (no streaming, no hard negatives):

  OMP_NUM_THREADS=1 OPENBLAS_CORETYPE=Cooperlake .venv/bin/python build/experiments/lifter.py \\
      K [--epochs N] [--train-seed S] [--cache DIR] [--json OUT]

K = 0 trains the plain twin. Per held-out voice: clean window top-1; and at the threshold where
2 % of validation unknown-word windows score a command (max command posterior), the share of
command windows heard as their command, on validation and held-out windows, clean and noisy.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from edge_asr.train import fit, nets, recipe
from edge_asr.train.tts import DEFAULT_CACHE_DIR

NAME = "speech-commands-20"
PRESET = "long"  # edge-asr train --size full
UNKNOWN_ACCEPTED = 0.02


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


def _posteriors(net: torch.nn.Module, split: fit.Split) -> np.ndarray:
    with torch.no_grad():
        return torch.softmax(fit.predict_logits(net, split.x), dim=1).numpy()


def _heard(prob: np.ndarray, y: np.ndarray, commands: np.ndarray, thr: float) -> np.ndarray:
    """Per window: its command is the top class and scores >= thr."""
    top = prob.argmax(1)
    return (top == y) & (prob[np.arange(len(y)), top] >= thr) & np.isin(y, commands)


def report(
    net: torch.nn.Module, val: fit.Split, test: fit.Split, test_meta: Any, labels: list[str]
) -> dict[str, Any]:
    commands = np.array([i for i, lab in enumerate(labels) if not lab.startswith("_")])
    unknown = labels.index("_unknown_")
    pv, pt = _posteriors(net, val), _posteriors(net, test)
    yv, yt = val.y.numpy(), test.y.numpy()
    score_v = pv[:, commands].max(1)
    thr = float(np.quantile(score_v[yv == unknown], 1 - UNKNOWN_ACCEPTED))
    out: dict[str, Any] = {"threshold": round(thr, 4)}
    for name, p, y, snr in (("val", pv, yv, val.snr_db), ("test", pt, yt, test.snr_db)):
        is_cmd = np.isin(y, commands)
        heard = _heard(p, y, commands, thr)
        clean = np.isnan(snr)
        out[name] = {
            "top1": round(float((p.argmax(1) == y).mean()), 4),
            "heard_clean": round(float(heard[is_cmd & clean].mean()), 4),
            "heard_noisy": round(float(heard[is_cmd & ~clean].mean()), 4),
            "unknown_accepted": round(
                float((p[y == unknown][:, commands].max(1) >= thr).mean()), 4
            ),
        }
    voices = np.array([re.sub(r"_r[0-9.]+p[0-9.]+$", "", str(v)) for v in test_meta["voice"]])
    per_voice = {}
    for v in sorted(set(voices)):
        m = (voices == v) & np.isnan(test.snr_db) & np.isin(yt, commands)
        per_voice[str(v)] = {
            "n": int(m.sum()),
            "top1_clean": round(float((pt[m].argmax(1) == yt[m]).mean()), 4),
            "heard_clean": round(float(_heard(pt[m], yt[m], commands, thr).mean()), 4),
        }
    out["test_voices"] = per_voice
    return out


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("keep", type=int, help="DCT coefficients kept per frame (0: no liftering)")
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--train-seed", type=int, default=3)
    ap.add_argument("--cache", type=Path, default=DEFAULT_CACHE_DIR)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.set_num_threads(1)
    dataset = args.cache / "datasets" / NAME
    s = recipe._setup(dataset, PRESET, args.train_seed, None, None)
    proj = lifter_matrix(s.n_mels, args.keep) if args.keep else None
    train, val = liftered(s.train, proj), liftered(s.val, proj)
    test = liftered(fit.load_split(dataset, "test"), proj)
    with np.load(dataset / "test.npz", allow_pickle=False) as meta_npz:
        test_meta = {"voice": meta_npz["voice"]}
    cfg = replace(s.student_cfg("no_kd"), epochs=args.epochs)
    fit.set_seed(args.train_seed)
    net = nets.Student(len(s.labels), s.n_mels, **s.preset.student_kwargs)
    net.norm.set_stats(train.x)
    started = time.perf_counter()
    res = fit.fit(net, train, val, cfg, name=f"lifter-{args.keep}", progress=False)
    row = {
        "keep": args.keep,
        "epochs": args.epochs,
        "train_seed": args.train_seed,
        "best_epoch": res.best_epoch,
        "minutes": round((time.perf_counter() - started) / 60, 1),
        **report(net.eval(), val, test, test_meta, s.labels),
    }
    text = json.dumps(row, indent=1)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
