#!/usr/bin/env python3
"""What an idle daemon writes to disk (behind build/results/status-writes.json; not part of the
product): `edge-asr run` (the shipped model, ONNX) on the PulseAudio virtual microphone and a
local mosquitto, as build/bench-live starts it, left idle 10 s, then its /proc/PID/io read
SECONDS apart, with the syscalls that write files traced (strace) in between. write_bytes counts
the page-cache pages the process dirtied, file data and filesystem metadata alike.

  .venv/bin/python build/experiments/idle-writes.py SECONDS [NAME=VALUE ...]

NAME=VALUE pairs go into the daemon's environment, e.g. EDGE_ASR_OUTBOX__STATUS_DIR=/dev/shm/x.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
import time
from pathlib import Path

from _live import ready_daemon
from _usage import arguments

TRACED = "write,pwrite64,writev,openat,rename,renameat,renameat2,unlink,mkdir"


def io(pid: int) -> dict[str, int]:
    lines = Path(f"/proc/{pid}/io").read_text().splitlines()
    return {k: int(v) for k, v in (line.split(": ") for line in lines)}


def main(seconds: float, extra_env: dict[str, str]) -> dict[str, object]:
    with ready_daemon("idle-writes", extra_env, "--backend", "onnx") as live:
        daemon = live.daemon
        time.sleep(10)
        pid = daemon.proc.pid
        trace = Path(tempfile.mkdtemp(prefix="idle-writes-")) / "strace.txt"
        before = io(pid)
        tracer = subprocess.Popen(["strace", "-f", "-y", "-p", str(pid), "-e", f"trace={TRACED}",
                                   "-o", str(trace)], stderr=subprocess.DEVNULL)  # fmt: skip
        time.sleep(seconds)
        tracer.terminate()
        tracer.wait()
        after = io(pid)
    files = [
        line.split("<", 1)[1].split(">", 1)[0]
        for line in trace.read_text().splitlines()
        if line.split()[1].startswith(("write(", "pwrite64(", "writev(")) and "<" in line
    ]
    files = [f for f in files if f.startswith("/")]  # not sockets, pipes or memfds
    return {
        "seconds": seconds,
        "env": extra_env,
        "write_bytes": after["write_bytes"] - before["write_bytes"],
        "file_writes": {f: files.count(f) for f in sorted(set(files))},
    }


if __name__ == "__main__":
    args = arguments(__doc__, 1)
    extra = dict(a.split("=", 1) for a in args[1:])
    print(json.dumps(main(float(args[0]), extra)))
