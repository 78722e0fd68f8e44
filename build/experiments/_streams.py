"""Which stretch of a negative stream a detection fired in (the experiments run as files, so
this sits beside them)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from edge_asr.decoder import Detection


class Segments:
    """A stream's segments (its JSON beside the WAV: speech with voice and text, music, noise,
    silence), looked up by the time a detection fired."""

    def __init__(self, wav: Path) -> None:
        self.items: list[dict[str, Any]] = json.loads(wav.with_suffix(".json").read_text())[
            "segments"
        ]
        self._ends = np.array([s["end_s"] for s in self.items])

    def under(self, detection: Detection, window_s: float) -> dict[str, Any]:
        """The segment under the middle of the window that fired: a detection comes up to a
        smoothing span after its word, often in the gap after a sentence (part of its segment)."""
        mid = max(0.0, detection.end_s - window_s / 2)
        return self.items[min(int(np.searchsorted(self._ends, mid)), len(self.items) - 1)]


def speaker(segment: dict[str, Any]) -> str:
    """ "engine:voice" of a segment without its rate and pitch ("_r0.90p1.00"), or the segment's
    kind when nobody speaks in it."""
    name = segment.get("voice")
    return str(name).rsplit("_r", 1)[0] if name else str(segment["kind"])
