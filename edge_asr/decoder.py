"""Posteriors to detections: smoothing, per-command thresholds, refractory period. Pure, no I/O."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from .model import is_internal

_FLOAT32_TINIEST = float(np.nextafter(np.float32(0), np.float32(1)))


@dataclass(frozen=True)
class Detection:
    command: str
    score: float
    start_s: float  # stream time of the utterance's estimated start
    end_s: float  # stream time at which the command was recognized


class Decoder:
    """Fires once per utterance when a command's smoothed posterior reaches its threshold.

    After a detection nothing fires for `refractory_s`, and the same command fires again only
    after its score has dropped below threshold (so a long word is one detection).
    """

    def __init__(
        self,
        labels: Sequence[str],
        thresholds: Mapping[str, float],
        default_threshold: float,
        smoothing_steps: int = 2,
        refractory_s: float = 1.0,
    ) -> None:
        self.labels = tuple(labels)
        self._publishable = np.array([not is_internal(label) for label in self.labels])
        self._thresholds = np.full(len(self.labels), default_threshold, dtype=np.float32)
        for label, value in thresholds.items():
            self.set_threshold(label, value)
        self._history = np.zeros((max(1, smoothing_steps), len(self.labels)), dtype=np.float32)
        self._smoothed = np.zeros(len(self.labels), dtype=np.float32)
        self._steps = 0
        self._refractory_s = refractory_s
        self._quiet_until = -np.inf
        self._armed = np.ones(len(self.labels), dtype=bool)

    def set_threshold(self, label: str, value: float) -> None:
        if label not in self.labels or is_internal(label):
            raise ValueError(f"unknown command {label!r}")
        if not 0.0 < value <= 1.0:
            raise ValueError(f"threshold for {label!r} must be in (0, 1], got {value}")
        # Kept above 0 in float32 too (1e-320 would store as 0.0, outside the range it passed).
        self._thresholds[self.labels.index(label)] = max(value, _FLOAT32_TINIEST)

    def thresholds(self) -> dict[str, float]:
        return {
            label: float(value)
            for label, value, ok in zip(
                self.labels, self._thresholds, self._publishable, strict=True
            )
            if ok
        }

    def reset(self, new_stream: bool = False) -> None:
        """Forget the smoothing history (the audio gate closed); for a new stream, whose clock
        starts again at zero, also the refractory period."""
        self._steps = 0
        self._history.fill(0.0)
        self._armed.fill(True)
        if new_stream:
            self._quiet_until = -np.inf

    def update(
        self, posteriors: npt.NDArray[np.float32], now_s: float, start_s: float
    ) -> Detection | None:
        """Feed one posterior vector computed at stream time now_s."""
        self._history[self._steps % self._history.shape[0]] = posteriors
        self._steps += 1
        rows = min(self._steps, self._history.shape[0])
        np.mean(self._history[:rows], axis=0, out=self._smoothed)
        above = self._smoothed >= self._thresholds
        np.logical_or(self._armed, ~above, out=self._armed)  # re-arm once below threshold
        if now_s < self._quiet_until:
            return None
        best = int(np.argmax(self._smoothed))
        if not (self._publishable[best] and above[best] and self._armed[best]):
            return None
        self._armed[best] = False
        self._quiet_until = now_s + self._refractory_s
        return Detection(self.labels[best], float(self._smoothed[best]), start_s, now_s)
