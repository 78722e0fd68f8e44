"""Real human voices: EVALUATION ONLY, never training or tuning thresholds.

The recordings with transcripts that the machine's Debian packages carry, and how a model's
detections on them are scored:
- Asterisk's prompts (asterisk-core-sounds-en-wav): one woman, 8 kHz telephone; the digits
  0-9 one per file, and the other number words, which must stay silent.
- pocketsphinx's test recordings (pocketsphinx-testdata): other speakers, 16 kHz, commands
  inside running speech ("four queen of clubs", "five five", "two nine three four zero", "go
  forward ten meters") and five sentences of a LibriVox reading; transcripts from the
  package's own files.
- ALSA's speaker-test voice (alsa-utils, /usr/share/sounds/alsa): one speaker, 48 kHz, "front
  left", "rear right", "side left", ...: "left" and "right" at the end of a two-word phrase,
  the transcript being the file name; Noise.wav is noise, and nothing in it is a command.
A recording scores the commands said that were heard in the order said, and the detections of
commands never said. Words that merely sound like a command ("to", "for") are not commands.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ..audio import read_wav
from ..resample import Resampler

log = logging.getLogger(__name__)

# asterisk-core-sounds-en points sounds/en at the speaker's folder; without it (apt's
# --no-install-recommends) only the folder itself is there.
HUMAN_DIGITS_DIRS = (
    Path("/usr/share/asterisk/sounds/en/digits"),
    Path("/usr/share/asterisk/sounds/en_US_f_Allison/digits"),
)
SPHINX_DIR = Path("/usr/share/pocketsphinx/test/data")
ALSA_DIR = Path("/usr/share/sounds/alsa")
DIGIT_WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
NUMBER_WORDS = {
    **{str(i): w for i, w in enumerate(DIGIT_WORDS)},
    "10": "ten", "11": "eleven", "12": "twelve", "13": "thirteen", "14": "fourteen",
    "15": "fifteen", "16": "sixteen", "17": "seventeen", "18": "eighteen", "19": "nineteen",
    "20": "twenty", "30": "thirty", "40": "forty", "50": "fifty", "60": "sixty",
    "70": "seventy", "80": "eighty", "90": "ninety",
}  # fmt: skip
GROUPS = ("asterisk", "pocketsphinx", "alsa")
TIDIGITS = {"z": "zero", "o": "oh", **{str(i): w for i, w in enumerate(DIGIT_WORDS)}}


@dataclass(frozen=True)
class Recording:
    group: str  # one of GROUPS
    path: Path
    transcript: str

    def audio(self, sample_rate_hz: int) -> npt.NDArray[np.int16]:
        if self.path.suffix == ".raw":  # headerless 16 kHz 16-bit mono
            raw = np.frombuffer(self.path.read_bytes(), dtype="<i2").astype(np.int16)
            if sample_rate_hz == 16000:
                return raw
            return Resampler(16000, sample_rate_hz).process(raw, final=True)
        return read_wav(self.path, sample_rate_hz)

    def said(self, commands: Sequence[str]) -> list[str]:
        """The commands in the transcript, in order; the longest phrase wins where they overlap."""
        words = self.transcript.split()
        phrases = sorted((c.split() for c in commands), key=len, reverse=True)
        out, i = [], 0
        while i < len(words):
            hit = next((p for p in phrases if words[i : i + len(p)] == p), None)
            if hit:
                out.append(" ".join(hit))
            i += len(hit) if hit else 1
        return out


def human_clips(commands: Sequence[str]) -> list[tuple[Path, str]]:
    """Asterisk's digits as labelled clips: 0-9 are positives where the model has them as
    commands; every other number word (and digits it lacks) must not be accepted."""
    out = []
    if not any(d.is_dir() for d in HUMAN_DIGITS_DIRS):
        log.warning(
            "no human recordings (asterisk-core-sounds-en-wav): the card will have no human figure"
        )
    for r in recordings(sphinx=False):
        word = r.transcript
        out.append((r.path, word if word in commands and word in DIGIT_WORDS else "_unknown_"))
    return out


def recordings(asterisk: bool = True, sphinx: bool = True, alsa: bool = True) -> list[Recording]:
    """Every human recording with a transcript found on this machine."""
    found: list[Recording] = []
    folder = next((d for d in HUMAN_DIGITS_DIRS if d.is_dir()), None)
    if asterisk and folder is not None:
        for path in sorted(folder.glob("*.wav")):
            if path.stem in NUMBER_WORDS:
                found.append(Recording("asterisk", path, NUMBER_WORDS[path.stem]))
    if sphinx and SPHINX_DIR.is_dir():
        for listing in (SPHINX_DIR / "cards" / "cards.transcription",
                        SPHINX_DIR / "librivox" / "transcription"):  # fmt: skip
            for line in listing.read_text().splitlines():
                m = re.fullmatch(r"<s>(.*)</s>\s*\(([\w-]+)\)", line.strip())
                if m:
                    path = listing.parent / f"{m[2]}.wav"
                    found.append(Recording("pocketsphinx", path, m[1].strip()))
        for raw in sorted((SPHINX_DIR / "tidigits").glob("*.raw")):  # name = the digits said
            said = " ".join(TIDIGITS[c] for c in raw.stem.split(".")[-1] if c in TIDIGITS)
            found.append(Recording("pocketsphinx", raw, said))
        m = re.search(r"public <move> = ([a-z ]+);", (SPHINX_DIR / "goforward.gram").read_text())
        if m:
            found.append(Recording("pocketsphinx", SPHINX_DIR / "goforward.raw", m[1].strip()))
    if alsa and ALSA_DIR.is_dir():
        for path in sorted(ALSA_DIR.glob("*.wav")):  # Front_Left.wav says "front left"
            said = "" if path.stem == "Noise" else path.stem.replace("_", " ").lower()
            found.append(Recording("alsa", path, said))
    return found


def matched(said: Sequence[str], heard: Sequence[str]) -> int:
    """How many of the commands said were heard in the order said (longest common subsequence)."""
    above = [0] * (len(heard) + 1)
    for s in said:
        row = [0]
        for j, h in enumerate(heard, 1):
            row.append(above[j - 1] + 1 if s == h else max(above[j], row[j - 1]))
        above = row
    return above[-1]


def score(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Totals over rows of {said, detections, seconds}."""
    said = sum(len(r["said"]) for r in rows)
    heard = sum(matched(r["said"], r["detections"]) for r in rows)
    return {
        "recordings": len(rows),
        "seconds": round(sum(r["seconds"] for r in rows), 1),
        "commands_said": said,
        "commands_heard": heard,
        "heard_rate": round(heard / said, 4) if said else None,
        "detections_never_said": sum(len(r["detections"]) for r in rows) - heard,
    }
