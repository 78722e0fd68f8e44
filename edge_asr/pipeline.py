"""Audio chunks -> features -> gated inference -> decoder: the path `run` and `recognize` share."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from .backends import Backend
from .config import ConfigError, DecoderSettings
from .decoder import Decoder, Detection
from .frontend import LogMel
from .model import ModelSpec

log = logging.getLogger(__name__)


@dataclass
class StageTimes:
    """Seconds spent per stage, for the benchmark and the status line."""

    frontend_s: float = 0.0
    inference_s: float = 0.0
    decoder_s: float = 0.0
    inferences: int = 0
    audio_s: float = 0.0
    detections: int = 0


def decoder_timing(settings: DecoderSettings, spec: ModelSpec) -> tuple[int, int]:
    """(infer_every_ms, smoothing_ms): the config's where set, else the model's calibrated ones."""
    own = (settings.infer_every_ms, settings.smoothing_ms)
    infer, smoothing = (c if o is None else o for o, c in zip(own, spec.timing, strict=True))
    return infer, smoothing


def smoothing_steps(settings: DecoderSettings, spec: ModelSpec) -> int:
    infer, smoothing = decoder_timing(settings, spec)
    return max(1, round(smoothing / infer))


class Recognizer:
    """Feeds 16 kHz int16 chunks (any size) and returns detections in stream time."""

    def __init__(
        self,
        spec: ModelSpec,
        backend: Backend,
        settings: DecoderSettings,
        thresholds: dict[str, float] | None = None,
    ) -> None:
        self.spec = spec
        self.backend = backend
        params = spec.frontend
        self._frontend = LogMel(params)
        self._hop_s = params.hop_samples / params.sample_rate_hz
        self._window_s = spec.window_s
        frames = spec.input_frames
        # Double-length ring: frame i is written at i and i + frames, so the newest `frames`
        # rows are always one contiguous slice (no copy per inference).
        self._ring = np.full((2 * frames, params.n_mels), np.log(params.log_floor), np.float32)
        self._write = 0
        self._frames_seen = 0
        self.fed_s = 0.0  # audio fed since the stream began (times.audio_s: since start-up)
        self.timing = timing = decoder_timing(settings, spec)
        if timing != spec.timing:
            log.warning(
                "decoder: inference every %d ms, smoothing %d ms, but %s's thresholds were"
                " calibrated for %d and %d ms: expect other false-accept and miss rates",
                *timing,
                spec.name,
                *spec.timing,
            )
        self._infer_every = max(1, round(timing[0] / params.hop_ms))
        self._first_infer = spec.input_frames // 2  # frames seen before inferences begin
        self._since_infer = 0
        self._gate_dbfs = settings.gate_dbfs
        # A chunk whose peak is under the gate cannot hold a loud frame: skip its features.
        self._gate_peak = 32768.0 * 10 ** (settings.gate_dbfs / 20)
        self._quiet_row = np.full(params.n_mels, np.log(params.log_floor), np.float32)
        self._last_loud_s = -np.inf
        self._onset_s = 0.0
        self._gate_open = False
        # The last chunk's peak |sample| where the idle path measured it (0: all zeros), else
        # None: a live reader learns from it, for nothing, whether the microphone is muted.
        self.quiet_peak: int | None = None
        overrides = dict(thresholds or {})
        default = overrides.pop("default", spec.default_threshold)  # for commands not named
        strangers = sorted(set(overrides) - set(spec.commands))
        if strangers:  # a typo in the config, which a restart cannot fix
            raise ConfigError(
                f"config key model.thresholds.{strangers[0]}: not a command of {spec.name}"
                f" (its commands: {', '.join(spec.commands)}; 'default' for all)"
            )
        self.decoder = Decoder(
            spec.labels,
            {**spec.thresholds, **overrides},
            default,
            smoothing_steps=smoothing_steps(settings, spec),
            refractory_s=settings.refractory_ms / 1000,
        )
        self.times = StageTimes()
        # Evaluation hook: sees (stream time, utterance start, posteriors) of every inference and
        # (stream time, start, None) when the gate closes, to replay the decoder offline.
        self.posterior_hook: Callable[[float, float, npt.NDArray[np.float32] | None], None] | None
        self.posterior_hook = None

    def describe(self) -> str:
        """The decoder as it will run, for logs: cadence, smoothing, thresholds."""
        values = list(self.decoder.thresholds().items())
        common = max({v for _, v in values}, key=[v for _, v in values].count)
        others = ", ".join(f"{label} {v:.2f}" for label, v in values if v != common)
        return (
            f"inference every {self.timing[0]} ms, smoothing {self.timing[1]} ms, "
            f"threshold {common:.2f}" + (f" ({others})" if others else "")
        )

    @property
    def stream_s(self) -> float:
        """Stream time at the end of the last complete frame."""
        params = self.spec.frontend
        if self._frames_seen == 0:
            return 0.0
        return ((self._frames_seen - 1) * params.hop_samples + params.window_samples) / (
            params.sample_rate_hz
        )

    def reset(self) -> None:
        """Start a new stream (after the microphone was reopened)."""
        self._frontend.reset()
        self._ring.fill(np.log(self.spec.frontend.log_floor))
        self._quiet_row.fill(np.log(self.spec.frontend.log_floor))
        self._frames_seen = 0
        self.fed_s = 0.0
        self._since_infer = 0
        self._last_loud_s = -np.inf
        self._gate_open = False
        self.decoder.reset(new_stream=True)

    def feed(self, chunk: npt.NDArray[Any]) -> list[Detection]:
        seconds = chunk.shape[0] / self.spec.frontend.sample_rate_hz
        self.fed_s += seconds
        self.times.audio_s += seconds
        t0 = time.perf_counter()
        if self._silent(chunk):
            # Idle path: the window holds no loud frame and this chunk adds none, so the gate
            # stays shut; the frames it completes are taken as the last quiet frame.
            self._push_quiet(self._frontend.skip(chunk))
            self._close_gate(self.stream_s)
            self.times.frontend_s += time.perf_counter() - t0
            return []
        detections: list[Detection] = []
        for mel, dbfs in self._frontend.stream(chunk):
            for row in range(mel.shape[0]):
                self._push(mel[row])
                now_s = self.stream_s
                if dbfs[row] < self._gate_dbfs:
                    self._quiet_row[:] = mel[row]
                else:
                    if now_s - self._last_loud_s > self._window_s:
                        self._onset_s = now_s - self.spec.frontend.window_ms / 1000
                    self._last_loud_s = now_s
                if not self._due():
                    continue
                detection = self._infer(now_s)
                if detection is not None:
                    detections.append(detection)
        self.times.frontend_s += time.perf_counter() - t0
        return detections

    @property
    def idle(self) -> bool:
        """No loud frame inside the model's window: the next chunks can only hold speech onset,
        so a live reader may let them pile up and feed them together."""
        return self.stream_s - self._last_loud_s > self._window_s

    def _silent(self, chunk: npt.NDArray[Any]) -> bool:
        self.quiet_peak = None
        if chunk.dtype != np.int16 or chunk.shape[0] == 0:
            return False
        if not self.idle:
            return False
        self.quiet_peak = max(int(chunk.max()), -int(chunk.min()))
        return self.quiet_peak < self._gate_peak

    def _due(self) -> bool:
        """True (and restart the count) when this frame is an inference point."""
        if self._since_infer < self._infer_every or self._frames_seen < self._first_infer:
            return False
        self._since_infer = 0
        return True

    def _close_gate(self, now_s: float) -> None:
        if self._gate_open:
            self.decoder.reset()
            self._gate_open = False
            if self.posterior_hook is not None:
                self.posterior_hook(now_s, now_s, None)

    def _push(self, row: npt.NDArray[np.float32]) -> None:
        frames = self.spec.input_frames
        self._ring[self._write] = row
        self._ring[self._write + frames] = row
        self._write = (self._write + 1) % frames
        self._frames_seen += 1
        self._since_infer += 1

    def _push_quiet(self, n: int) -> None:
        """`n` times _push(quiet row) then _due(), in a few slice writes: an idle reader feeds
        200 ms (10 frames) at a time (46 -> 18 us back to back; woken per read, ~30 us less)."""
        if n == 0:
            return
        frames, row = self.spec.input_frames, self._quiet_row
        last = min(n, frames)  # only the newest `frames` rows stay in the ring
        start = (self._write + n - last) % frames
        head = min(last, frames - start)
        self._ring[start : start + head] = row
        self._ring[start + frames : start + frames + head] = row
        self._ring[: last - head] = row
        self._ring[frames : frames + last - head] = row
        self._write = (self._write + n) % frames
        # The inference count, as n calls of _due() leave it: counting up to the first frame
        # where an inference may fall, then cycling through 0 .. infer_every - 1.
        every, first = self._infer_every, self._first_infer
        waiting = min(n, max(0, first - 1 - self._frames_seen))
        self._frames_seen += n
        self._since_infer += waiting
        if n > waiting:
            self._since_infer = (min(self._since_infer, every - 1) + n - waiting) % every

    def _infer(self, now_s: float) -> Detection | None:
        # The gate stays open while any loud frame is inside the model's window.
        if now_s - self._last_loud_s > self._window_s:
            self._close_gate(now_s)
            return None
        self._gate_open = True
        t0 = time.perf_counter()
        posteriors = self.backend.infer(
            self._ring[self._write : self._write + self.spec.input_frames]
        )
        t1 = time.perf_counter()
        start_s = max(self._onset_s, now_s - self._window_s, 0.0)
        if self.posterior_hook is not None:
            self.posterior_hook(now_s, start_s, posteriors.copy())
        detection = self.decoder.update(posteriors, now_s, start_s)
        t2 = time.perf_counter()
        self.times.inference_s += t1 - t0
        self.times.decoder_s += t2 - t1
        self.times.frontend_s -= t2 - t0  # feed() times the whole loop; keep stages disjoint
        self.times.inferences += 1
        if detection is not None:
            self.times.detections += 1
        return detection
