"""`edge-asr bench`: real-time factor per stage and peak memory of the recognition pipeline.

Feeds a long synthetic stream (the model's own sample clips between stretches of room noise and
silence) through the same Recognizer the daemon uses, chunked like the microphone, and prints
figures; `--json FILE` also writes them. Live figures (CPU of the running daemon, latency to
MQTT, start-up) come from build/bench-live, which drives the real daemon.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from .config import Settings

SPEECH_END_WITHIN_DB = 26.0  # 5 % of the loudest frame's RMS


def speech_end_s(path: Path, sample_rate_hz: int) -> float:
    """When a clip's speech ends, as every latency figure counts from: the end of its last
    10 ms frame within SPEECH_END_WITHIN_DB of its loudest."""
    from .audio import read_wav, speech_span

    audio = read_wav(path, sample_rate_hz)
    return speech_span(audio, sample_rate_hz, within_db=SPEECH_END_WITHIN_DB)[1] / sample_rate_hz


def thread_times(pid: int | str = "self") -> dict[str, tuple[float, int]]:
    """(CPU seconds, context switches) per thread name of a process, summed over threads of the
    same name (the daemon names its own edge-asr-*). schedstat counts nanoseconds, not 10 ms
    ticks, so idle threads' small figures are real; threads that end while read are skipped."""
    out: dict[str, tuple[float, int]] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            name = (task / "comm").read_text().strip()
            ns = int((task / "schedstat").read_text().split()[0])
            status = (task / "status").read_text().splitlines()
        except (OSError, ValueError):
            continue
        switches = sum(int(line.split()[1]) for line in status if "ctxt_switches" in line)
        seconds, count = out.get(name, (0.0, 0))
        out[name] = (seconds + ns / 1e9, count + switches)
    return out


