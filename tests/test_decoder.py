"""The decoder: thresholds, smoothing, one detection per utterance, refractory period."""

import numpy as np
import pytest

from edge_asr.decoder import Decoder

LABELS = ["_silence_", "_unknown_", "yes", "no"]


def post(**scores: float) -> np.ndarray:
    vec = np.array([scores.get(label.strip("_"), 0.0) for label in LABELS], np.float32)
    vec[0] += 1.0 - vec.sum()
    return vec


def test_fires_once_per_utterance_at_threshold() -> None:
    dec = Decoder(LABELS, {}, 0.7, smoothing_steps=1, refractory_s=0.0)
    fired = [dec.update(post(yes=s), t * 0.1, 0.0) for t, s in enumerate([0.2, 0.75, 0.9, 0.8])]
    hits = [d for d in fired if d]
    assert [(d.command, round(d.score, 2), d.end_s) for d in hits] == [("yes", 0.75, 0.1)]
    # Once the score drops below threshold the same command may fire again.
    assert dec.update(post(yes=0.1), 0.5, 0.0) is None
    again = dec.update(post(yes=0.95), 0.6, 0.0)
    assert again is not None and again.command == "yes"


def test_internal_labels_are_never_reported() -> None:
    dec = Decoder(LABELS, {}, 0.5, smoothing_steps=1)
    assert dec.update(post(unknown=0.99), 0.0, 0.0) is None
    assert dec.update(post(), 0.1, 0.0) is None  # all silence


def test_per_command_thresholds() -> None:
    dec = Decoder(LABELS, {"no": 0.95}, 0.5, smoothing_steps=1)
    assert dec.update(post(no=0.9), 0.0, 0.0) is None
    dec.set_threshold("no", 0.85)
    hit = dec.update(post(no=0.9), 0.1, 0.0)
    assert hit is not None and hit.command == "no"
    assert dec.thresholds() == {"yes": 0.5, "no": pytest.approx(0.85)}
    with pytest.raises(ValueError, match="unknown command"):
        dec.set_threshold("_silence_", 0.5)
    with pytest.raises(ValueError, match=r"\(0, 1\]"):
        dec.set_threshold("yes", 1.5)
    dec.set_threshold("yes", 1e-320)  # in range, but 0.0 once stored as float32
    assert 0.0 < dec.thresholds()["yes"] < 1e-40


def test_smoothing_ignores_a_single_spike() -> None:
    dec = Decoder(LABELS, {}, 0.7, smoothing_steps=3, refractory_s=0.0)
    assert dec.update(post(yes=0.99), 0.0, 0.0) is not None  # first step: mean of one
    dec.reset()
    dec.update(post(), 0.0, 0.0)
    dec.update(post(), 0.1, 0.0)
    assert dec.update(post(yes=0.99), 0.2, 0.0) is None  # (0 + 0 + .99) / 3


def test_refractory_period_blocks_other_commands() -> None:
    dec = Decoder(LABELS, {}, 0.6, smoothing_steps=1, refractory_s=1.0)
    assert dec.update(post(yes=0.9), 0.0, 0.0) is not None
    assert dec.update(post(no=0.9), 0.5, 0.0) is None
    hit = dec.update(post(no=0.9), 1.1, 0.0)
    assert hit is not None and hit.command == "no"
