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
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _usage import arguments

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))

from daemon_proc import Daemon  # noqa: E402
from mqtt_broker import MosquittoBroker  # noqa: E402
from pulse_mic import VirtualMic  # noqa: E402

from edge_asr.model import default_model_dir  # noqa: E402

TRACED = "write,pwrite64,writev,openat,rename,renameat,renameat2,unlink,mkdir"


def io(pid: int) -> dict[str, int]:
    return {k: int(v) for k, v in (line.split(": ") for line in open(f"/proc/{pid}/io"))}


def main(seconds: float, extra_env: dict[str, str]) -> dict[str, object]:
    VirtualMic.ensure_server()
    mic = VirtualMic()
    mic.create()
    work = Path(tempfile.mkdtemp(prefix="idle-writes-"))
    broker = MosquittoBroker(work / "broker")
    broker.start()
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(work / "notify.sock"))
    env = {**mic.env(), "NOTIFY_SOCKET": str(work / "notify.sock"), **extra_env}
    daemon = Daemon(default_model_dir(), broker, work / "state", "idle", env, "--backend", "onnx")
    try:
        notify.settimeout(30)
        while b"READY=1" not in notify.recv(4096):
            pass
        time.sleep(10)
        pid = daemon.proc.pid
        trace = work / "strace.txt"
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
    finally:
        daemon.terminate()
        broker.stop()
        mic.remove()
        notify.close()
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
