"""Earlier recipes of the default model, for the experiments that were measured on them (they run
as files, so this sits beside them)."""

from __future__ import annotations

from dataclasses import replace

from edge_asr.train import dataset, recipe


def pin_1_4_0() -> None:
    """Make the full data preset the one 1.3.0 and 1.4.0 were built with (and every experiment
    before 1.5.0 was measured on): the factory's 150 unknown words, each spoken by three styles
    of every espeak-ng and Piper training voice, all of them in validation and test too. Its
    datasets hash as they did then, so their caches are found again."""
    dataset.SIZES["full"] = replace(
        dataset.SIZES["full"],
        n_unknown=150,
        espeak_unknown_styles=3,
        piper_unknown_styles=3,
        eval_unknown=0,
    )


def no_kd() -> None:
    """Both student stages become the student without distillation (so it is "chosen"); the
    teacher still trains, or comes from the twin's cache, for the card's table."""
    key, cfg = recipe._Setup.student_key, recipe._Setup.student_cfg
    recipe._Setup.student_key = lambda self, kind: key(self, "no_kd")  # type: ignore[method-assign]
    recipe._Setup.student_cfg = lambda self, kind: cfg(self, "no_kd")  # type: ignore[method-assign]
