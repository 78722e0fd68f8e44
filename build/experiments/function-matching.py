#!/usr/bin/env python3
"""Ablation behind build/results/ablation-function-matching.json (kept so its figures can be
re-made; not part of the product): 1.4.0's recipe (build/model's until 1.5.0) with the distilled
student taught on the teacher's outputs for each batch as the student sees it (SpecAugment masks
applied), computed during training, instead of the teacher's outputs on the clean windows
computed once ("a good teacher is patient and consistent", Beyer et al. 2022). Everything else
is 1.4.0's: the teacher, the student without distillation, the streams and the dataset come from
its build's caches (`build/experiments/wide-vocabulary.py narrow` makes them, or they are built
here), the KD student and what follows it are new. Run it with the OPENBLAS_CORETYPE that build
ran with (build/model sets Cooperlake where unset), so the stages it makes are computed as the
ones it is compared against.

  OMP_NUM_THREADS=1 .venv/bin/python build/experiments/function-matching.py OUT_DIR \\
      [--mixup ALPHA] [edge-asr train options]

--mixup gives the KD student mixup (Beta(ALPHA, ALPHA)) as well, so the teacher is also asked
about blends of two windows, which no stored logit covers.
"""

from __future__ import annotations

from dataclasses import asdict, replace
from typing import Any

from _recipes import pin_1_4_0
from _usage import arguments

from edge_asr.train import fit, recipe, vocab
from edge_asr.train.cli import main

COMMANDS = ", ".join(vocab.DEFAULT_COMMANDS)
_key = recipe._Setup.student_key
_run = recipe._Setup.run_student
_cfg = recipe._Setup.student_cfg
MIXUP = 0.0


def student_cfg(self: recipe._Setup, kind: str) -> fit.TrainConfig:
    cfg = _cfg(self, kind)
    return replace(cfg, mixup_alpha=MIXUP) if kind == "kd" and MIXUP > 0 else cfg


def student_key(self: recipe._Setup, kind: str) -> str:
    key = _key(self, kind)
    return key.replace("student-kd-", "student-kd-online-") if kind == "kd" else key


def run_student(
    self: recipe._Setup, kind: str, teacher_ck: dict[str, Any] | None, progress: bool
) -> dict[str, Any]:
    if kind != "kd" or teacher_ck is None:
        return _run(self, kind, teacher_ck, progress)
    teacher = self.new_teacher()
    teacher.load_state_dict(teacher_ck["state"])
    cfg = self.student_cfg(kind)
    net = self.new_student()
    res = fit.fit(
        net, self.train, self.val, cfg, name="student-kd-online", teacher=teacher, progress=progress
    )
    return {"state": net.state_dict(), "result": asdict(res), "epochs": cfg.epochs}


if __name__ == "__main__":
    pin_1_4_0()
    recipe._Setup.student_key = student_key  # type: ignore[method-assign]
    recipe._Setup.run_student = run_student  # type: ignore[method-assign]
    recipe._Setup.student_cfg = student_cfg  # type: ignore[method-assign]
    out, *rest = arguments(__doc__, 1)
    if rest[:1] == ["--mixup"]:
        MIXUP, rest = float(rest[1]), rest[2:]
    argv = ["--commands", COMMANDS, "--out", out, "--name", "speech-commands-20"]
    argv += ["--version", "0.0.0-fm", "--size", "full", "--seed", "0", *rest]
    raise SystemExit(main("train", argv))
