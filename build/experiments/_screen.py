"""The window screens' shared part (lifter.py, bc-resnet.py; they run as files, so this sits
beside them): train one student without distillation on the 1.5.0 recipe's cached windows and
report window figures only (no streaming, no hard negatives).

Per held-out voice: clean window top-1; and at the threshold where 2 % of validation
unknown-word windows score a command (max command posterior), the share of command windows
heard as their command, on validation and held-out windows, clean and noisy.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import time
from collections.abc import Callable
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


def parse(
    doc: str | None, argv: list[str], arm: str, arm_type: Callable[[str], Any], arm_help: str
) -> argparse.Namespace:
    """A screen's arguments: the arm (`arm`), then the options every screen takes."""
    ap = argparse.ArgumentParser(
        description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(arm, type=arm_type, help=arm_help)
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--train-seed", type=int, default=3)
    ap.add_argument("--cache", type=Path, default=DEFAULT_CACHE_DIR)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    return args


def emit(row: dict[str, Any], out: Path | None) -> int:
    """Print a screen's result, and write it to `out` if given."""
    text = json.dumps(row, indent=1)
    print(text)
    if out:
        out.write_text(text + "\n")
    return 0


def load(cache: Path, train_seed: int) -> tuple[Any, fit.Split, dict[str, Any]]:
    """The recipe's set-up (train and validation windows, labels, student settings) and the
    held-out test windows with each one's voice."""
    torch.set_num_threads(1)
    dataset = cache / "datasets" / NAME
    s = recipe._setup(dataset, PRESET, train_seed, None, None)
    test = fit.load_split(dataset, "test")
    with np.load(dataset / "test.npz", allow_pickle=False) as meta_npz:
        test_meta = {"voice": meta_npz["voice"]}
    return s, test, test_meta


def shipped_student(s: Any, train_seed: int) -> nets.Student:
    """The recipe's DS-CNN student, built right after seeding with the training seed (so a
    screen's plain arm is the same network in every screen)."""
    fit.set_seed(train_seed)
    return nets.Student(len(s.labels), s.n_mels, **s.preset.student_kwargs)


def train_and_report(
    net: torch.nn.Module,
    s: Any,
    splits: tuple[fit.Split, fit.Split, fit.Split],
    test_meta: dict[str, Any],
    epochs: int,
    train_seed: int,
    name: str,
) -> dict[str, Any]:
    """Train `net` (built after fit.set_seed) as the recipe trains the student without
    distillation, `epochs` epochs, and report it on validation and held-out windows."""
    train, val, test = splits
    cfg = replace(s.student_cfg("no_kd"), epochs=epochs)
    net.norm.set_stats(train.x)
    started = time.perf_counter()
    res = fit.fit(net, train, val, cfg, name=name, progress=False)
    return {
        "epochs": epochs,
        "train_seed": train_seed,
        "best_epoch": res.best_epoch,
        "minutes": round((time.perf_counter() - started) / 60, 1),
        **report(net.eval(), val, test, test_meta, s.labels),
    }


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
        if not m.any():  # silence and background windows are named by their noise
            continue
        per_voice[str(v)] = {
            "n": int(m.sum()),
            "top1_clean": round(float((pt[m].argmax(1) == yt[m]).mean()), 4),
            "heard_clean": round(float(_heard(pt[m], yt[m], commands, thr).mean()), 4),
        }
    out["test_voices"] = per_voice
    return out
