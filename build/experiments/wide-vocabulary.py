#!/usr/bin/env python3
"""Ablation (kept so its figures can be re-made; not part of the product): build/model's recipe
with a three times wider vocabulary of unknown words at about the same number of clips.

  pip install wordfreq==3.1.1   # the word frequencies; only this experiment needs them
  OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 OPENBLAS_CORETYPE=Cooperlake \\
    .venv/bin/python build/experiments/wide-vocabulary.py OUT_DIR [CACHE [TRAIN_SEED]]

The full preset's 150 unknown words (near-misses, Speech Commands' auxiliary words, common
words) are each spoken by 25 training styles. Here those 150, the rest of the factory's
vocabulary (262 words in all) and then the most frequent other English words (wordfreq's top
list, letters only, homophones of a command dropped by the factory's own rule) make 450 in the
training split, each spoken by 11 styles (one of every training voice): 4950 unknown clips
instead of 3750. Everything else is build/model's: the same voices, augmentation,
seeds, stages, and the very same negative streams (their sentences do not depend on the unknown
words; they are linked from CACHE/streams/speech-commands-20) and the very same validation and
test clips (their unknown words stay the factory's 150), so epochs are picked, the threshold
calibrated and every figure measured exactly as for 1.4.0. Compare with build/compare-models
and build/experiments/det-compare.py.

CACHE defaults to ~/.cache/edge-asr-cl (the 1.4.0 build's); TRAIN_SEED (edge-asr train
--train-seed) draws other networks from the same data. Data, stages and the model are cached
under the model name speech-commands-20-wide.
"""

from __future__ import annotations

import re
import sys
from dataclasses import replace
from pathlib import Path

from _usage import arguments

from edge_asr.train import dataset, vocab
from edge_asr.train.cli import main

COMMANDS = ", ".join(vocab.DEFAULT_COMMANDS)
NAME = "speech-commands-20-wide"
WORDS = 450
NARROW = dataset.SIZES["full"].n_unknown  # 150: the factory's own unknown words
_narrow = vocab.unknown_words


def train_only(plan_rows):
    """plan_rows with the validation and test splits' unknown words cut back to the factory's
    own: those splits, their windows and noise draws stay exactly 1.4.0's, so model selection,
    calibration and every held-out figure are measured on the same clips."""

    def rows(commands, unknowns, *args, **kwargs):
        narrow = set(_narrow(commands, NARROW, 0))
        return [
            r
            for r in plan_rows(commands, unknowns, *args, **kwargs)
            if r.split == "train" or r.label != dataset.UNKNOWN or r.text in narrow
        ]

    return rows


def wide_unknown_words(
    commands: list[str], n: int = 150, seed: int = 0, extra: tuple[str, ...] = ()
) -> list[str]:
    """The factory's unknown words in its order, then the most frequent other English words."""
    from wordfreq import top_n_list

    words = _narrow(commands, 10_000, seed, extra)  # every word the factory has, in its order
    common = [w for w in top_n_list("en", 5000) if re.fullmatch(r"[a-z]{2,}", w)]
    cmd_words = {w for c in commands for w in vocab.normalise(c).split()}
    more = [w for w in common if w not in words and w not in cmd_words]
    bad = vocab.forbidden_words([vocab.normalise(c) for c in commands], more)
    words += [w for w in more if w not in bad][: max(0, n - len(words))]
    return words[:n]


if __name__ == "__main__":
    args = arguments(__doc__, 1, 3)
    out = args[0]
    cache = Path(args[1] if len(args) > 1 else Path.home() / ".cache/edge-asr-cl")
    streams = cache / "streams" / NAME
    if not streams.exists():
        streams.parent.mkdir(parents=True, exist_ok=True)
        streams.symlink_to(cache / "streams" / "speech-commands-20")
    vocab.unknown_words = wide_unknown_words  # dataset.build_dataset looks it up at call time
    dataset.plan_rows = train_only(dataset.plan_rows)
    dataset.SIZES["full"] = replace(
        dataset.SIZES["full"], n_unknown=WORDS, espeak_unknown_styles=1, piper_unknown_styles=1
    )
    argv = ["--commands", COMMANDS, "--out", out, "--name", NAME, "--version", "0.0.0"]
    argv += ["--size", "full", "--seed", "0", "--cache", str(cache)]
    if len(args) > 2:
        argv += ["--train-seed", args[2]]
    print("edge-asr train", *argv, file=sys.stderr)
    raise SystemExit(main("train", argv))
