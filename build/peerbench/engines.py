"""One engine per process: feed a WAV stream in the engine's own chunk size, print JSON figures.

  python build/peerbench/engines.py ENGINE WAV [--model DIR] [--warmup-s 10]

ENGINE: edge-onnx, edge-tflite, openwakeword, microwakeword, pocketsphinx, null (reads only).
CPU is process CPU time (all threads) over one full pass after a warm-up pass over the first
--warmup-s seconds; peak RSS is VmHWM of this fresh process. The WAV is read chunk by chunk so
the stream itself does not count towards anyone's memory.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import wave
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

COMMANDS = (
    "yes no up down left right on off stop go zero one two three four five six seven eight nine"
)


class Null:
    chunk = 1600

    def feed(self, chunk: np.ndarray) -> int:
        return 0


class EdgeAsr:
    chunk = 1600  # the daemon's audio.chunk_ms = 100

    def __init__(self, backend: str, model: Path | None) -> None:
        from edge_asr.backends import load_backend
        from edge_asr.config import DecoderSettings
        from edge_asr.model import default_model_dir, load_spec
        from edge_asr.pipeline import Recognizer

        self.spec = load_spec(model or default_model_dir())
        inner = load_backend(self.spec, backend)
        self.infer_cpu_s: list[float] = []
        outer = self

        class Timed:  # thread CPU time of each inference (the latency on an idle core)
            name, runtime = inner.name, inner.runtime

            def infer(self, features: Any) -> Any:
                t0 = time.thread_time()
                out = inner.infer(features)
                outer.infer_cpu_s.append(time.thread_time() - t0)
                return out

        self.rec = Recognizer(self.spec, Timed(), DecoderSettings())
        self.chunk_wall_s: list[float] = []

    def feed(self, chunk: np.ndarray) -> int:
        t0 = time.perf_counter()
        n = len(self.rec.feed(chunk))
        self.chunk_wall_s.append(time.perf_counter() - t0)
        return n

    def reset(self) -> None:
        self.rec.reset()
        self.infer_cpu_s.clear()
        self.chunk_wall_s.clear()

    def extra(self) -> dict[str, Any]:
        ms = np.array(self.infer_cpu_s) * 1000
        wall = np.array(self.chunk_wall_s) * 1000
        return {
            "model": f"{self.spec.name} {self.spec.version}",
            "labels": len(self.spec.labels),
            "inferences": len(ms),
            "infer_cpu_ms_mean": round(float(ms.mean()), 3) if ms.size else None,
            "infer_cpu_ms_p99": round(float(np.percentile(ms, 99)), 3) if ms.size else None,
            "chunk_wall_ms_p50": round(float(np.percentile(wall, 50)), 3),
            "chunk_wall_ms_p99": round(float(np.percentile(wall, 99)), 3),
        }


class OpenWakeWord:
    chunk = 1280  # 80 ms, what openWakeWord's melspectrogram model takes

    def __init__(self, name: str = "hey_jarvis") -> None:
        from pyopen_wakeword import Model, OpenWakeWord, OpenWakeWordFeatures

        self.name = name
        self.features = OpenWakeWordFeatures.from_builtin()
        self.model = OpenWakeWord.from_builtin(Model(name))

    def feed(self, chunk: np.ndarray) -> int:
        hits = 0
        for feats in self.features.process_streaming(chunk.tobytes()):
            hits += sum(p > 0.5 for p in self.model.process_streaming(feats))
        return hits

    def reset(self) -> None:
        self.features.reset()
        self.model.reset()

    def extra(self) -> dict[str, Any]:
        return {"model": f"{self.name} (+ melspectrogram + embedding)", "threshold": 0.5}


class MicroWakeWord:
    chunk = 160  # 10 ms feature steps

    def __init__(self, name: str = "hey_jarvis") -> None:
        from pymicro_wakeword import MicroWakeWord, MicroWakeWordFeatures, Model

        self.name = name
        self.features = MicroWakeWordFeatures()
        self.model = MicroWakeWord.from_builtin(Model(name))

    def feed(self, chunk: np.ndarray) -> int:
        return sum(
            bool(self.model.process_streaming(f))
            for f in self.features.process_streaming(chunk.tobytes())
        )

    def reset(self) -> None:
        self.features.reset()
        self.model.reset()

    def extra(self) -> dict[str, Any]:
        return {"model": self.name, "threshold": self.model.probability_cutoff}


class PocketSphinx:
    chunk = 1600  # process_raw in 100 ms buffers

    def __init__(self, offset: float = 0.0) -> None:
        from peerbench.sphinx import Spotter

        self.spotter = Spotter(COMMANDS.split(), offset)

    def feed(self, chunk: np.ndarray) -> int:
        return len(self.spotter.feed(chunk))

    def reset(self) -> None:
        self.spotter.reset()

    def extra(self) -> dict[str, Any]:
        return {"model": "en-us (bundled)", "kws": self.spotter.kws_text.splitlines()}


def make(name: str, model: Path | None) -> Any:
    if name.startswith("edge-"):
        return EdgeAsr(name.removeprefix("edge-"), model)
    return {
        "null": Null,
        "openwakeword": OpenWakeWord,
        "microwakeword": MicroWakeWord,
        "pocketsphinx": PocketSphinx,
    }[name]()


def feed_file(engine: Any, wav_path: Path, seconds: float | None = None) -> tuple[int, float]:
    hits = 0
    fed = 0
    limit = None if seconds is None else int(seconds * 16000)
    with wave.open(str(wav_path), "rb") as wav:
        while limit is None or fed < limit:
            raw = wav.readframes(engine.chunk)
            if not raw:
                break
            chunk = np.frombuffer(raw, dtype="<i2")
            hits += engine.feed(chunk)
            fed += chunk.shape[0]
    return hits, fed / 16000


def vm_hwm_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("engine")
    parser.add_argument("wav", type=Path)
    parser.add_argument("--model", type=Path, help="edge-asr model folder")
    parser.add_argument("--warmup-s", type=float, default=10.0)
    args = parser.parse_args()
    engine = make(args.engine, args.model)
    feed_file(engine, args.wav, args.warmup_s)
    if hasattr(engine, "reset"):
        engine.reset()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    hits, audio_s = feed_file(engine, args.wav)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    figures = {
        "engine": args.engine,
        "chunk_samples": engine.chunk,
        "audio_s": round(audio_s, 1),
        "cpu_s": round(cpu, 3),
        "cpu_s_per_audio_hour": round(cpu * 3600 / audio_s, 2),
        "cpu_percent_of_one_core": round(100 * cpu / audio_s, 3),
        "wall_s": round(wall, 2),
        "peak_rss_mb": round(vm_hwm_mb(), 1),
        "detections": hits,
        **(engine.extra() if hasattr(engine, "extra") else {}),
    }
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
