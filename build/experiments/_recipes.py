"""Earlier recipes of the default model, for the experiments that were measured on them (they run
as files, so this sits beside them)."""

from __future__ import annotations

from dataclasses import replace

from edge_asr.train import dataset


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
