#!/usr/bin/env python3
"""Ablation behind build/results/ablation-random-eq.json (kept so its figures can be re-made; not
part of the product): the 1.5.0 recipe (build/model's) with random equalisation of the
students' training windows (fit.TrainConfig.eq_db: a smooth random gain curve of at most E dB
across the mel bands, fresh every batch), for the student without distillation and the
hard-negative fine-tune. Its twin is the recipe itself with the same --train-seed; the teacher,
the dataset and the streams are the twin's and come from the cache.

  OMP_NUM_THREADS=1 OPENBLAS_CORETYPE=Cooperlake .venv/bin/python build/experiments/random-eq.py \\
      --eq E --screen [--train-seed N] [--cache DIR]
      trains only the student without distillation (into the run cache, where a later full run
      finds it) and prints its window top-1 on validation and held-out windows beside the
      recipe's own student without distillation, when that is in the cache
  OMP_NUM_THREADS=1 OPENBLAS_CORETYPE=Cooperlake .venv/bin/python build/experiments/random-eq.py \\
      --eq E OUT_DIR [edge-asr train options, e.g. --train-seed N --cache DIR]
      the whole recipe from there, with the student without distillation as the only student
      (every build so far has passed over the distilled one on validation): mining, INT8,
      calibration and the streaming evaluation, into OUT_DIR (compare with build/compare-models)

--eq 0 is the recipe itself (without its distilled student). --teacher-seed N takes the teacher
of training seed N from the cache instead of training one (it teaches nobody here, it fills the
card's table), so a pair of runs for another training seed costs two students, not a teacher.
"""

from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from _recipes import no_kd
from vtlp import screen_student

from edge_asr.train import recipe, vocab
from edge_asr.train.cli import main
from edge_asr.train.tts import DEFAULT_CACHE_DIR

COMMANDS = ", ".join(vocab.DEFAULT_COMMANDS)
NAME = "speech-commands-20"
PRESET = "long"  # edge-asr train --size full


def teacher_of(seed: int, cache: Path) -> None:
    """Every setup keys its teacher as training seed `seed`'s, which must be in the cache (so no
    teacher is ever trained under another seed's key)."""
    setup = recipe._setup

    def seeded(dataset: Path, preset: str, own: int, *rest: Any) -> recipe._Setup:
        t_key = setup(dataset, preset, seed, *rest).t_key
        if not (cache / "runs" / NAME / f"{t_key}.pt").is_file():
            raise SystemExit(f"--teacher-seed {seed}: {t_key}.pt is not in {cache}/runs/{NAME}")
        return replace(setup(dataset, preset, own, *rest), t_key=t_key)

    recipe._setup = seeded


def set_eq(eq_db: float) -> None:
    p = recipe.PRESETS[PRESET]
    recipe.PRESETS[PRESET] = replace(
        p, student=replace(p.student, eq_db=eq_db), mine_tune=replace(p.mine_tune, eq_db=eq_db)
    )


def screen(cache: Path, eq_db: float, seed: int) -> int:
    return screen_student(cache, seed, f"eq {eq_db:g} dB", lambda: set_eq(eq_db))


if __name__ == "__main__":
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--eq", type=float, required=True, help="largest gain either way, dB")
    ap.add_argument("--screen", action="store_true")
    ap.add_argument("--teacher-seed", type=int, help="reuse this training seed's cached teacher")
    args, rest = ap.parse_known_args()
    if args.screen:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
        more = argparse.ArgumentParser(add_help=False)
        more.add_argument("--cache", type=Path, default=DEFAULT_CACHE_DIR)
        more.add_argument("--train-seed", type=int, default=0)
        known = more.parse_known_args(rest)[0]
        raise SystemExit(screen(known.cache, args.eq, known.train_seed))
    set_eq(args.eq)
    no_kd()
    if args.teacher_seed is not None:
        more = argparse.ArgumentParser(add_help=False)
        more.add_argument("--cache", type=Path, default=DEFAULT_CACHE_DIR)
        teacher_of(args.teacher_seed, more.parse_known_args(rest)[0].cache)
    if not rest or rest[0].startswith("-"):
        ap.error("OUT_DIR is needed before the edge-asr train options (or --screen)")
    out, rest = rest[0], rest[1:]
    argv = ["--commands", COMMANDS, "--out", out, "--name", NAME]
    argv += ["--version", f"0.0.0-eq{args.eq:g}", "--size", "full", "--seed", "0", *rest]
    sys.exit(main("train", argv))
