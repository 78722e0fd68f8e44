"""Thresholds from recordings: trace audio through the Recognizer once, replay the decoder.

`edge-asr calibrate` uses this on a device's own recordings (the room's everyday sound, and
optionally the user saying the commands); the model factory uses the same functions on its
synthetic streams and held-out clips.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from .audio import iter_wav, read_wav
from .config import DecoderSettings
from .decoder import Decoder, Detection
from .model import ModelSpec, is_internal
from .pipeline import Recognizer, smoothing_steps

THRESHOLDS = tuple(round(t, 2) for t in np.arange(0.30, 0.991, 0.01))

# (stream time, utterance start, posteriors) of one inference; posteriors None = gate closed.
Event = tuple[float, float, "npt.NDArray[np.float32] | None"]


def trace_audio(recognizer: Recognizer, audio: npt.NDArray[np.int16], chunk: int) -> list[Event]:
    """Feed audio like the microphone would (plus the trailing pad `recognize` adds)."""
    return trace_blocks(recognizer, [audio], chunk)


def trace_blocks(
    recognizer: Recognizer, blocks: Iterable[npt.NDArray[np.int16]], chunk: int
) -> list[Event]:
    """trace_audio over audio that arrives in blocks of any size (a long file read piecewise):
    the recognizer still sees `chunk`-sized pieces, so the events are the same."""
    events: list[Event] = []
    recognizer.reset()
    recognizer.posterior_hook = lambda now, start, post: events.append((now, start, post))
    pad = np.zeros(recognizer.spec.frontend.sample_rate_hz // 2, np.int16)
    carry = np.zeros(0, np.int16)
    for block in itertools.chain(blocks, [pad]):
        audio = np.concatenate([carry, block])
        whole = audio.shape[0] - audio.shape[0] % chunk
        for pos in range(0, whole, chunk):
            recognizer.feed(audio[pos : pos + chunk])
        carry = audio[whole:]
    if carry.shape[0]:
        recognizer.feed(carry)
    recognizer.posterior_hook = None
    return events


def replay(
    events: Iterable[Event],
    spec: ModelSpec,
    threshold: float,
    settings: DecoderSettings,
    per_command: Mapping[str, float] | None = None,
) -> list[Detection]:
    """The detections the decoder would make at one global threshold (or `per_command` ones,
    `threshold` for the commands it leaves out)."""
    decoder = Decoder(
        spec.labels,
        per_command or {},
        threshold,
        smoothing_steps=smoothing_steps(settings, spec),
        refractory_s=settings.refractory_ms / 1000,
    )
    found = []
    for now, start, post in events:
        if post is None:
            decoder.reset()
            continue
        detection = decoder.update(post, now, start)
        if detection is not None:
            found.append(detection)
    return found


def replay_thresholds(
    events: Sequence[Event],
    spec: ModelSpec,
    thresholds: Iterable[float],
    settings: DecoderSettings,
) -> dict[float, list[Detection]]:
    """replay() at each global threshold, with the same detections, in a fraction of the time
    on long recordings: a stretch between two gate closings in which no command's posterior
    reaches a threshold cannot fire at it (a moving average never exceeds its largest term)
    and leaves the decoder as the closing gate resets it, so it is skipped."""
    publishable = np.array([not is_internal(label) for label in spec.labels])
    stretches: list[tuple[int, int, float]] = []  # [first, end) event indices, top posterior
    first, top = 0, -1.0
    for i, (_now, _start, post) in enumerate(events):
        if post is not None:
            top = max(top, float(post[publishable].max()))
            continue
        if i > first:
            stretches.append((first, i, top))
        first, top = i + 1, -1.0
    if len(events) > first:
        stretches.append((first, len(events), top))
    found = {}
    for t in thresholds:
        kept: list[Event] = []
        for a, b, top in stretches:
            if top >= t - 1e-5:  # float32 rounding of the mean, with room to spare
                kept.extend(events[max(0, a - 1) : b])  # with the gate closing before it
        found[t] = replay(kept, spec, t, settings)
    return found


def pick_threshold(
    rates: dict[float, float], target_per_hour: float = 0.5, floor: float = 0.5
) -> float:
    """Lowest threshold >= floor whose false accepts per hour meet the target (else the highest)."""
    ok = [t for t in sorted(rates) if t >= floor and rates[t] <= target_per_hour]
    return ok[0] if ok else max(rates)


@dataclass
class SiteReport:
    """What the model does on one site's recordings, threshold by threshold."""

    seconds: float  # of negative audio
    rates: dict[float, float]  # threshold -> false accepts per hour
    false_accepts: list[tuple[str, Detection]]  # (file, detection) at the model's threshold
    recall: dict[float, float] | None  # threshold -> share of command clips heard right
    command_clips: int
    recommended: float
    meets_target: bool
    model_threshold: float


