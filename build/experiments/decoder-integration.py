#!/usr/bin/env python3
"""Experiment behind build/results/ablation-decoder-integration.json (kept so its figures can be
re-made; not part of the product): ways of integrating posteriors over time, replayed on one
model's traces of the validation and test negative streams and the held-out clips.

  PYTHONPATH=. .venv/bin/python build/experiments/decoder-integration.py MODEL_DIR TAG [all]

Without `all` only the arithmetic means over 4 and 5 inferences are compared.
"""

from __future__ import annotations

import collections
import pickle
import sys
from pathlib import Path

import numpy as np
from _usage import arguments

from edge_asr.audio import read_wav
from edge_asr.model import is_internal, load_spec
from edge_asr.train.evaluate import Evaluator, clip_traces, heldout_clips
from edge_asr.train.tts import DEFAULT_CACHE_DIR

CACHE = DEFAULT_CACHE_DIR  # $EDGE_ASR_CACHE or ~/.cache/edge-asr, as edge-asr train
DATASET = CACHE / "datasets/speech-commands-20"
STREAMS = CACHE / "streams/speech-commands-20"
THRESHOLDS = np.round(np.arange(0.5, 0.995, 0.01), 2)


def traces(model: Path, tag: str) -> dict:
    """Posterior events per input; tracing takes minutes, so they are kept in /tmp."""
    path = Path(f"/tmp/edge-asr-traces-{tag}.pkl")
    if path.exists():
        with path.open("rb") as f:
            return pickle.load(f)
    ev = Evaluator(load_spec(model), "onnx")
    out = {}
    for name in ("val-180min", "test-180min"):
        audio = read_wav(STREAMS / f"{name}.wav", 16000)
        out[name] = (ev.trace(audio, "_negative_").events, audio.shape[0] / 16000)
    clips = heldout_clips(DATASET, ev.spec.labels)
    out["clips"] = [(t.label, t.snr_db, t.events) for t in clip_traces(ev, clips, [None, 10.0])]
    with path.open("wb") as f:
        pickle.dump(out, f)
    return out


def scores(events: list, kind: str, k: int) -> list:
    """(time, score vector or None where the audio gate closed) per inference."""
    out, hist = [], []
    for now, _start, post in events:
        if post is None:
            hist = []
            out.append((now, None))
            continue
        hist = [*hist, post][-k:]
        h = np.array(hist)
        if kind == "mean":
            s = h.mean(0)
        elif kind == "geo":
            s = np.exp(np.log(np.maximum(h, 1e-6)).mean(0))
        elif kind == "median":
            s = np.median(h, 0)
        else:  # "min": every one of the last k above threshold
            s = h.min(0) if len(hist) == k else np.zeros_like(post)
        out.append((now, s))
    return out


def detect(sc: list, labels: tuple, publishable: np.ndarray, thr: float) -> list[str]:
    """The shipped Decoder's rules (refractory 1 s, re-arm below threshold) on any score."""
    found, quiet, armed = [], -np.inf, np.ones(len(labels), bool)
    for now, s in sc:
        if s is None:
            armed[:] = True
            continue
        above = s >= thr
        armed |= ~above
        if now < quiet:
            continue
        b = int(np.argmax(s))
        if publishable[b] and above[b] and armed[b]:
            armed[b] = False
            quiet = now + 1.0
            found.append(labels[b])
    return found


def main() -> None:
    args = arguments(__doc__, 2, 3)
    model, tag = Path(args[0]), args[1]
    spec = load_spec(model)
    labels = spec.labels
    publishable = np.array([not is_internal(label) for label in labels])
    t = traces(model, tag)
    variants = [("mean", 4), ("mean", 5)]
    if args[2:] == ["all"]:
        variants += [("geo", 4), ("geo", 5), ("median", 4), ("min", 3)]
    for kind, k in variants:
        val = scores(t["val-180min"][0], kind, k)
        test = scores(t["test-180min"][0], kind, k)
        clips = [(label, snr, scores(events, kind, k)) for label, snr, events in t["clips"]]
        rows = []
        for thr in THRESHOLDS:
            fa_val = len(detect(val, labels, publishable, thr)) / (t["val-180min"][1] / 3600)
            if fa_val > 30:
                continue
            fa_test = len(detect(test, labels, publishable, thr)) / (t["test-180min"][1] / 3600)
            right, unknown = collections.defaultdict(list), []
            for label, snr, sc in clips:
                found = detect(sc, labels, publishable, thr)
                if label == "_unknown_":
                    unknown.append(bool(found))
                elif not is_internal(label):
                    key = "clean" if snr is None else "10dB"
                    right[key].append(bool(found) and found[0] == label)
            clean, noisy = np.mean(right["clean"]), np.mean(right["10dB"])
            rows.append((thr, fa_val, fa_test, clean, noisy, np.mean(unknown)))
        cal = next((r for r in rows if r[1] <= 0.5), rows[-1])
        print(
            f"('{kind}', {k}): calibrated thr {cal[0]:.2f} valFA {cal[1]:.2f} testFA {cal[2]:.2f}"
            f" clean {cal[3]:.3f} 10dB {cal[4]:.3f} unk {cal[5]:.3f}"
        )
        for target in (1.0, 2.0, 5.0):
            best = max((r for r in rows if r[2] <= target), key=lambda r: r[3], default=None)
            if best:
                print(
                    f"   DET test<= {target}: thr {best[0]:.2f} clean {best[3]:.3f}"
                    f" 10dB {best[4]:.3f} unk {best[5]:.3f}"
                )
        sys.stdout.flush()


if __name__ == "__main__":
    main()
