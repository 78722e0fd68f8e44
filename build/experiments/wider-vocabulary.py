#!/usr/bin/env python3
"""Ablation behind build/results/ablation-wider-vocabulary.json (kept so its figures can be
re-made; not part of the product): the 1.5.0 recipe (build/model's) with twice as many unknown
words at the same number of unknown clips, the step after build/experiments/wide-vocabulary.py
(150 -> 450 words, adopted in 1.5.0). The first 150 words (near-misses, Speech Commands'
auxiliary words, common words: the ones validation and test speak) stay spoken by every
training voice; the other 750 (the rest of the factory's list, then wordfreq's most frequent
English words) are each spoken by 4 or 5 of the 11 training voices, where 1.5.0 has 300 spoken
by all 11: 4,950 training clips of unknown words either way. The student trains without
distillation, as in the random-equalisation pairs whose plain arms (training seeds 3 and 4) are
its twins. Validation and test clips and the negative streams are the recipe's own.

  OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 OPENBLAS_CORETYPE=Cooperlake \\
    .venv/bin/python build/experiments/wider-vocabulary.py data [CACHE]
      builds the training data on two worker processes (then run the arms)
  OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 OPENBLAS_CORETYPE=Cooperlake \\
    .venv/bin/python build/experiments/wider-vocabulary.py OUT_DIR [CACHE [TRAIN_SEED [TEACHER]]]
      the recipe from that data, into OUT_DIR (compare with build/compare-models)

Needs wordfreq 3.1.1 (`pip install wordfreq==3.1.1`; not a dependency of edge-asr): the words
after edge_asr/train/frequent_words.py's 188 are drawn from it at run time, in its order, less
abbreviations and profanity; vocab.unknown_words drops those that are or sound like a command.
CACHE defaults to ~/.cache/edge-asr; the data is cached as speech-commands-20-vocab900, the
streams are linked from speech-commands-20's. TEACHER is a cached teacher checkpoint that fills
the card's table instead of training one (see voice-share.py).
"""

from __future__ import annotations

from dataclasses import replace

from _recipes import no_kd_arm
from _usage import arguments

from edge_asr.train import dataset, vocab
from edge_asr.train.frequent_words import FREQUENT_WORDS
from edge_asr.train.windows import UNKNOWN

N_WORDS = 900
NAME = f"speech-commands-20-vocab{N_WORDS}"
# abbreviations espeak-ng spells out, and profanity
SKIP = {"ii", "al", "co", "de", "dr", "etc", "la", "lol", "mr", "non", "re", "st", "tv", "uk", "vs"}
SKIP |= {"damn", "fuck", "fucking", "hell", "sex"}


def extend_frequent_words() -> None:
    """frequent_words.py's list, then wordfreq's next most frequent words, in its order."""
    import wordfreq

    top = [w for w in wordfreq.top_n_list("en", 5000) if w.isascii() and w.isalpha()]
    more = [w for w in top[top.index(FREQUENT_WORDS[-1]) + 1 :] if len(w) > 1 and w not in SKIP]
    vocab.FREQUENT_WORDS = FREQUENT_WORDS + tuple(more)  # type: ignore[attr-defined]


def thin_the_tail() -> None:
    """Training words after the first eval_unknown: each spoken by 4 or 5 training voices."""
    plan_rows = dataset.plan_rows

    def thinned(commands, unknowns, preset, voice_plan, holdout_engine, seed):  # type: ignore[no-untyped-def]
        rows = plan_rows(commands, unknowns, preset, voice_plan, holdout_engine, seed)
        rank = {w: i for i, w in enumerate(unknowns)}
        voices = voice_plan["train"]
        keep = []
        for row in rows:
            i = rank.get(row.text, -1) if row.label == UNKNOWN else -1
            if row.split == "train" and i >= preset.eval_unknown:
                v = voices.index(f"{row.voice.engine}:{row.voice.voice}")
                if (v - i) % len(voices) >= 4 + i % 2:
                    continue
            keep.append(row)
        return keep

    dataset.plan_rows = thinned


if __name__ == "__main__":
    args = arguments(__doc__, 1, 4)
    dataset.SIZES["full"] = replace(dataset.SIZES["full"], n_unknown=N_WORDS)
    extend_frequent_words()
    thin_the_tail()
    raise SystemExit(no_kd_arm(NAME, f"0.0.0-w{N_WORDS}", args))
