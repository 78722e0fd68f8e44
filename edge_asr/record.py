"""`edge-asr record` and `edge-asr enroll`: the microphone to WAV files, through the daemon's own
capture path: one long recording of a room, or prompted takes of each command."""

from __future__ import annotations

import logging
import signal
import time
import wave
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType

import numpy as np
import numpy.typing as npt

from .audio import MicrophoneSource, frame_power
from .config import AudioSettings

log = logging.getLogger(__name__)

RATE_HZ = 16000


class OutputError(Exception):
    """Where the recording should go cannot be written (found before the microphone opens)."""


def record(audio: AudioSettings, out: Path, seconds: float) -> float:
    """Record up to `seconds` of 16 kHz mono to `out`; SIGINT/SIGTERM end it early with what was
    recorded kept (the header is always completed). Returns the seconds written."""
    stop = False

    def request_stop(_signum: int, _frame: FrameType | None) -> None:
        nonlocal stop
        stop = True

    # Before the microphone: a wrong path is told at once, not after the recording. Appending
    # nothing creates a missing file and leaves an existing one as it was.
    created = not out.exists()
    try:
        out.open("ab").close()
    except OSError as exc:
        raise OutputError(f"{out}: cannot write ({exc.strerror})") from None
    try:
        mic = _open(audio)
    except BaseException:
        if created:
            out.unlink(missing_ok=True)  # nothing was recorded
        raise
    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    written = 0
    started = time.monotonic()
    try:
        with wave.open(str(out), "wb") as wav:
            _header(wav)
            log.info("recording %.0f s from %r to %s", seconds, mic.device_name, out)
            while not stop and written < seconds * RATE_HZ:
                chunk = mic.read()
                if chunk is None:
                    break
                chunk = chunk[: int(seconds * RATE_HZ) - written]
                wav.writeframes(chunk.astype("<i2").tobytes())
                written += chunk.shape[0]
    finally:
        mic.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if mic.overruns:
        log.warning("%d capture overruns: the recording has gaps", mic.overruns)
    log.info("recorded %.1f s in %.1f s", written / RATE_HZ, time.monotonic() - started)
    return written / RATE_HZ


# A take is heard when its loudest 10 ms is above this; below, the microphone caught nothing.
TAKE_MIN_DBFS = -45.0
TAKE_TRIES = 3


def record_takes(
    audio: AudioSettings,
    folder: Path,
    commands: Sequence[str],
    takes: int,
    seconds: float,
    prompt: Callable[[str], None],
) -> list[Path]:
    """Prompt for each command `takes` times and write folder/<command>/take-N.wav (spaces in a
    command as "_", numbering after the takes already there, so a second run adds takes). A
    take with nothing loud in it is asked for again, up to TAKE_TRIES times."""
    try:
        for command in commands:
            (folder / command.replace(" ", "_")).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{exc.filename}: cannot create ({exc.strerror})") from None
    mic = _open(audio)
    written: list[Path] = []
    n = int(seconds * RATE_HZ)
    try:
        mic.read()  # the first prompt waits until the sound server delivers audio
        for command in commands:
            target = folder / command.replace(" ", "_")  # made above
            first = 1 + _last_take(target)
            for k in range(first, first + takes):
                for attempt in range(TAKE_TRIES):
                    again = " again" if attempt else ""
                    prompt(f'say "{command}"{again} (take {k - first + 1} of {takes})')
                    mic.drain()  # nothing said before the prompt
                    take = _capture(mic, n)
                    if _peak_dbfs(take) >= TAKE_MIN_DBFS:
                        break
                    prompt(f"heard nothing (loudest {_peak_dbfs(take):.0f} dBFS)")
                else:
                    log.warning("no take of %r was heard: check the microphone", command)
                    continue
                path = target / f"take-{k}.wav"
                with wave.open(str(path), "wb") as wav:
                    _header(wav)
                    wav.writeframes(take.astype("<i2").tobytes())
                written.append(path)
    finally:
        mic.close()
    return written


def _last_take(folder: Path) -> int:
    """The highest N of folder/take-N.wav (0 if none): new takes never overwrite old ones."""
    numbers = [p.stem.removeprefix("take-") for p in folder.glob("take-*.wav")]
    return max((int(n) for n in numbers if n.isdigit()), default=0)


def _capture(mic: MicrophoneSource, n: int) -> npt.NDArray[np.int16]:
    out = np.zeros(n, np.int16)
    filled = 0
    while filled < n:
        chunk = mic.read()
        if chunk is None:
            break
        part = chunk[: n - filled]
        out[filled : filled + part.shape[0]] = part
        filled += part.shape[0]
    return out


def _peak_dbfs(audio: npt.NDArray[np.int16]) -> float:
    """Level of the loudest 10 ms of `audio`, in dB below full scale."""
    power = frame_power(audio, RATE_HZ)
    if power.size == 0:
        return float("-inf")
    return float(10 * np.log10(max(float(power.max()), 1e-3) / 32768.0**2))


def _open(audio: AudioSettings) -> MicrophoneSource:
    return MicrophoneSource(
        audio.device,
        audio.sample_rate_hz,
        RATE_HZ,
        audio.chunk_ms,
        audio.ring_s,
        audio.stall_timeout_s,
        realtime_priority=0,  # a recording may wait; nothing else competes for the GIL here
        capture=audio.capture,
    )


def _header(wav: wave.Wave_write) -> None:
    wav.setnchannels(1)
    wav.setsampwidth(2)
    wav.setframerate(RATE_HZ)
