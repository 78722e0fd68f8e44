"""Shared helpers: paths, the deterministic 10-minute peer stream, child runs, JSON and tables."""

from __future__ import annotations

import json
import os
import platform
import shlex
import subprocess
import sys
import wave
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from edge_asr.audio import read_wav  # noqa: E402
from edge_asr.model import default_model_dir, is_internal, load_spec  # noqa: E402
from edge_asr.train.evaluate import heldout_clips  # noqa: E402
from edge_asr.train.tts import DEFAULT_CACHE_DIR  # noqa: E402

CACHE = DEFAULT_CACHE_DIR
BENCH = CACHE / "bench"
DATASET = CACHE / "datasets" / "speech-commands-20"
NEGATIVE = CACHE / "negative-stream-60min-seed0.wav"
RESULTS = ROOT / "build" / "results"
RATE = 16000


def command_line() -> str:
    """The exact command that produced the figures (printed and stored with them)."""
    return " ".join(shlex.quote(a) for a in [os.path.relpath(sys.executable, ROOT), *sys.argv])


def machine() -> dict[str, Any]:
    return {
        "machine": platform.machine(),
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
    }


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


def write_wav(path: Path, audio: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with wave.open(str(tmp), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(np.ascontiguousarray(audio, "<i2").tobytes())
    tmp.replace(path)


def _pink(n: int, rng: np.random.Generator) -> np.ndarray:
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1 / RATE)
    f[0] = f[1]
    spec *= (f / 20.0) ** -0.5
    x = np.fft.irfft(spec, n)
    return x / (np.sqrt(np.mean(x**2)) + 1e-12)


def peer_stream(minutes: float = 10.0, seed: int = 0) -> tuple[Path, dict[str, Any]]:
    """Held-out test clips (commands and non-commands) spaced by 1-3 s over a background that
    alternates every 30 s between near-silence (-80 dBFS, under edge-asr's -60 dBFS gate) and
    room noise (pink, -45 dBFS, above the gate, so edge-asr infers continuously there).
    Deterministic for (minutes, seed); cached under ~/.cache/edge-asr/bench/."""
    path = BENCH / f"peer-stream-{minutes:g}min-seed{seed}.wav"
    manifest = path.with_suffix(".json")
    if path.is_file() and manifest.is_file():
        return path, json.loads(manifest.read_text())
    rng = np.random.default_rng(seed)
    total = int(minutes * 60 * RATE)
    block = 30 * RATE
    stream = np.zeros(total, np.float64)
    for i, start in enumerate(range(0, total, block)):
        n = min(block, total - start)
        level = 10 ** ((-45 if i % 2 else -80) / 20) * 32768
        stream[start : start + n] = _pink(n, rng) * level
    labels = load_spec(default_model_dir()).labels  # the shipped model's, as the dataset's
    clips = [c for c in heldout_clips(DATASET, labels) if c[1] != "_silence_"]
    commands = [c for c in clips if not is_internal(c[1])]
    unknown = [c for c in clips if c[1] == "_unknown_"]
    order = [commands[i] for i in rng.permutation(len(commands))]
    extra = [unknown[i] for i in rng.permutation(len(unknown))]
    # Two commands, then one non-command word, until the stream is full.
    pool = []
    while order or extra:
        pool += [order.pop() for _ in range(min(2, len(order)))]
        if extra:
            pool.append(extra.pop())
    placed = []
    pos = RATE
    for clip_path, label in pool:
        audio = read_wav(clip_path, RATE).astype(np.float64)
        if pos + audio.shape[0] >= total - RATE:
            break
        stream[pos : pos + audio.shape[0]] += audio
        placed.append({"label": label, "start_s": round(pos / RATE, 3), "file": clip_path.name})
        pos += audio.shape[0] + int(rng.uniform(1.0, 3.0) * RATE)
    out = np.clip(np.rint(stream), -32768, 32767).astype(np.int16)
    speech_s = sum(
        read_wav(Path(DATASET / "test_wav" / p["label"] / p["file"]), RATE).shape[0] / RATE
        for p in placed
    )
    info = {
        "minutes": minutes,
        "seed": seed,
        "clips": len(placed),
        "commands": sum(not is_internal(p["label"]) for p in placed),
        "speech_fraction": round(speech_s / (total / RATE), 3),
        "background": "30 s blocks alternating -80 dBFS and -45 dBFS pink noise",
        "placed": placed,
    }
    write_wav(path, out)
    manifest.write_text(json.dumps(info, indent=1) + "\n")
    return path, info


def run_child(args: list[str], env: dict[str, str] | None = None) -> dict[str, Any]:
    """One engine in a fresh interpreter; its last stdout line is its JSON figures."""
    cmd = [sys.executable, "-B", str(ROOT / "build" / "peerbench" / "engines.py"), *args]
    out = subprocess.run(cmd, capture_output=True, text=True, check=False, env=env)
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(args)}: failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def save(name: str, data: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / name
    path.write_text(json.dumps(data, indent=2) + "\n")
    return path


def table(rows: list[list[Any]], header: list[str]) -> str:
    cells = [header, *[[str(c) for c in r] for r in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
