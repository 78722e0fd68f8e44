#!/usr/bin/env python3
"""Where the running daemon's resident memory is (behind build/results/README.md's memory notes;
not part of the product): `edge-asr run` on the PulseAudio virtual microphone and a local
mosquitto, as build/bench-live starts it, its RSS sampled every 10 ms from exec to READY and
over five spoken sample clips, then /proc/PID/smaps summed by mapping: anonymous and heap
memory against each library's resident pages.

  .venv/bin/python build/experiments/daemon-memory.py [onnx|tflite] [NAME=VALUE ...]
  .venv/bin/python build/experiments/daemon-memory.py imports

NAME=VALUE pairs go into the daemon's environment (e.g. MALLOC_ARENA_MAX=2). `imports` instead
imports what the daemon imports, one package at a time in its order, in this process, and
prints what each adds (anonymous and file pages).
"""

from __future__ import annotations

import collections
import json
import os
import threading
import time
from pathlib import Path
from typing import Any

from _live import ready_daemon
from _usage import arguments


def status_mb(pid: int) -> dict[str, float]:
    keys = ("VmRSS", "VmHWM", "RssAnon", "RssFile")
    lines = [line.split(":") for line in Path(f"/proc/{pid}/status").read_text().splitlines()]
    return {k: round(int(v.split()[0]) / 1024, 1) for k, v in lines if k in keys}


def by_mapping(pid: int) -> dict[str, float]:
    rss: collections.Counter[str] = collections.Counter()
    name = "[anon]"
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        parts = line.split()
        if "-" in parts[0] and ":" not in parts[0]:  # a mapping's header line
            name = parts[5] if len(parts) > 5 else "[anon]"
        elif parts[0] == "Rss:":
            rss[name] += int(parts[1])
    return {k: round(v / 1024, 1) for k, v in rss.most_common(20)}


def main(backend: str, extra_env: dict[str, str]) -> dict[str, object]:
    from edge_asr.model import default_model_dir

    peaks: list[tuple[float, float]] = []  # (seconds since exec, each new peak 5 MB up)
    done = threading.Event()

    def sample(daemon: Any) -> None:
        started = time.monotonic()
        while not done.is_set():
            try:
                hwm = status_mb(daemon.proc.pid)["VmHWM"]
            except (OSError, KeyError):
                return
            if not peaks or hwm >= peaks[-1][1] + 5:
                peaks.append((round(time.monotonic() - started, 2), hwm))
            time.sleep(0.01)

    def start_sampling(daemon: Any) -> None:
        threading.Thread(target=sample, args=(daemon,), daemon=True).start()

    flags = ("--backend", backend)
    with ready_daemon("memory", extra_env, *flags, on_start=start_sampling) as live:
        daemon, mic, ready = live.daemon, live.mic, live.ready_s
        at_ready = status_mb(daemon.proc.pid)
        time.sleep(4)
        for clip in sorted((default_model_dir() / "samples").glob("*.wav"))[:5]:
            mic.play(clip)
            time.sleep(0.8)
        time.sleep(1)
        done.set()
        pid = daemon.proc.pid
        return {
            "backend": backend,
            "env": extra_env,
            "ready_s": round(ready, 2),
            "at_ready_mb": at_ready,
            "after_speech_mb": status_mb(pid),
            "peak_mb_every_5": peaks,
            "top_mappings_mb": by_mapping(pid),
        }


IMPORT_ORDER = (
    "edge_asr", "numpy", "pydantic", "pydantic_settings", "edge_asr.config", "paho.mqtt.client",
    "onnxruntime", "pyaudio", "edge_asr.daemon", "edge_asr.cli",
)  # fmt: skip


def imports() -> dict[str, dict[str, float]]:
    import importlib

    out, before = {}, status_mb(os.getpid())
    for name in IMPORT_ORDER:
        importlib.import_module(name)
        now = status_mb(os.getpid())
        out[name] = {k: round(now[k] - before[k], 1) for k in ("RssAnon", "RssFile")}
        before = now
    out["total"] = {k: now[k] for k in ("VmRSS", "RssAnon", "RssFile")}
    return out


if __name__ == "__main__":
    args = arguments(__doc__, 0)
    if args == ["imports"]:
        print(json.dumps(imports(), indent=1))
        raise SystemExit(0)
    backend = args[0] if args and "=" not in args[0] else "onnx"
    extra = dict(a.split("=", 1) for a in args if "=" in a)
    print(json.dumps(main(backend, extra), indent=1))
