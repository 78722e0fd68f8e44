"""`edge-asr record`: the microphone to a WAV file, through the daemon's own capture path."""

from __future__ import annotations

import logging
import signal
import time
import wave
from pathlib import Path
from types import FrameType

from .audio import MicrophoneSource
from .config import AudioSettings

log = logging.getLogger(__name__)

RATE_HZ = 16000


def record(audio: AudioSettings, out: Path, seconds: float) -> float:
    """Record up to `seconds` of 16 kHz mono to `out`; SIGINT/SIGTERM end it early with what was
    recorded kept (the header is always completed). Returns the seconds written."""
    stop = False

    def request_stop(_signum: int, _frame: FrameType | None) -> None:
        nonlocal stop
        stop = True

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    mic = MicrophoneSource(
        audio.device,
        audio.sample_rate_hz,
        RATE_HZ,
        audio.chunk_ms,
        audio.ring_s,
        audio.stall_timeout_s,
        realtime_priority=0,  # a recording may wait; nothing else competes for the GIL here
    )
    written = 0
    started = time.monotonic()
    try:
        with wave.open(str(out), "wb") as wav:
            wav.setnchannels(1)
            wav.setsampwidth(2)
            wav.setframerate(RATE_HZ)
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
