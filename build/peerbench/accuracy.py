"""Accuracy of pocketsphinx keyword spotting vs edge-asr on identical held-out audio.

Both engines hear exactly the same samples: the held-out synthetic test clips, clean and mixed
with noise by edge_asr.train.evaluate.noisy, drawn the way clip_traces draws them (seed 0, clip
order, test-split music) but over (clean, 10, 0 dB) only, so the noise draws are not the model
card's 4-SNR ones; each clip followed by the same 0.5 s of silence; and the same first N
minutes of the negative stream. A command clip is correct
when the engine's first detection is its command; a non-command (_unknown_) clip is a false
accept when the engine detects anything. edge-asr's DET sweeps the decoder threshold by replay
(calibrate.THRESHOLDS); pocketsphinx's sweeps the kws threshold exponent of every word together
(re-decoding at each point, since kws detections cannot be replayed).
"""

from __future__ import annotations

import multiprocessing
import wave
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from edge_asr.audio import read_wav
from edge_asr.calibrate import THRESHOLDS
from edge_asr.model import is_internal, load_spec
from edge_asr.train.augment import load_music
from edge_asr.train.evaluate import Evaluator, heldout_clips, noisy

from . import common, sphinx

SNRS: tuple[float | None, ...] = (None, 10.0, 0.0)
Heard = list[tuple[str, float | None, np.ndarray]]

_HEARD: Heard = []  # shared with forked workers
_NEG = np.zeros(0, np.int16)


def snr_key(snr: float | None) -> str:
    return "clean" if snr is None else f"{snr:g}dB"


def heard_clips(
    dataset: Path,
    labels: Sequence[str],
    snrs: Sequence[float | None],
    seed: int,
    limit: int | None,
) -> Heard:
    """The audio clip_traces feeds (same RNG draws in the same order), minus _silence_ clips."""
    rng = np.random.default_rng(seed)
    music = load_music(2)
    out: Heard = []
    clips = heldout_clips(dataset, labels)
    if limit:  # plumbing runs: every label, `limit` clips each (changes the noise draws)
        clips = [c for c in clips if [x[1] for x in clips[: clips.index(c)]].count(c[1]) < limit]
    for path, label in clips:
        audio = read_wav(path, common.RATE)
        for snr in snrs:
            x = audio if snr is None else noisy(audio, snr, rng, music)
            if label != "_silence_":
                out.append((label, snr, x))
    return out


def negative_audio(minutes: float) -> np.ndarray:
    with wave.open(str(common.NEGATIVE), "rb") as w:
        return np.frombuffer(w.readframes(int(minutes * 60 * common.RATE)), "<i2").copy()


def score(rows: list[tuple[str, float | None, list[str]]]) -> dict[str, Any]:
    """rows: (label, snr, detected words in order) -> top-1 and unknown false accepts by SNR."""
    top1: dict[str, list[bool]] = {}
    unk: dict[str, list[bool]] = {}
    for label, snr, words in rows:
        key = snr_key(snr)
        if label == "_unknown_":
            unk.setdefault(key, []).append(bool(words))
        elif not is_internal(label):
            top1.setdefault(key, []).append(words[:1] == [label])
    return {
        "top1": {k: round(float(np.mean(v)), 4) for k, v in top1.items()},
        "clips": {k: len(v) for k, v in top1.items()},
        "unknown_false_accept_rate": {k: round(float(np.mean(v)), 4) for k, v in unk.items()},
        "unknown_clips": {k: len(v) for k, v in unk.items()},
    }


def edge_asr(model: Path, heard: Heard, neg: np.ndarray, backend: str) -> dict[str, Any]:
    spec = load_spec(model)
    ev = Evaluator(spec, backend)
    traces = [ev.trace(x, label, snr_db=snr) for label, snr, x in heard]
    neg_trace = ev.trace(neg, "_negative_")
    hours = neg.shape[0] / common.RATE / 3600

    def at(t: float) -> tuple[dict[str, Any], float]:
        rows = [(tr.label, tr.snr_db, [d.command for d in ev.detections(tr, t)]) for tr in traces]
        return score(rows), len(ev.detections(neg_trace, t)) / hours

    op, fa = at(spec.default_threshold)
    det = {"threshold": list(THRESHOLDS), "false_reject_rate": [], "false_accepts_per_hour": []}
    for t in THRESHOLDS:
        s, f = at(t)
        det["false_reject_rate"].append(round(1 - s["top1"]["clean"], 4))
        det["false_accepts_per_hour"].append(round(f, 3))
    return {
        "model": f"{spec.name} {spec.version}",
        "backend": backend,
        "threshold": spec.default_threshold,
        **op,
        "false_accepts_per_hour": round(fa, 3),
        "det": det,
    }


def _sphinx_job(job: tuple[float, str, float | None]) -> tuple[float, str, float | None, Any]:
    offset, what, snr = job
    spotter = sphinx.Spotter(list(_COMMANDS), offset, common.BENCH / "kws")
    if what == "neg":
        return offset, what, snr, len(sphinx.spot_stream(spotter, _NEG))
    rows = [(lb, s, sphinx.spot_clip(spotter, x)) for lb, s, x in _HEARD if s == snr]
    return offset, what, snr, rows


_COMMANDS: tuple[str, ...] = ()


def pocketsphinx(
    commands: Sequence[str],
    heard: Heard,
    neg: np.ndarray,
    offsets: Sequence[float],
    workers: int,
    target_fa_per_hour: float,
) -> dict[str, Any]:
    """Clean clips and the negative stream at every offset; noisy clips at the operating points:
    offset 0 (the a-priori rule) and the sweep point whose FA/h is nearest edge-asr's."""
    global _HEARD, _NEG, _COMMANDS
    _HEARD, _NEG, _COMMANDS = heard, neg, tuple(commands)
    hours = neg.shape[0] / common.RATE / 3600
    points: dict[float, dict[str, Any]] = {o: {} for o in offsets}
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        jobs = [(o, w, None) for o in offsets for w in ("neg", "clips")]
        for offset, what, _snr, res in pool.imap_unordered(_sphinx_job, jobs):
            points[offset][what] = res
        fa = {o: points[o]["neg"] / hours for o in offsets}
        matched = min(
            offsets,
            key=lambda o: (abs(np.log10(fa[o] + 0.1) - np.log10(target_fa_per_hour + 0.1)), -o),
        )
        chosen = sorted({0.0, matched})
        jobs = [(o, "clips", snr) for o in chosen for snr in SNRS if snr is not None]
        for offset, _what, _snr, rows in pool.imap_unordered(_sphinx_job, jobs):
            points[offset]["clips"] = points[offset]["clips"] + rows
    det = {"offset": list(offsets), "false_reject_rate": [], "false_accepts_per_hour": []}
    for o in offsets:
        det["false_reject_rate"].append(round(1 - score(points[o]["clips"])["top1"]["clean"], 4))
        det["false_accepts_per_hour"].append(round(fa[o], 3))
    operating = {}
    for name, o in (("rule", 0.0), ("matched_fa", matched)):
        operating[name] = {
            "offset": o,
            "kws": {w: f"1e{e:+.0f}" for w, e in sphinx.exponents(list(commands), o).items()},
            **score(points[o]["clips"]),
            "false_accepts_per_hour": round(fa[o], 3),
        }
    return {"operating_points": operating, "det": det}
