"""pocketsphinx 5 keyword-list spotting over the model's commands: thresholds and a spotter.

Per-word thresholds follow the usual CMU Sphinx advice (longer keyphrases need smaller
thresholds): 1e-(BASE + PER_PHONE * phones), with phones from the bundled en-us dictionary.
That gives 1e-18 for two-phone words ("no", "go") up to 1e-30 for five-phone "seven", inside
the 1e-20..1e-30 range commonly used. `offset` moves every exponent together (the DET sweep:
+ stricter, - more permissive). Chosen a priori; never tuned on the test clips. Measured: at
offset 0 it fires thousands of times per hour on non-command speech; even with thresholds far
above 1 (offset +80..+150) a few "yes"/"six" detections remain, so its FA/h has a floor.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

BASE = 10
PER_PHONE = 4
FRAME_S = 0.01  # pocketsphinx's 100 frames/s


def _dictionary() -> Path:
    from pocketsphinx import get_model_path

    return Path(get_model_path()) / "en-us" / "cmudict-en-us.dict"


def phones(words: list[str]) -> dict[str, int]:
    wanted = set(words)
    found: dict[str, int] = {}
    for line in _dictionary().read_text().splitlines():
        head, _, pron = line.partition(" ")
        if head in wanted and head not in found:
            found[head] = len(pron.split())
    missing = wanted - set(found)
    if missing:
        raise ValueError(f"not in the en-us dictionary: {sorted(missing)}")
    return found


def exponents(words: list[str], offset: float = 0.0) -> dict[str, float]:
    """Threshold exponent per word: threshold = 10 ** exponent."""
    return {w: -(BASE + PER_PHONE * n) + offset for w, n in phones(words).items()}


class Spotter:
    """Feeds int16 audio in process_raw chunks; a detection restarts the utterance."""

    def __init__(self, words: list[str], offset: float = 0.0, kws_dir: Path | None = None) -> None:
        import tempfile

        from pocketsphinx import Decoder

        lines = "".join(f"{w} /1e{e:+.0f}/\n" for w, e in exponents(words, offset).items())
        folder = kws_dir or Path(tempfile.gettempdir())
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"kws-{offset:+.0f}-pid{os.getpid()}.list"  # one writer per file
        path.write_text(lines)
        self.kws_text = lines
        self.decoder = Decoder(kws=str(path), loglevel="FATAL")
        self._samples = 0  # since the start of the stream
        self._utt_start = 0
        self.decoder.start_utt()

    def reset(self) -> None:
        self.decoder.end_utt()
        self._samples = self._utt_start = 0
        self.decoder.start_utt()

    def feed(self, chunk: np.ndarray | bytes) -> list[tuple[str, float]]:
        """(word, end time in s) for each keyword reported by this chunk; when one hypothesis
        holds several overlapping keywords, the one with pocketsphinx's best score is taken."""
        data = chunk if isinstance(chunk, bytes) else chunk.tobytes()
        self.decoder.process_raw(data, False, False)
        self._samples += len(data) // 2
        if self.decoder.hyp() is None:
            return []
        segs: list[Any] = list(self.decoder.seg())
        self.decoder.end_utt()
        base = self._utt_start / 16000
        self._utt_start = self._samples
        self.decoder.start_utt()
        if not segs:
            return []
        best = max(segs, key=lambda s: s.prob)
        return [(best.word.strip(), base + best.end_frame * FRAME_S)]

    def close(self) -> None:
        self.decoder.end_utt()


def spot_clip(spotter: Spotter, audio: np.ndarray, chunk: int = 1600) -> list[str]:
    """Words spotted in one clip (plus the 0.5 s trailing pad edge-asr's evaluation adds)."""
    spotter.reset()
    padded = np.concatenate([audio, np.zeros(8000, np.int16)])
    found: list[str] = []
    for pos in range(0, padded.shape[0], chunk):
        found += [w for w, _ in spotter.feed(padded[pos : pos + chunk])]
    return found


def spot_stream(
    spotter: Spotter, audio: np.ndarray, chunk: int = 1600, refractory_s: float = 1.0
) -> list[tuple[str, float]]:
    """Detections over a long stream; like edge-asr's decoder, a 1 s refractory period."""
    spotter.reset()
    out: list[tuple[str, float]] = []
    for pos in range(0, audio.shape[0], chunk):
        for word, t in spotter.feed(audio[pos : pos + chunk]):
            if not out or t - out[-1][1] >= refractory_s:
                out.append((word, t))
    return out
