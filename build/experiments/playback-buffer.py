#!/usr/bin/env python3
"""What the live benchmark's playback costs the daemon (behind build/results/README.md's note
on CPU while speaking; not part of the product): captures the PulseAudio virtual microphone as
the daemon does (polled, 100 ms chunks) while a sample clip is played into it every 1.2 s, with
paplay's playback buffer at 20 ms (what build/bench-live uses, to know when an utterance ended)
and at 200 ms, and prints CPU % of a core and wake-ups per second for each thread.

  .venv/bin/python build/experiments/playback-buffer.py [SECONDS_PER_RUN]
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from _usage import arguments

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))

from pulse_mic import VirtualMic  # noqa: E402

from edge_asr.audio import MicrophoneSource  # noqa: E402
from edge_asr.bench import thread_times  # noqa: E402
from edge_asr.model import default_model_dir  # noqa: E402


def main() -> None:
    seconds = float((arguments(__doc__, 0, 1) or ["20"])[0])
    clip = sorted((default_model_dir() / "samples").glob("*.wav"))[0]
    VirtualMic.ensure_server()
    mic = VirtualMic()
    mic.create()
    os.environ.update(mic.env())
    source = MicrophoneSource("pulse", 16000, 16000, 100, 4.0, 2.0, 0, 1, "poll")
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            source.read(1)

    reader = threading.Thread(target=read, name="reader")
    reader.start()
    try:
        time.sleep(3)
        for latency_ms in (20, 200, 20, 200):
            before, began = thread_times(), time.monotonic()
            while time.monotonic() - began < seconds:
                play = ["paplay", f"--latency-msec={latency_ms}", f"--device={mic.sink}", str(clip)]
                subprocess.run(play, check=True)
                time.sleep(1.2)
            after, elapsed = thread_times(), time.monotonic() - began
            figures = ", ".join(
                f"{name} {100 * (cpu - before[name][0]) / elapsed:.3f} % "
                f"{(wakes - before[name][1]) / elapsed:.1f}/s"
                for name, (cpu, wakes) in sorted(after.items())
                if name in before and cpu > before[name][0]
            )
            print(f"playback buffer {latency_ms:3d} ms: {figures}")
    finally:
        stop.set()
        reader.join()
        source.close()
        mic.remove()


if __name__ == "__main__":
    main()
