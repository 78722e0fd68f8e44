"""The user's own recordings of the commands, added to the training split (`train --enroll`).

Trained on synthetic voices only, a model hears real people less well than it hears TTS; a few
recordings of the people who will use the device, folder per command (`DIR/<command>/*.wav`, as
`edge-asr calibrate --commands` reads them), teach it those voices (with a TTS voice standing in
for a person: build/results/ablation-enroll.json). Each
recording is trimmed to its speech, stored in the clip cache like a synthesised clip (engine
"user"), and augmented into ENROLL_COPIES times as many training windows as a TTS clip, so a
handful of recordings weighs about as much as one synthetic voice.
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from edge_asr.audio import read_wav, speech_span
from edge_asr.calibrate import labelled_clips
from edge_asr.train.tts import SAMPLE_RATE_HZ, TtsCache, VoiceSpec
from edge_asr.train.windows import USER_ENGINE, Row

log = logging.getLogger(__name__)

ENGINE = USER_ENGINE
ENROLL_COPIES = 8  # training windows per recording, in units of a TTS clip's copies
MARGIN_S = 0.1  # kept around the speech when trimming


def trim_to_speech(
    audio: npt.NDArray[np.int16], rate: int = SAMPLE_RATE_HZ
) -> npt.NDArray[np.int16]:
    """The stretch from the first to the last 10 ms frame within 30 dB of the loudest frame,
    plus MARGIN_S each side: a recording's leading and trailing silence would otherwise push
    the word out of the randomly placed training window."""
    start, end = speech_span(audio, rate, within_db=30.0)
    if end == 0:
        return audio
    margin = int(MARGIN_S * rate)
    return audio[max(0, start - margin) : min(audio.shape[0], end + margin)]


def enrollment_rows(folder: Path, commands: Sequence[str], cache: TtsCache) -> list[Row]:
    """Training rows for every recording under folder/<command>/, their audio put in `cache`.

    A recording is keyed by its samples, so renaming a file changes nothing and editing one
    changes the dataset's recipe hash.
    """
    if not folder.is_dir():
        raise ValueError(f"--enroll {folder}: not a folder")
    rows = []
    for path, label in labelled_clips(folder, commands):
        try:
            audio = trim_to_speech(read_wav(path, SAMPLE_RATE_HZ))
        except (OSError, ValueError) as exc:
            raise ValueError(f"{path}: {exc}") from None
        if not np.any(audio):
            raise ValueError(f"{path}: the recording is silent")
        digest = hashlib.sha256(audio.tobytes()).hexdigest()[:16]
        voice = VoiceSpec(ENGINE, digest)
        clip_path = cache.path(label, voice)
        if not clip_path.exists():
            cache.put(clip_path, audio)
        rows.append(Row("train", label, label, voice))
    if not rows:
        raise ValueError(f"--enroll {folder}: no WAV files in its command folders")
    per_command = Counter(row.label for row in rows)
    missing = [c for c in commands if c not in per_command]
    log.info(
        "enrolled %d recordings of %d commands%s",
        len(rows),
        len(per_command),
        f" (none of: {', '.join(missing)})" if missing else "",
    )
    return rows


def summary(rows: Sequence[Row]) -> dict[str, int]:
    """Recordings per command of enrollment_rows' rows, for dataset.json and model.json."""
    return dict(sorted(Counter(row.label for row in rows).items()))