def site_report(
    recognizer: Recognizer,
    settings: DecoderSettings,
    negatives: Sequence[Path],
    commands: Sequence[tuple[Path, str]],
    target_per_hour: float,
    chunk: int,
) -> SiteReport:
    """Rates on the negative recordings and, given clips of the commands, the recall they cost.

    The recommendation never goes below the model's own threshold (calibrated on hours of
    speech and music): a quiet recording proves little about the talk and TV a room will hear.
    """
    spec = recognizer.spec
    rate = spec.frontend.sample_rate_hz
    model_threshold = spec.default_threshold
    grid = sorted({*THRESHOLDS, model_threshold})
    seconds = 0.0
    traces = []
    for path in negatives:
        lengths: list[int] = []  # hours of audio are read block by block, never held whole
        traces.append(
            (path, trace_blocks(recognizer, _tally(iter_wav(path, rate), lengths), chunk))
        )
        seconds += sum(lengths) / rate
    if seconds < spec.window_s:
        names = ", ".join(str(p) for p in negatives)
        raise ValueError(f"{names}: {seconds:.1f} s of audio, too little to measure false accepts")
    hours = seconds / 3600
    counts = dict.fromkeys(grid, 0)
    false_accepts: list[tuple[str, Detection]] = []
    for path, events in traces:
        for t, found in replay_thresholds(events, spec, grid, settings).items():
            counts[t] += len(found)
            if t == model_threshold:
                false_accepts += [(str(path), d) for d in found]
    rates = {t: n / hours for t, n in counts.items()}
    recall = None
    if commands:
        heard = dict.fromkeys(grid, 0)
        for path, label in commands:
            events = trace_audio(recognizer, read_wav(path, rate), chunk)
            for t in grid:
                found = replay(events, spec, t, settings)
                heard[t] += bool(found) and found[0].command == label
        recall = {t: heard[t] / len(commands) for t in grid}
    chosen = pick_threshold(rates, target_per_hour, floor=model_threshold)
    return SiteReport(
        seconds,
        rates,
        false_accepts,
        recall,
        len(commands),
        chosen,
        rates[chosen] <= target_per_hour,
        model_threshold,
    )


def _tally(
    blocks: Iterable[npt.NDArray[np.int16]], lengths: list[int]
) -> Iterator[npt.NDArray[np.int16]]:
    for block in blocks:
        lengths.append(block.shape[0])
        yield block


def labelled_clips(folder: Path, labels: Sequence[str]) -> list[tuple[Path, str]]:
    """WAV files under `folder/<label>/` (spaces in a label written as "_") and their labels."""
    by_folder = {label.replace(" ", "_"): label for label in labels}
    clips = []
    for path in sorted(folder.glob("*/*.wav")):
        if path.parent.name not in by_folder:
            raise ValueError(
                f"{path}: folder {path.parent.name!r} is not one of {', '.join(by_folder)}"
            )
        clips.append((path, by_folder[path.parent.name]))
    return clips


def report_lines(report: SiteReport, per_hour: float) -> list[str]:
    """The report as `edge-asr calibrate` prints it."""
    own = report.model_threshold
    lines = [
        f"{report.seconds / 60:.1f} min of command-free audio (one false accept ="
        f" {3600 / max(report.seconds, 1e-9):.2f} per hour)",
        "threshold  false accepts/hour" + ("  commands heard" if report.recall else ""),
    ]
    for t in sorted(report.rates):
        if t < own - 0.1:
            continue  # far below the model's own threshold: not worth a row each
        row = f"{t:9.2f}  {report.rates[t]:18.2f}"
        if report.recall:
            row += f"  {100 * report.recall[t]:13.1f} %"
        if t == own:
            row += "  <- model"
        if t == report.recommended and report.meets_target:
            row += "  <- recommended"
        lines.append(row)
    if report.recall:
        lines.append(f"commands heard = first detection right, of {report.command_clips} clips")
    for path, det in report.false_accepts:
        lines.append(
            f"false accept at {own:.2f}: {det.command} ({det.score:.2f})"
            f" at {det.end_s:.1f} s in {path}"
        )
    if not report.meets_target:
        lines.append(
            f"no threshold meets {per_hour:g} false accepts per hour on this audio: raise the"
            " thresholds of the commands above (`[model.thresholds]`), or mute the device"
            " while that sound plays"
        )
    elif report.recommended == own:
        lines.append(f"the model's threshold {own:.2f} meets {per_hour:g} per hour here")
    else:
        lines.append(f"recommended: [model.thresholds] default = {report.recommended:.2f}")
    return lines


def report_json(report: SiteReport) -> dict[str, Any]:
    """The report for scripts (`edge-asr calibrate --json`); thresholds as "0.86" keys."""
    return {
        "minutes": round(report.seconds / 60, 2),
        "model_threshold": report.model_threshold,
        "recommended": report.recommended if report.meets_target else None,
        "false_accepts_per_hour": {f"{t:.2f}": round(r, 3) for t, r in report.rates.items()},
        "commands_heard": (
            {f"{t:.2f}": round(r, 4) for t, r in report.recall.items()} if report.recall else None
        ),
        "command_clips": report.command_clips,
        "false_accepts": [
            {"file": path, "command": d.command, "score": round(d.score, 4), "end_s": d.end_s}
            for path, d in report.false_accepts
        ],
    }