def process_sample(pid: int | str = "self") -> dict[str, int]:
    """A process's resident memory now and at its peak (KiB, as /proc counts it), open file
    descriptors and threads: what the soaks watch for growth and build/bench-live reports."""
    status = Path(f"/proc/{pid}/status").read_text().splitlines()
    fields = dict(line.split(":", 1) for line in status if ":" in line)
    return {
        "rss_kb": int(fields["VmRSS"].split()[0]),
        "peak_rss_kb": int(fields["VmHWM"].split()[0]),
        "fds": len(os.listdir(f"/proc/{pid}/fd")),
        "threads": int(fields["Threads"]),
    }


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-c", "--config", type=Path, help="TOML config file")
    parser.add_argument("--log-level", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    parser.add_argument("--model", type=Path, help="model folder (default: the shipped model)")
    parser.add_argument(
        "--backend",
        choices=["auto", "onnx", "tflite"],
        help="benchmark one runtime (default: every installed one)",
    )
    parser.add_argument("--minutes", type=float, default=10.0, help="length of the test stream")
    parser.add_argument(
        "--speech-fraction",
        type=float,
        default=0.3,
        help="share of the stream that holds spoken commands",
    )
    parser.add_argument("--json", type=Path, help="also write the figures to this file")


def make_stream(
    model_dir: Path, minutes: float, speech_fraction: float, seed: int = 0
) -> npt.NDArray[np.int16]:
    """Room noise at about -60 dBFS with spoken sample clips spread through it."""
    from .audio import read_wav

    rate = 16000
    rng = np.random.default_rng(seed)
    total = int(minutes * 60 * rate)
    stream = rng.normal(0, 30, total).astype(np.int16)
    samples = sorted((model_dir / "samples").glob("*.wav"))
    if not samples:
        # Without sample clips, speech-band noise bursts stand in (compute is what we measure).
        clips = [rng.normal(0, 3000, rate // 2).astype(np.int16)]
    else:
        clips = [read_wav(path, rate) for path in samples]
    slot = rate * 2  # one clip per 2 s slot where speech is placed
    for start in range(0, total - slot, slot):
        if rng.random() < speech_fraction * 2:  # clips fill about half of their slot
            clip = clips[int(rng.integers(len(clips)))]
            end = min(start + clip.shape[0], total)
            stream[start:end] = np.clip(stream[start:end] + clip[: end - start], -32768, 32767)
    return stream


def measure_pipeline(
    settings: Settings, backend_name: str, stream: npt.NDArray[np.int16], repeats: int
) -> dict[str, Any]:
    """Figures for `repeats` passes over `stream` (a short stream replayed keeps RSS honest)."""
    from .backends import load_backend
    from .model import default_model_dir, load_spec
    from .pipeline import Recognizer

    spec = load_spec(settings.model.path or default_model_dir())
    backend = load_backend(spec, backend_name, settings.model.threads)
    recognizer = Recognizer(spec, backend, settings.decoder, settings.model.thresholds)
    chunk = spec.frontend.sample_rate_hz * settings.audio.chunk_ms // 1000
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for _ in range(repeats):
        for start in range(0, stream.shape[0], chunk):
            recognizer.feed(stream[start : start + chunk])
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    t = recognizer.times
    return {
        "backend": backend.name,
        "runtime": backend.runtime,
        "audio_s": round(t.audio_s, 1),
        "rtf": round(wall / t.audio_s, 5),
        "cpu_percent_of_one_core": round(100 * cpu / t.audio_s, 3),
        "rtf_frontend": round(t.frontend_s / t.audio_s, 5),
        "rtf_inference": round(t.inference_s / t.audio_s, 5),
        "rtf_decoder": round(t.decoder_s / t.audio_s, 6),
        "inferences": t.inferences,
        "ms_per_inference": round(1000 * t.inference_s / max(1, t.inferences), 3),
        "detections": t.detections,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def run_bench(settings: Settings, args: argparse.Namespace) -> int:
    from .backends import available_runtimes
    from .model import default_model_dir, load_spec

    spec = load_spec(settings.model.path or default_model_dir())
    backends = (
        [args.backend]
        if args.backend and args.backend != "auto"
        else [name for name in available_runtimes() if spec.path_of(name) is not None]
    )
    results: dict[str, Any] = {
        "model": f"{spec.name} {spec.version}",
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "python": platform.python_version(),
        "minutes": args.minutes,
        "speech_fraction": args.speech_fraction,
        "threads": settings.model.threads,
        "backends": {},
    }
    for name in backends:
        # One process per runtime, so peak RSS is that runtime's alone.
        cmd = [
            sys.executable,
            "-c",
            _CHILD,
            json.dumps(
                {
                    "settings": settings.model_dump(mode="json"),
                    "backend": name,
                    "minutes": args.minutes,
                    "speech": args.speech_fraction,
                    "model_dir": str(spec.folder),
                }
            ),
        ]
        out = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if out.returncode != 0:
            print(f"bench {name}: failed: {out.stderr.strip()[-500:]}", file=sys.stderr)
            return 1
        figures = json.loads(out.stdout.strip().splitlines()[-1])
        results["backends"][name] = figures
        print(
            f"{name:7s} RTF {figures['rtf']:.4f} (frontend {figures['rtf_frontend']:.4f}, "
            f"inference {figures['rtf_inference']:.4f}, decoder {figures['rtf_decoder']:.5f}); "
            f"CPU {figures['cpu_percent_of_one_core']:.2f}% of one core; "
            f"{figures['ms_per_inference']:.2f} ms/inference x {figures['inferences']}; "
            f"peak RSS {figures['peak_rss_mb']:.1f} MB; {figures['detections']} detections "
            f"in {figures['audio_s'] / 60:.1f} min"
        )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


_CHILD = """
import json, sys
from pathlib import Path
from edge_asr.bench import make_stream, measure_pipeline
from edge_asr.config import Settings
job = json.loads(sys.argv[1])
settings = Settings.model_validate(job["settings"])
minutes = job["minutes"]
stream = make_stream(Path(job["model_dir"]), min(1.0, minutes), job["speech"])
repeats = max(1, round(minutes / min(1.0, minutes)))
print(json.dumps(measure_pipeline(settings, job["backend"], stream, repeats)))
"""
