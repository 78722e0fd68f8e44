#!/usr/bin/env python3
"""onnxruntime's INT8 kernels with and without session.x64quantprecision, on this CPU (behind
the README's note on x86 CPUs without VNNI; not part of the product): top-1 agreement with
the TFLite file on every window around the shipped sample clips, and ms per inference.

  .venv/bin/python build/experiments/ort-precision.py [OUT.json]
"""

from __future__ import annotations

import json
import platform
import time
from pathlib import Path

import numpy as np
from _usage import arguments

from edge_asr.audio import read_wav
from edge_asr.backends import TfliteBackend
from edge_asr.frontend import log_mel
from edge_asr.model import default_model_dir, load_spec


def windows(model: Path) -> list[np.ndarray]:
    spec = load_spec(model)
    out = []
    for wav in sorted((model / "samples").glob("*.wav")):
        pad = np.zeros(8000, np.int16)
        feats = log_mel(np.concatenate([pad, read_wav(wav, 16000), pad]), spec.frontend)
        for start in range(0, len(feats) - spec.input_frames + 1, 5):
            out.append(np.ascontiguousarray(feats[start : start + spec.input_frames]))
    return out


def cpu_flags() -> list[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return []
    flags = next(
        (line.split(":", 1)[1].split() for line in text.splitlines() if "flags" in line), []
    )
    return sorted(f for f in flags if f.startswith(("avx", "amx")) or "vnni" in f)


def main() -> None:
    import onnxruntime as ort  # after edge_asr, which turns its telemetry off

    out_path = arguments(__doc__, 0, 1)
    model = default_model_dir()
    spec = load_spec(model)
    wins = windows(model)
    tflite = TfliteBackend(spec, model / "model.tflite")
    reference = np.array([np.argmax(tflite.infer(w)) for w in wins])
    result: dict[str, object] = {
        "model": f"{spec.name} {spec.version}",
        "onnxruntime": ort.__version__,
        "tflite_runtime": tflite.runtime,
        "machine": platform.machine(),
        "cpu_flags": cpu_flags(),
        "windows": len(wins),
    }
    sessions = {}
    for precise in ("0", "1"):
        options = ort.SessionOptions()
        options.intra_op_num_threads = options.inter_op_num_threads = 1
        options.add_session_config_entry("session.x64quantprecision", precise)
        sessions[precise] = ort.InferenceSession(str(model / "model.onnx"), options)
    name = sessions["0"].get_inputs()[0].name
    x = wins[len(wins) // 2][None]
    rounds: dict[str, list[float]] = {precise: [] for precise in sessions}
    for _ in range(7):  # alternate, so that a busy moment of the VM hits both
        for precise, session in sessions.items():
            for _ in range(100):
                session.run(None, {name: x})
            began = time.perf_counter()
            for _ in range(1000):
                session.run(None, {name: x})
            rounds[precise].append((time.perf_counter() - began) / 1000 * 1000)
    for precise, session in sessions.items():
        top = np.array([np.argmax(session.run(None, {name: w[None]})[0]) for w in wins])
        agree = float(np.mean(top == reference))
        ms = float(np.median(rounds[precise]))
        result[f"x64quantprecision={precise}"] = {
            "agree_with_tflite": agree,
            "ms_per_inference_median": ms,
            "ms_per_inference_rounds": rounds[precise],
        }
        print(
            f"x64quantprecision={precise}: top-1 agrees with TFLite on {agree:.1%} of "
            f"{len(wins)} windows, {ms:.3f} ms per inference (median of 7 x 1000)"
        )
    print("CPU:", " ".join(result["cpu_flags"]) or "no AVX")  # type: ignore[arg-type]
    if out_path:
        Path(out_path[0]).write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
