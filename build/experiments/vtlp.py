#!/usr/bin/env python3
"""Ablation behind build/results/ablation-vtlp.json (kept so its figures can be re-made; not
part of the product): 1.4.0's recipe (build/model's until 1.5.0) with vocal tract length
perturbation on the students' training windows (fit.TrainConfig.warp: each window's spectrum
stretched by a factor drawn from [1 - W, 1 + W], fresh every batch), for both students and the
hard-negative fine-tune. The teacher, the dataset and the streams are the 1.4.0 build's and come
from its caches (`build/experiments/wide-vocabulary.py narrow` makes them, with the same
OPENBLAS_CORETYPE, Cooperlake where build/model sets it).

  OMP_NUM_THREADS=1 OPENBLAS_CORETYPE=Cooperlake .venv/bin/python build/experiments/vtlp.py \\
      --warp W --screen [--cache DIR]
      trains only the student without distillation (into the run cache, where a later full run
      finds it) and prints its window top-1 on validation and held-out windows beside the
      recipe's own student without distillation, when that is in the cache
  OMP_NUM_THREADS=1 OPENBLAS_CORETYPE=Cooperlake .venv/bin/python build/experiments/vtlp.py \\
      --warp W OUT_DIR [edge-asr train options, e.g. --cache DIR]
      the whole recipe from there: the KD student, the choice, mining, INT8, calibration and
      the streaming evaluation, into OUT_DIR (compare with build/compare-models)

--warp 0 is the recipe itself. --no-kd skips the distilled student (its stage is the student
without distillation, so that one is "chosen"), which every build so far has passed over on
validation: a pair of runs with --no-kd --train-seed N, warp 0 and W, costs half as much.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from _recipes import pin_1_4_0

from edge_asr.train import fit, recipe, vocab
from edge_asr.train.cli import main
from edge_asr.train.tts import DEFAULT_CACHE_DIR

COMMANDS = ", ".join(vocab.DEFAULT_COMMANDS)
NAME = "speech-commands-20"
PRESET = "long"  # edge-asr train --size full


def no_kd() -> None:
    key, cfg, setup = recipe._Setup.student_key, recipe._Setup.student_cfg, recipe._setup

    def seed0_teacher(dataset: Path, preset: str, seed: int, *rest: Any) -> recipe._Setup:
        # the teacher teaches nobody here: the seed-0 one from the cache fills its table row
        return replace(
            setup(dataset, preset, seed, *rest), t_key=setup(dataset, preset, 0, *rest).t_key
        )

    recipe._setup = seed0_teacher
    recipe._Setup.student_key = lambda self, kind: key(self, "no_kd")  # type: ignore[method-assign]
    recipe._Setup.student_cfg = lambda self, kind: cfg(self, "no_kd")  # type: ignore[method-assign]


def set_warp(warp: float) -> None:
    p = recipe.PRESETS[PRESET]
    recipe.PRESETS[PRESET] = replace(
        p, student=replace(p.student, warp=warp), mine_tune=replace(p.mine_tune, warp=warp)
    )


def _windows(s: recipe._Setup, test: fit.Split, runs: Path, key: str) -> dict[str, Any] | None:
    path = runs / f"{key}.pt"
    if not path.is_file():
        return None
    net = s.new_student()
    ck = torch.load(path, weights_only=False)
    net.load_state_dict(ck["state"])
    out = {"stage": key, "best_epoch": ck["result"]["best_epoch"]}
    for split, data in (("val", s.val), ("test", test)):
        report = fit.evaluate(net, data)
        out[f"{split}_top1"] = round(report["top1"], 4)
        out[f"{split}_balanced"] = round(report["balanced"], 4)
        out[f"{split}_clean"] = round(report["by_snr_db"]["clean"]["top1"], 4)
    return out


def screen_student(cache: Path, seed: int, label: str, change: Callable[[], None]) -> int:
    """Train the student without distillation with `change` applied to the recipe (one that
    alters no network) and print its window top-1 beside the recipe's own, when cached."""
    dataset = cache / "datasets" / NAME
    runs = cache / "runs" / NAME
    s = recipe._setup(dataset, PRESET, seed, None, None)  # the recipe's, before the change
    test = fit.load_split(dataset, "test")
    base = s.student_key("no_kd")
    change()
    key = recipe.prefit_student(dataset, PRESET, seed, 1, runs, None, None)
    rows = {"recipe": _windows(s, test, runs, base), label: _windows(s, test, runs, key)}
    print(json.dumps(rows, indent=1))
    return 0


def screen(cache: Path, warp: float) -> int:
    return screen_student(cache, 0, f"warp {warp:g}", lambda: set_warp(warp))


if __name__ == "__main__":
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--warp", type=float, required=True)
    ap.add_argument("--screen", action="store_true")
    ap.add_argument("--no-kd", action="store_true")
    args, rest = ap.parse_known_args()
    pin_1_4_0()
    if args.screen:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
        cache_args = argparse.ArgumentParser(add_help=False)
        cache_args.add_argument("--cache", type=Path, default=DEFAULT_CACHE_DIR)
        raise SystemExit(screen(cache_args.parse_known_args(rest)[0].cache, args.warp))
    set_warp(args.warp)
    if args.no_kd:
        no_kd()
    if not rest or rest[0].startswith("-"):
        ap.error("OUT_DIR is needed before the edge-asr train options (or --screen)")
    out, rest = rest[0], rest[1:]
    argv = ["--commands", COMMANDS, "--out", out, "--name", NAME]
    version = f"0.0.0-vtlp{args.warp:g}" + ("-nokd" if args.no_kd else "")
    argv += ["--version", version, "--size", "full", "--seed", "0", *rest]
    sys.exit(main("train", argv))
