"""Evaluation through the streaming recognizer (the code `edge-asr recognize` runs).

Every clip and stream goes through Recognizer once with a recording hook; the decoder (pure) is
then replayed at each threshold, so accuracy, false accepts and DET curves all come from the
same detections a device would publish.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from functools import cached_property, partial
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ..audio import read_wav
from ..backends import load_backend
from ..calibrate import (
    THRESHOLDS,
    Event,
    labelled_clips,
    pick_threshold,
    replay,
    replay_thresholds,
    trace_audio,
)
from ..config import DecoderSettings
from ..decoder import Detection
from ..model import ModelSpec, is_internal, load_spec
from ..pipeline import Recognizer
from . import humans
from .augment import coloured_noise, load_music
from .humans import human_clips
from .side import map_shared

log = logging.getLogger(__name__)

SNRS_DB: tuple[float | None, ...] = (None, 20.0, 10.0, 0.0)


@dataclass
class Trace:
    """What one audio input produced: the recorded inference events and its true label."""

    label: str
    events: list[Event]
    seconds: float
    snr_db: float | None = None
    source: str = ""


@dataclass
class Evaluator:
    spec: ModelSpec
    backend: str = "onnx"
    settings: DecoderSettings = field(default_factory=DecoderSettings)
    chunk_ms: int = 100

    def __post_init__(self) -> None:
        self.chunk = self.spec.frontend.sample_rate_hz * self.chunk_ms // 1000

    @cached_property
    def recognizer(self) -> Recognizer:
        """Loaded on first trace: calibrate reads only the set-up and traces in workers."""
        return Recognizer(self.spec, load_backend(self.spec, self.backend), self.settings)

    def trace(self, audio: npt.NDArray[np.int16], label: str, **meta: Any) -> Trace:
        events = trace_audio(self.recognizer, audio, self.chunk)
        return Trace(label, events, audio.shape[0] / self.spec.frontend.sample_rate_hz, **meta)

    def detections(self, trace: Trace, threshold: float) -> list[Detection]:
        return replay(trace.events, self.spec, threshold, self.settings)


def noisy(
    audio: npt.NDArray[np.int16], snr_db: float, rng: np.random.Generator, music: list[Any]
) -> npt.NDArray[np.int16]:
    """Speech plus noise (pink, brown or held-out music) at snr_db over the speech's own power."""
    x = audio.astype(np.float32)
    loud = x[np.abs(x) > 0.05 * (np.abs(x).max() + 1)]
    power = float(np.mean(loud**2)) if loud.size else 1.0
    kind = ("pink", "brown", "music")[int(rng.integers(3 if music else 2))]
    if kind == "music":
        track = music[int(rng.integers(len(music)))]
        start = int(rng.integers(max(1, track.shape[0] - x.shape[0])))
        noise = np.resize(track[start:], x.shape[0]).astype(np.float32)
        noise /= np.sqrt(np.mean(noise**2)) + 1e-9
    else:
        noise = coloured_noise(kind, x.shape[0], rng)
    mixed = x + noise * np.float32(np.sqrt(power / 10 ** (snr_db / 10)))
    return np.clip(np.rint(mixed), -32768, 32767).astype(np.int16)


def clip_traces(
    ev: Evaluator,
    clips: Sequence[tuple[Path, str]],
    snrs: Sequence[float | None],
    seed: int = 0,
    music_split: int = 2,
) -> list[Trace]:
    rng = np.random.default_rng(seed)
    music = load_music(music_split)  # the test split's track (2) by default, never trained on
    rate = ev.spec.frontend.sample_rate_hz
    traces = []
    for path, label in clips:
        audio = read_wav(path, rate)
        for snr in snrs:
            x = audio if snr is None else noisy(audio, snr, rng, music)
            traces.append(ev.trace(x, label, snr_db=snr, source=str(path)))
    return traces


def score_clips(ev: Evaluator, traces: Sequence[Trace], threshold: float) -> dict[str, Any]:
    """Top-1 of commands (first detection must be the right command) and unknown false accepts."""
    by_snr: dict[str, list[bool]] = {}
    unknown_fa: list[bool] = []
    confusion: dict[str, dict[str, int]] = {}
    firsts = []
    for trace in traces:
        found = ev.detections(trace, threshold)
        first = found[0].command if found else "(none)"
        firsts.append(first)
        if trace.label == "_unknown_":
            unknown_fa.append(bool(found))
        elif not is_internal(trace.label):
            key = "clean" if trace.snr_db is None else f"{trace.snr_db:g}dB"
            by_snr.setdefault(key, []).append(first == trace.label)
        if trace.snr_db is None:
            row = confusion.setdefault(trace.label, {})
            row[first] = row.get(first, 0) + 1
    return {
        "threshold": threshold,
        "top1": {k: round(float(np.mean(v)), 4) for k, v in by_snr.items()},
        "clips": {k: len(v) for k, v in by_snr.items()},
        "unknown_false_accept_rate": round(float(np.mean(unknown_fa)), 4) if unknown_fa else None,
        "unknown_clips": len(unknown_fa) // max(1, len({t.snr_db for t in traces})),
        "confusion": confusion,
        "first_detections": firsts,  # per trace, to compare runtimes; not kept in model.json
    }


