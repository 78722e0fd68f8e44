#!/usr/bin/env python3
"""Ablation behind build/results/ablation-more-voices.json (kept so its figures can be re-made; not
part of the product; measured, not adopted): the 1.5.0 recipe with six more training speakers from
two more TTS engines. The recipe's eleven training voices are six espeak-ng formant voices, four
flite voices and one Piper voice; the held-out engine (festival) and every human voice are other
speakers. Here MBROLA's four English diphone voices (us1 female, us2 and us3 male, en1 British
male; driven by espeak-ng) and SVOX Pico's two (en-US, en-GB; female) join training
(`tts.OPTIONAL_ENGINE_TYPES`), each with the styles and unknown words of a flite voice: 1,440 more
command clips and 2,700 more unknown-word clips, about a third more training data. Validation and
test clips and the validation and test streams are the recipe's own (those streams speak every
installed engine's voices, so the arm links the twin's and makes any missing with the recipe's
engines); the hard-negative mining stream speaks the training voices, the new ones too, and is the
arm's own. The student trains without distillation, as in the random-equalisation pairs whose plain
arms (training seeds 3 and 4) are its twins.

  OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 OPENBLAS_CORETYPE=Cooperlake \\
    .venv/bin/python build/experiments/more-voices.py data [CACHE]
      builds the training data on two worker processes (then run the arms)
  OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 OPENBLAS_CORETYPE=Cooperlake \\
    .venv/bin/python build/experiments/more-voices.py OUT_DIR [CACHE [TRAIN_SEED [TEACHER]]]
      the recipe from that data, into OUT_DIR (compare with build/compare-models)

Needs Debian's `mbrola`, `mbrola-us1`, `mbrola-us2`, `mbrola-us3`, `mbrola-en1` (contrib and
non-free) and `libttspico-utils` (non-free); it stops if any voice is missing. CACHE defaults to
~/.cache/edge-asr; the data is cached as speech-commands-20-more-voices. TEACHER is a cached
teacher checkpoint that fills the card's table instead of training one (see voice-share.py).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from _recipes import no_kd_arm
from _usage import arguments

from edge_asr.train import cli, tts

NAME = "speech-commands-20-more-voices"
TWIN = "speech-commands-20"


def add_engines() -> None:
    """Every optional engine into the factory's engine list, or stop naming what is missing."""
    for name, cls in tts.OPTIONAL_ENGINE_TYPES.items():
        found = cls().voices() if cls.available() else []
        if found != list(cls.KNOWN_VOICES):
            raise SystemExit(f"{name}: voices {list(cls.KNOWN_VOICES)} wanted, found {found}")
        tts.ENGINE_TYPES[name] = cls


@contextmanager
def recipe_engines() -> Iterator[None]:
    """The recipe's engines only, for a while."""
    added = {k: tts.ENGINE_TYPES.pop(k) for k in tts.OPTIONAL_ENGINE_TYPES if k in tts.ENGINE_TYPES}
    try:
        yield
    finally:
        tts.ENGINE_TYPES.update(added)


def twin_evaluation_streams(cache: Path) -> None:
    """Validation and test streams speak every installed engine's voices, so with these engines
    they would be other streams: evaluate on the twin's (linked, file by file; made with the
    recipe's engines where missing). The mining stream speaks the training voices, the new ones
    too, and is this arm's own."""
    own, twin = cache / "streams" / NAME, cache / "streams" / TWIN
    if own.is_symlink():
        sys.exit(f"{own} links a whole folder: remove it (the mining stream must be this arm's)")
    own.mkdir(parents=True, exist_ok=True)
    for path in [*twin.glob("val-*"), *twin.glob("test-*")]:
        if not (own / path.name).exists():
            (own / path.name).symlink_to(path)
    streams: Callable[..., Any] = cli._negative_streams

    def with_recipe_engines(*args: Any, **kwargs: Any) -> Any:
        with recipe_engines():
            return streams(*args, **kwargs)

    cli._negative_streams = with_recipe_engines  # type: ignore[assignment]


if __name__ == "__main__":
    args = arguments(__doc__, 1, 4)
    add_engines()
    if args[0] != "data":
        twin_evaluation_streams(
            Path(args[1]).expanduser() if len(args) > 1 else tts.DEFAULT_CACHE_DIR
        )
    raise SystemExit(no_kd_arm(NAME, "0.0.0-mv", args))
