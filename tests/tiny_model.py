"""Builds real (tiny) model folders for tests: an ONNX graph made with onnx.helper, no training.

The graph averages the features over time and applies a fixed linear layer, so its output is a
deterministic function of the input energy: enough to exercise loading, quantization plumbing,
the pipeline and memory behaviour. Accuracy tests use the shipped model instead.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from edge_asr.frontend import FrontendParams
from edge_asr.model import ModelSpec, write_spec

LABELS = ("_silence_", "_unknown_", "loud", "quiet")


def build_tiny_model(folder: Path, frames: int = 49) -> ModelSpec:
    folder.mkdir(parents=True, exist_ok=True)
    params = FrontendParams()
    n_mels = params.n_mels
    # A window whose mean log-mel is above -11 (a word in digital silence) scores "loud".
    weights = np.zeros((n_mels, len(LABELS)), np.float32)
    weights[:, 2] = 1.0 / n_mels
    bias = np.array([-11.0, -30.0, 0.0, -30.0], np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("ReduceMean", ["features", "axes"], ["pooled"], keepdims=0),
            helper.make_node("MatMul", ["pooled", "w"], ["scores"]),
            helper.make_node("Add", ["scores", "b"], ["logits"]),
        ],
        "tiny",
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, [1, frames, n_mels])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, len(LABELS)])],
        initializer=[
            numpy_helper.from_array(np.array([1], np.int64), "axes"),
            numpy_helper.from_array(weights, "w"),
            numpy_helper.from_array(bias, "b"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    onnx.save(model, folder / "model.onnx")
    spec = ModelSpec(
        folder=folder,
        name="tiny-test",
        version="0.0.1",
        labels=LABELS,
        frontend=params,
        input_frames=frames,
        default_threshold=0.6,
        thresholds={},
        files={"model.onnx": ""},
    )
    write_spec(spec)
    return spec


def write_wav(path: Path, audio: np.ndarray, rate: int = 16000) -> Path:
    """Mono 16-bit PCM WAV of `audio` (clipped to int16)."""
    import wave

    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(np.clip(audio, -32768, 32767).astype("<i2").tobytes())
    return path


def burst_wav(path: Path, seed: int = 0) -> Path:
    """A 2 s 16 kHz WAV: 0.5 s of digital silence, a 0.4 s noise burst (the tiny model's
    "loud" command), then silence."""
    clip = np.zeros(16000 * 2, np.int16)
    clip[8000:14400] = np.random.default_rng(seed).normal(0, 5000, 6400).astype(np.int16)
    return write_wav(path, clip)
