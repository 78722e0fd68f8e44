#!/usr/bin/env python3
"""Ablation behind build/results/ablation-voice-share.json (kept so its figures can be re-made;
not part of the product): the 1.5.0 recipe (build/model's) with voice conversion on another
share of the training copies (dataset.SizePreset.p_voice, 0.5 in the recipe since 1.2.0), the
student without distillation as the only student, as in the random-equalisation pairs whose
plain arms (training seeds 3 and 4) are its twins. Validation and test clips and the negative
streams are the recipe's own: the share changes only the training split.

  OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 OPENBLAS_CORETYPE=Cooperlake \\
    .venv/bin/python build/experiments/voice-share.py P data [CACHE]
      builds the training data with share P on two worker processes (then run the arms)
  OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 OPENBLAS_CORETYPE=Cooperlake \\
    .venv/bin/python build/experiments/voice-share.py P OUT_DIR [CACHE [TRAIN_SEED [TEACHER]]]
      the recipe from that data, into OUT_DIR (compare with build/compare-models)

CACHE defaults to ~/.cache/edge-asr; the data is cached as speech-commands-20-voiceN (N: the share
in per cent), the streams are linked from speech-commands-20's. TEACHER is a cached teacher
checkpoint (teacher-*.pt) that fills the card's table instead of training one: it teaches nobody
here.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

from _recipes import no_kd
from _usage import arguments

from edge_asr.train import dataset, recipe, vocab
from edge_asr.train.cli import main

COMMANDS = ", ".join(vocab.DEFAULT_COMMANDS)


def use_teacher(path: Path, runs: Path) -> None:
    """Key every setup's teacher as `path`, linked into this arm's run cache."""
    runs.mkdir(parents=True, exist_ok=True)
    link = runs / path.name
    if not link.exists():
        link.symlink_to(path.resolve())
    setup = recipe._setup

    def keyed(*args: object) -> recipe._Setup:
        return replace(setup(*args), t_key=path.stem)  # type: ignore[arg-type]

    recipe._setup = keyed  # type: ignore[assignment]


if __name__ == "__main__":
    args = arguments(__doc__, 2, 5)
    share, out = float(args[0]), args[1]
    cache = Path(args[2]).expanduser() if len(args) > 2 else Path.home() / ".cache/edge-asr"
    name = f"speech-commands-20-voice{round(100 * share)}"
    dataset.SIZES["full"] = replace(dataset.SIZES["full"], p_voice=share)
    streams = cache / "streams" / name
    if not streams.exists():
        streams.parent.mkdir(parents=True, exist_ok=True)
        streams.symlink_to(cache / "streams" / "speech-commands-20")
    if out == "data":
        info = dataset.build_dataset(
            list(vocab.DEFAULT_COMMANDS),
            cache / "datasets" / name,
            seed=0,
            size="full",
            cache_dir=cache,
            workers=2,
        )
        print(info.counts["train"]["total"], "training windows in", round(info.seconds), "s")
        raise SystemExit(0)
    no_kd()
    if len(args) > 4:
        use_teacher(Path(args[4]).expanduser(), cache / "runs" / name)
    argv = ["--commands", COMMANDS, "--out", out, "--name", name, "--version", f"0.0.0-v{share:g}"]
    argv += ["--size", "full", "--seed", "0", "--cache", str(cache), "--jobs", "1"]
    if len(args) > 3:
        argv += ["--train-seed", args[3]]
    print("edge-asr train", *argv, file=sys.stderr)
    raise SystemExit(main("train", argv))
