#!/usr/bin/env python3
"""What a slow disk costs listening (behind build/results/probe-slow-disk.json; not part of the
product): the shipped model's `edge-asr run` on the PulseAudio virtual microphone and a local
mosquitto, with every fsync() and fdatasync() of the daemon made DELAY_MS slower by
tests/slow_sync.c (LD_PRELOAD; an SD card busy with its own housekeeping can hold an fsync that
long), capturing through a 0.5 s ring (`audio.capture = "callback"`, which counts what
overflows it, as a sound card's buffer would; polled through PulseAudio the sound server keeps
the audio and hides a stall). Plays the model's sample clips one after another, 1 s apart, and
prints, per delay, the commands heard and published and the capture overruns logged.

  .venv/bin/python build/experiments/slow-disk.py OUT_JSON [DELAY_MS ...]   (default 0 300 1000)
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

from _live import ROOT, ready_daemon
from _usage import arguments

sys.path.insert(0, str(ROOT / "tests"))

from mqtt_broker import Subscriber
from slow_sync import slow_sync_env

from edge_asr.model import default_model_dir


def in_order(published: list[str], played: list[str]) -> int:
    """How many of the published commands match the played words, in the order played."""
    left = iter(played)
    return sum(word in left for word in published)


def run(delay_ms: int, clips: list[Path]) -> dict[str, object]:
    env = {
        **slow_sync_env(Path(tempfile.mkdtemp(prefix="slow-disk-")), delay_ms),
        "EDGE_ASR_AUDIO__CAPTURE": "callback",
        "EDGE_ASR_AUDIO__RING_S": "0.5",
    }
    with ready_daemon(f"slow-disk-{delay_ms}", env) as (daemon, mic, broker, ready_s):
        topic = f"edge-asr/slow-disk-{delay_ms}/command"
        sub = Subscriber(broker, [topic])
        time.sleep(2.5)  # the sound server's first buffers
        for clip in clips:
            mic.play(clip)
            time.sleep(1.0)
        deadline = time.monotonic() + 10 + 3 * delay_ms / 1000 * len(clips)
        while len(sub.on(topic)) < daemon.output.count(" heard ") and time.monotonic() < deadline:
            time.sleep(0.2)
        published = [json.loads(m.payload)["command"] for m in sub.on(topic)]
        sub.close()
        output = daemon.output
    return {
        "delay_ms": delay_ms,
        "ready_s": round(ready_s, 2),
        "played": [clip.stem for clip in clips],
        "published": published,
        "published_in_order_right": in_order(published, [clip.stem for clip in clips]),
        "overrun_lines": output.count("capture overrun"),
    }


def main(out: Path, delays: list[int]) -> None:
    clips = sorted((default_model_dir() / "samples").glob("*.wav"))[::2][:8]
    results = []
    for delay in delays:
        result = run(delay, clips)
        results.append(result)
        print(
            f"fsync +{delay:5d} ms: {len(result['published'])} published of {len(clips)} played,"  # type: ignore[arg-type]
            f" overruns logged {result['overrun_lines']}, ready {result['ready_s']} s",
            flush=True,
        )
    out.write_text(json.dumps({"runs": results}, indent=1) + "\n")


if __name__ == "__main__":
    args = arguments(__doc__, 1)
    main(Path(args[0]), [int(a) for a in args[1:]] or [0, 300, 1000])
