#!/usr/bin/env python3
"""Arm behind build/results/probe-mined-teacher-kd.json (not part of the product): does the
student learn what the teacher learned from its own hard negatives when it is distilled from
that teacher?

teacher-capacity.py found the recipe's teacher, once fine-tuned on its false accepts in the
mining stream, 14-27 points ahead of the shipped student at equal false accepts; the recipe has
only ever distilled from the teacher before that step. This arm runs the whole 1.5.0 recipe
(`edge-asr train --size full`, training seed TRAIN_SEED) with two changes: the teacher is the
mined one (its logits on the training windows are the KD targets, cached as a teacher stage of
its own), and the student with distillation is the one mined and shipped (no student without
distillation is trained, so the val pick cannot choose it). The model folder it writes is
calibrated and evaluated by the factory as any other; compare it with det-compare.py against
build/results/candidate-1.5.0-train-seed-3 (same recipe and seed, no distillation):

  OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 PYTHONPATH=. .venv/bin/python \\
      build/experiments/mined-teacher-kd.py OUT_DIR [TRAIN_SEED [CACHE]] [--kd-negatives]

--kd-negatives: the student's own mining stage distils too (alpha and temperature as the
student's): its hard negatives get the mined teacher's logits on them as soft targets beside
the `_unknown_` label, the training windows the same targets as before.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import _recipes
import torch
from _screen import NAME, load
from _teacher import fine_tune_on_hard_negatives, teacher

from edge_asr.train import fit, mining, recipe, vocab
from edge_asr.train.cli import main as cli
from edge_asr.train.tts import DEFAULT_CACHE_DIR


def kd_only() -> None:
    """Both student stages become the student with distillation (so it is the one mined)."""
    key, cfg = recipe._Setup.student_key, recipe._Setup.student_cfg
    recipe._Setup.student_key = lambda self, kind: key(self, "kd")  # type: ignore[method-assign]
    recipe._Setup.student_cfg = lambda self, kind: cfg(self, "kd")  # type: ignore[method-assign]


def kd_on_negatives(targets: Path, seed: int, cache: Path) -> None:
    """Make the recipe's student mining stage distil from the teacher stage at `targets` (its
    logits on the training windows, and the teacher's on each hard negative found)."""
    s, _, _ = load(cache, seed)
    ck = torch.load(targets, weights_only=False)
    teacher = s.new_teacher()
    teacher.load_state_dict(ck["state"])
    teacher.eval()
    long = recipe.PRESETS["long"]  # the stage's key changes with its config
    recipe.PRESETS["long"] = replace(long, mine_tune=replace(long.mine_tune, kd_alpha=s.alpha))
    recipes_fine_tune = mining.fine_tune

    def logits(hard: torch.Tensor) -> torch.Tensor:
        return torch.cat([ck["train_logits"], fit.predict_logits(teacher, hard)])

    def fine_tune(*args: Any, **kwargs: Any) -> dict[str, Any]:
        return recipes_fine_tune(*args, **kwargs, kd_targets=logits)

    mining.fine_tune = fine_tune  # type: ignore[assignment]


def mined_teacher_stage(seed: int, cache: Path) -> Path:
    """A teacher stage (state, result, epochs, train_logits) holding the mined teacher."""
    s, _, _ = load(cache, seed)
    runs = cache / "runs" / NAME
    ck, net = teacher(s, runs)
    tuned = fine_tune_on_hard_negatives(s, net, runs, cache)
    key = "teacher-minedkd-" + recipe._hash({"teacher": s.t_key, "state": tuned["result"]})

    def run() -> dict[str, Any]:
        net.load_state_dict(tuned["state"])
        net.eval()
        return {
            "state": net.state_dict(),
            "result": ck["result"],
            "epochs": ck["epochs"],
            "train_logits": fit.predict_logits(net, s.train.x),
            "hard_negatives": tuned["hard_negatives"],
        }

    recipe._stage(runs, key, run)
    return recipe._stage_path(runs, key)


def main(argv: list[str]) -> int:
    negatives = "--kd-negatives" in argv
    argv = [a for a in argv if a != "--kd-negatives"]
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0 if argv else 2
    out = argv[0]
    seed = int(argv[1]) if len(argv) > 1 else 3
    cache = Path(argv[2]).expanduser() if len(argv) > 2 else DEFAULT_CACHE_DIR
    path = mined_teacher_stage(seed, cache)
    kd_only()
    if negatives:
        kd_on_negatives(path, seed, cache)
    _recipes.use_teacher(path, cache / "runs" / NAME)
    commands = ", ".join(vocab.DEFAULT_COMMANDS)
    version = "0.0.0-mkdn" if negatives else "0.0.0-mkd"
    args = ["--commands", commands, "--out", out, "--name", NAME, "--version", version]
    args += ["--size", "full", "--seed", "0", "--cache", str(cache), "--jobs", "1"]
    args += ["--train-seed", str(seed)]
    print("edge-asr train", *args, file=sys.stderr)
    return cli("train", args)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