def same_first_detection(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """How often two runtimes' score_clips of the same traces publish the same first command
    (or none): the clip-level agreement a user of either runtime sees."""
    same = [p == q for p, q in zip(a["first_detections"], b["first_detections"], strict=True)]
    return {"clips": len(same), "agree": round(float(np.mean(same)), 4)}


def summary(report: dict[str, Any]) -> dict[str, Any]:
    """An evaluate() report without its per-clip lists and DET: what is printed and kept."""
    lists = ("first_detections", "per_recording")
    return {
        k: {n: x for n, x in v.items() if n not in lists} if isinstance(v, dict) else v
        for k, v in report.items()
        if k != "det"
    }


def false_accept_counts(
    ev: Evaluator,
    trace: Trace,
    thresholds: Sequence[float],
    settings: DecoderSettings | None = None,
) -> dict[float, int]:
    """Detections in `trace` at each threshold (decoder `settings`, else ev's)."""
    found = replay_thresholds(trace.events, ev.spec, thresholds, settings or ev.settings)
    return {t: len(d) for t, d in found.items()}


def false_accepts_per_hour(
    ev: Evaluator,
    trace: Trace,
    thresholds: Sequence[float],
    settings: DecoderSettings | None = None,
) -> dict[float, float]:
    """Detections per hour of `trace` at each threshold (decoder `settings`, else ev's)."""
    hours = trace.seconds / 3600
    return {t: n / hours for t, n in false_accept_counts(ev, trace, thresholds, settings).items()}


def false_reject_rates(
    ev: Evaluator, traces: Sequence[Trace], thresholds: Sequence[float]
) -> dict[float, float]:
    """Share of command `traces` whose first detection at each threshold is not their own
    command (a miss or a wrong one): the DET curve's other axis. 0 for no traces."""
    rates = {}
    for t in thresholds:
        wrong = sum([d.command for d in ev.detections(tr, t)][:1] != [tr.label] for tr in traces)
        rates[t] = wrong / max(1, len(traces))
    return rates


def stream_false_accepts(
    spec: ModelSpec,
    backend: str,
    settings: DecoderSettings,
    chunk_ms: int,
    spans_ms: Sequence[int],
    wav: Path,
) -> tuple[float, dict[int, dict[float, int]]]:
    """One negative stream traced once (posteriors depend on the inference cadence only) and
    replayed at every smoothing span: its seconds and false accepts per span and threshold."""
    ev = Evaluator(spec, backend, settings, chunk_ms)
    trace = ev.trace(read_wav(wav, spec.frontend.sample_rate_hz), "_negative_", source=str(wav))
    counts = {
        ms: false_accept_counts(
            ev, trace, THRESHOLDS, settings.model_copy(update={"smoothing_ms": ms})
        )
        for ms in spans_ms
    }
    return trace.seconds, counts


def calibrate(
    ev: Evaluator,
    negative_wavs: Sequence[Path],
    spans_ms: Sequence[int],
    target_per_hour: float = 0.5,
    floor: float = 0.5,
    side: ProcessPoolExecutor | None = None,
) -> dict[int, tuple[float, dict[float, float]]]:
    """For each smoothing span, the lowest threshold whose false accepts on (validation)
    negative streams, pooled, meet the target, and the pooled rates it was read from. With a
    `side` worker it traces every other stream."""
    one = partial(stream_false_accepts, ev.spec, ev.backend, ev.settings, ev.chunk_ms, spans_ms)
    per_stream = map_shared(side, one, list(negative_wavs))
    hours = sum(seconds for seconds, _ in per_stream) / 3600
    out = {}
    for ms in spans_ms:
        counts = {t: sum(c[ms][t] for _, c in per_stream) for t in THRESHOLDS}
        rates = {t: n / hours for t, n in counts.items()}
        chosen = pick_threshold(rates, target_per_hour, floor)
        log.info(
            "calibrated threshold %.2f for %d ms smoothing: %.2f false accepts/hour on %d"
            " stream(s), %.0f min",
            chosen,
            ms,
            rates[chosen],
            len(per_stream),
            hours * 60,
        )
        out[ms] = (chosen, rates)
    return out


def heldout_clips(dataset_dir: Path, labels: Sequence[str]) -> list[tuple[Path, str]]:
    """The held-out test clips and their labels."""
    return labelled_clips(dataset_dir / "test_wav", labels)


def evaluate_validation(model_dir: Path, dataset_dir: Path) -> dict[str, Any] | None:
    """The validation clips (voices never trained on, nor held out) through the streaming
    recognizer at the model's threshold, with val's own music: the figure to choose between
    builds on, leaving the held-out clips to report. None if the dataset has no val_wav/."""
    spec = load_spec(model_dir)
    clips = labelled_clips(dataset_dir / "val_wav", spec.labels)
    if not clips:
        return None
    ev = Evaluator(spec)
    report = score_clips(ev, clip_traces(ev, clips, SNRS_DB, music_split=1), spec.default_threshold)
    return {k: v for k, v in report.items() if k not in ("confusion", "first_detections")}


def human_recordings(ev: Evaluator, threshold: float) -> dict[str, Any]:
    """Every human recording with a transcript (humans.recordings), through the recognizer at
    `threshold`: totals per group and overall, and each recording's detections."""
    rows = []
    for r in humans.recordings():
        trace = ev.trace(r.audio(ev.spec.frontend.sample_rate_hz), "_human_", source=str(r.path))
        detections = [d.command for d in ev.detections(trace, threshold)]
        rows.append({
            "group": r.group, "file": r.path.name, "transcript": r.transcript,
            "said": r.said(ev.spec.commands), "detections": detections,
            "seconds": round(trace.seconds, 2),
        })  # fmt: skip
    groups = {g: humans.score([x for x in rows if x["group"] == g]) for g in humans.GROUPS}
    return {
        "threshold": threshold,
        "groups": {g: s for g, s in groups.items() if s["recordings"]},
        **humans.score(rows),
        "per_recording": rows,
    }


def evaluate(
    model_dir: Path,
    dataset_dir: Path,
    negative_wav: Path | None,
    *,
    backend: str = "onnx",
    threshold: float | None = None,
    plots_dir: Path | None = None,
) -> dict[str, Any]:
    """The model card's figures: held-out accuracy by SNR, unknown FA, FA/hour, DET, humans."""
    spec = load_spec(model_dir)
    ev = Evaluator(spec, backend)
    threshold = threshold if threshold is not None else spec.default_threshold
    traces = clip_traces(ev, heldout_clips(dataset_dir, spec.labels), SNRS_DB)
    report: dict[str, Any] = {
        "backend": backend,
        # Which TFLite runtime ran it: LiteRT and tflite-runtime round differently.
        "runtime": ev.recognizer.backend.runtime,
        "synthetic_heldout": score_clips(ev, traces, threshold),
    }
    human = clip_traces(ev, human_clips(spec.commands), (None,))
    if human:
        report["human_asterisk_prompts"] = score_clips(ev, human, threshold)
    spoken = human_recordings(ev, threshold)
    if spoken["recordings"]:
        report["human_recordings"] = spoken
    clean = [t for t in traces if t.snr_db is None and not is_internal(t.label)]
    rejects = false_reject_rates(ev, clean, THRESHOLDS)
    det: dict[str, list[float]] = {
        "threshold": list(THRESHOLDS),
        "false_reject_rate": [round(rejects[t], 4) for t in THRESHOLDS],
    }
    if negative_wav is not None:
        audio = read_wav(negative_wav, spec.frontend.sample_rate_hz)
        neg = ev.trace(audio, "_negative_", source=str(negative_wav))
        rates = false_accepts_per_hour(ev, neg, THRESHOLDS)
        det["false_accepts_per_hour"] = [round(rates[t], 3) for t in THRESHOLDS]
        report["negative_stream"] = {
            "file": negative_wav.name,
            "hours": round(neg.seconds / 3600, 3),
            "false_accepts_per_hour": round(
                rates[min(THRESHOLDS, key=lambda x: abs(x - threshold))], 3
            ),
        }
    report["det"] = det
    if plots_dir is not None:
        from .plots import plot_confusion, plot_det

        plot_confusion(report["synthetic_heldout"]["confusion"], spec, plots_dir / "confusion.png")
        if "false_accepts_per_hour" in det:
            plot_det(det, threshold, plots_dir / "det.png")
    return report


def main(argv: Sequence[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="edge-asr evaluate", description=__doc__)
    parser.add_argument("model", type=Path, help="model folder")
    parser.add_argument("--dataset", type=Path, required=True, help="dataset folder (test_wav/)")
    parser.add_argument("--negative", type=Path, help="long WAV of non-command audio (FA/hour)")
    parser.add_argument("--backend", choices=["onnx", "tflite"], default="onnx")
    parser.add_argument("--threshold", type=float, help="global threshold (default: model.json)")
    parser.add_argument("--plots", type=Path, help="write confusion.png and det.png here")
    parser.add_argument("--json", type=Path, help="also write the report here")
    args = parser.parse_args(argv)
    report = evaluate(
        args.model,
        args.dataset,
        args.negative,
        backend=args.backend,
        threshold=args.threshold,
        plots_dir=args.plots,
    )
    text = json.dumps(summary(report), indent=2)
    print(text)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0
