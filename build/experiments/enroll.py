#!/usr/bin/env python3
"""Measurement behind build/results/ablation-enroll.json (kept so its figures can be re-made):
what `edge-asr train --enroll DIR` buys the voice it was given, simulated with a voice of the
held-out TTS engine (festival) standing in for the user, since no human recording may be trained
on here.

  .venv/bin/python build/experiments/enroll.py make WORK
      WORK/enroll/<command>/*.wav: the stand-in user (festival kal_diphone) says every command
      at ENROLL_RATES; WORK/eval/<voice>/<command>/*.wav: every festival voice at EVAL_RATES,
      rates no training or held-out clip uses
  OMP_NUM_THREADS=1 OPENBLAS_CORETYPE=Cooperlake .venv/bin/python build/experiments/enroll.py \
      train OUT [edge-asr train options: --commands, --size full, --enroll WORK/enroll, ...]
      the recipe with the student without distillation as the only student (the one every full
      build so far has shipped) and a one-epoch teacher that only fills the card's table, to
      halve a full build; run it once with --enroll and once without (or use edge-asr train)
  .venv/bin/python build/experiments/enroll.py score WORK MODEL_DIR... --streams WAV...
      streaming top-1 (first detection = the command) of each model on WORK/eval, per voice,
      clean and at 10 dB SNR (pink, brown or held-out music): at the model's own threshold and
      at the lowest threshold meeting each of FA_PER_HOUR on the command-free WAVs pooled
  .venv/bin/python build/experiments/enroll.py own-speech WORK MODEL_DIR... --streams WAV...
      false accepts on the stand-in user's own conversation: WORK/own/<voice>.wav, an
      OWN_MINUTES command-free stream whose sentences are all that voice's (and a festival
      voice never enrolled, as control), at the thresholds `score` compares the models at

A TTS voice repeats a word far more exactly than a person does, so the enrolled voice's figure
overstates what enrolling a person gives; the other festival voices show what it costs or gives
voices that were not enrolled.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

import soundfile as sf
from _streams import Segments, speaker
from _usage import arguments

from edge_asr.audio import read_wav
from edge_asr.calibrate import THRESHOLDS, labelled_clips, replay_thresholds
from edge_asr.model import is_internal, load_spec
from edge_asr.train import vocab
from edge_asr.train.evaluate import (
    Evaluator,
    Trace,
    clip_traces,
    false_accept_counts,
    false_reject_rates,
)
from edge_asr.train.stream import make_negative_stream
from edge_asr.train.tts import DEFAULT_CACHE_DIR, SAMPLE_RATE_HZ, TtsCache, VoiceSpec

USER = "kal_diphone"
ENROLL_RATES = (0.84, 0.92, 1.04, 1.12, 1.21)
EVAL_RATES = (0.88, 0.96, 1.08, 1.16)
FA_PER_HOUR = (0.5, 1.0, 2.0)
GRID = (*THRESHOLDS, 0.993, 0.995, 0.997, 0.999)  # weak models need thresholds above 0.99
SNRS = ((None, "clean"), (10.0, "10dB"))
OWN_VOICES = (USER, "ked_diphone")  # the stand-in user, and a festival voice never enrolled
OWN_MINUTES = 60.0
OWN_SEED = 29  # sentences no other stream here speaks (streams draw theirs from seed + 1)


def train(argv: list[str]) -> int:
    from dataclasses import replace

    from edge_asr.train import recipe
    from edge_asr.train.cli import main

    key, cfg = recipe._Setup.student_key, recipe._Setup.student_cfg
    recipe._Setup.student_key = lambda self, kind: key(self, "no_kd")  # type: ignore[method-assign]
    recipe._Setup.student_cfg = lambda self, kind: cfg(self, "no_kd")  # type: ignore[method-assign]
    for name, p in recipe.PRESETS.items():
        recipe.PRESETS[name] = replace(p, teacher=replace(p.teacher, epochs=1))
    return main("train", ["--out", *argv])


def make(work: Path) -> int:
    cache = TtsCache(DEFAULT_CACHE_DIR / "tts")
    voices = cache.engines["festival"].voices()
    jobs = [(work / "enroll", VoiceSpec("festival", USER, rate=r)) for r in ENROLL_RATES]
    jobs += [
        (work / "eval" / v, VoiceSpec("festival", v, rate=r)) for v in voices for r in EVAL_RATES
    ]
    commands = list(vocab.DEFAULT_COMMANDS)
    cache.fill([(c, spec) for _, spec in jobs for c in commands], desc="festival")
    for folder, spec in jobs:
        for command in commands:
            path = folder / command.replace(" ", "_") / f"{spec.name}.wav"
            path.parent.mkdir(parents=True, exist_ok=True)
            sf.write(path, cache.get(command, spec), SAMPLE_RATE_HZ, subtype="PCM_16")
    print(f"wrote {len(jobs) * len(commands)} clips under {work}")
    return 0


def score(work: Path, models: list[Path], streams: list[Path]) -> int:
    """Each model at its own threshold, and at the lowest threshold where it makes at most
    FA_PER_HOUR false accepts per hour on `streams` pooled (command-free speech, music, noise),
    so models whose calibrations drew different thresholds compare at equal false accepts."""
    out = {}
    for model in models:
        spec = load_spec(model)
        ev = Evaluator(spec)
        fa, hours = _false_accepts(ev, _traced(ev, streams))
        voices = {
            folder.name: clip_traces(ev, labelled_clips(folder, spec.labels), (None, 10.0))
            for folder in sorted((work / "eval").iterdir())
        }
        rows = {}
        for name, thr in _points(spec.default_threshold, fa, hours).items():
            row: dict[str, object] = {"threshold": thr, "fa_per_hour": round(fa[thr] / hours, 2)}
            for voice, traces in voices.items():
                row[voice] = {key: _top1(ev, traces, snr, thr) for snr, key in SNRS}
            rows[name] = row
        out[str(model)] = {"version": spec.version, "stream_hours": round(hours, 2), **rows}
        print(model, json.dumps(out[str(model)]))
    (work / "score.json").write_text(json.dumps(out, indent=1) + "\n")
    return 0


def own_speech(work: Path, models: list[Path], streams: list[Path]) -> int:
    """False accepts on the user's own conversation: a command-free stream whose every sentence
    is the stand-in user's (and, as a control, one of another festival voice never enrolled),
    at each model's own threshold and at the thresholds `score` compares them at."""
    own = {}
    for voice in OWN_VOICES:
        wav = work / "own" / f"{voice}.wav"
        make_negative_stream(wav, OWN_MINUTES, OWN_SEED, voices={f"festival:{voice}"})
        segments = json.loads(wav.with_suffix(".json").read_text())["segments"]
        speech_s = sum(s["end_s"] - s["start_s"] for s in segments if s["kind"] == "speech")
        own[voice] = (wav, speech_s / 3600)
    out: dict[str, object] = {}
    for model in models:
        spec = load_spec(model)
        ev = Evaluator(spec)
        traced = _traced(ev, streams)  # once: both counts below replay the same traces
        fa, hours = _false_accepts(ev, traced)
        points = _points(spec.default_threshold, fa, hours)
        result: dict[str, object] = {
            "version": spec.version,
            "general_streams_by_voice": _by_voice(ev, traced, points),
        }
        for voice, (wav, speech_h) in own.items():
            trace = ev.trace(read_wav(wav, SAMPLE_RATE_HZ), "_negative_")
            counts = false_accept_counts(ev, trace, GRID)
            result[voice] = {
                "stream_hours": round(trace.seconds / 3600, 2),
                "speech_hours": round(speech_h, 2),
                **{
                    name: {
                        "threshold": thr,
                        "false_accepts": counts[thr],
                        "per_speech_hour": round(counts[thr] / speech_h, 2),
                        "per_hour_general_streams": round(fa[thr] / hours, 2),
                    }
                    for name, thr in points.items()
                },
            }
        out[str(model)] = result
        print(model, json.dumps(result))
    (work / "own-speech.json").write_text(json.dumps(out, indent=1) + "\n")
    return 0


def _traced(ev: Evaluator, streams: list[Path]) -> list[tuple[Path, Trace]]:
    """Each command-free stream through the recognizer, with its path."""
    return [(wav, ev.trace(read_wav(wav, SAMPLE_RATE_HZ), "_negative_")) for wav in streams]


def _false_accepts(
    ev: Evaluator, traced: list[tuple[Path, Trace]]
) -> tuple[dict[float, int], float]:
    """Detections at each threshold of GRID on the traced streams pooled, and their hours."""
    hours = 0.0
    fa = dict.fromkeys(GRID, 0)
    for _, trace in traced:
        hours += trace.seconds / 3600
        for t, n in false_accept_counts(ev, trace, GRID).items():
            fa[t] += n
    return fa, hours


def _by_voice(
    ev: Evaluator, traced: list[tuple[Path, Trace]], points: dict[str, float]
) -> dict[str, dict[str, object]]:
    """At each of `points`, the streams' false accepts by the voice speaking when they fired
    ("music", "noise", "silence" between sentences), and each voice's hours of speech."""
    out: dict[str, dict[str, object]] = {}
    speech_s: Counter[str] = Counter()
    fired: dict[str, Counter[str]] = {name: Counter() for name in points}
    for wav, trace in traced:
        segments = Segments(wav)
        for s in segments.items:
            if s["kind"] == "speech":
                speech_s[speaker(s)] += s["end_s"] - s["start_s"]
        found = replay_thresholds(trace.events, ev.spec, set(points.values()), ev.settings)
        for name, thr in points.items():
            for d in found[thr]:
                fired[name][speaker(segments.under(d, ev.spec.window_s))] += 1
    for name, counts in fired.items():
        out[name] = {"threshold": points[name], "false_accepts": dict(counts.most_common())}
    out["speech_hours"] = {v: round(s / 3600, 3) for v, s in speech_s.most_common()}  # type: ignore[assignment]
    return out


def _points(own: float, fa: dict[float, int], hours: float) -> dict[str, float]:
    """The model's own threshold and the lowest meeting each of FA_PER_HOUR."""
    points = {"own": own}
    for budget in FA_PER_HOUR:
        ok = [t for t in GRID if fa[t] / hours <= budget]
        points[f"<= {budget:g} FA/h"] = ok[0] if ok else max(GRID)
    return points


def _top1(ev: Evaluator, traces: list[Trace], snr: float | None, threshold: float) -> float:
    """Percent of command clips at `snr` whose first detection is their command."""
    commands = [t for t in traces if t.snr_db == snr and not is_internal(t.label)]
    missed = round(false_reject_rates(ev, commands, [threshold])[threshold] * len(commands))
    return round(100 * (len(commands) - missed) / len(commands), 1)  # as the committed figures


if __name__ == "__main__":
    args = arguments(__doc__, 2)
    if args[0] == "train" and len(args) >= 2:
        sys.exit(train(args[1:]))
    if args[0] == "make" and len(args) == 2:
        sys.exit(make(Path(args[1])))
    if args[0] in ("score", "own-speech") and "--streams" in args[3:]:
        cut = args.index("--streams")
        streams = [Path(a) for a in args[cut + 1 :]]
        run = score if args[0] == "score" else own_speech
        sys.exit(run(Path(args[1]), [Path(a) for a in args[2:cut]], streams))
    print(__doc__, file=sys.stderr)
    sys.exit(2)
