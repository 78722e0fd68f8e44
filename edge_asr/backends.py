"""Inference runtimes behind one protocol: ONNX Runtime and TFLite (tflite-runtime or LiteRT)."""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from .model import ModelError, ModelSpec

log = logging.getLogger(__name__)

Float32Array = npt.NDArray[np.float32]


class BackendError(Exception):
    """A runtime that cannot be used; the message says what to install or which file failed."""


class Backend(Protocol):
    name: str  # the model file kind: "onnx" or "tflite"
    runtime: str  # what runs it: "onnx", or the TFLite module (ai_edge_litert, tflite_runtime)

    def infer(self, features: Float32Array) -> Float32Array:
        """Posteriors (softmax) for one window of features (input_frames, n_mels)."""
        ...


class _Quantizer:
    """Float <-> integer tensor conversion with parameters read from the model itself."""

    def __init__(self, dtype: Any, scale: float, zero_point: int, shape: tuple[int, ...]) -> None:
        self.dtype = np.dtype(dtype)
        self.scale = float(scale)
        self.zero_point = int(zero_point)
        self.is_quantized = self.dtype.kind in "iu"
        if self.is_quantized and self.scale <= 0:
            raise BackendError(f"quantized tensor of {self.dtype} has no scale")
        info = np.iinfo(self.dtype) if self.is_quantized else None
        self._lo = float(info.min) if info else 0.0
        self._hi = float(info.max) if info else 0.0
        self.work = np.zeros(shape, dtype=np.float32)
        self.buffer = np.zeros(shape, dtype=self.dtype)

    def quantize(self, values: Float32Array) -> npt.NDArray[Any]:
        """Into the preallocated model-input buffer."""
        if not self.is_quantized:
            np.copyto(self.buffer, values.reshape(self.buffer.shape))
            return self.buffer
        np.divide(values.reshape(self.work.shape), self.scale, out=self.work)
        np.rint(self.work, out=self.work)
        np.add(self.work, self.zero_point, out=self.work)
        np.clip(self.work, self._lo, self._hi, out=self.work)
        np.copyto(self.buffer, self.work, casting="unsafe")
        return self.buffer

    def dequantize(self, values: npt.NDArray[Any], out: Float32Array) -> Float32Array:
        if not self.is_quantized:
            np.copyto(out, values.reshape(out.shape), casting="same_kind")
            return out
        # Widen first: int8 arithmetic would wrap (-128 - 4 -> +124), turning the most
        # confident logits into their opposite.
        np.copyto(out, values.reshape(out.shape), casting="unsafe")
        np.subtract(out, self.zero_point, out=out)
        np.multiply(out, self.scale, out=out)
        return out


def _softmax_inplace(logits: Float32Array) -> Float32Array:
    np.subtract(logits, logits.max(), out=logits)
    np.exp(logits, out=logits)
    np.divide(logits, logits.sum(), out=logits)
    return logits


def onnx_session(path: Path, threads: int = 1) -> Any:
    """An onnxruntime CPU session as the daemon runs models: sequential, `threads` intra-op
    threads, exact integer arithmetic."""
    try:
        import onnxruntime as ort
    except ImportError as exc:
        if importlib.util.find_spec("onnxruntime") is not None:
            raise BackendError(f"onnxruntime is installed but does not import: {exc}") from None
        raise BackendError("ONNX backend needs onnxruntime: pip install 'edge-asr[onnx]'") from None
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    # The arena keeps a large high-water mark; our tensors are tiny and fixed-size.
    options.enable_cpu_mem_arena = False
    options.log_severity_level = 3
    # On x86 CPUs without VNNI (AVX2 only, or AVX-512 before Cascade Lake) onnxruntime's fast
    # u8*s8 kernel adds pairs of products in int16, which saturates: there the shipped model
    # agreed with TFLite on 96 % of windows, not 100 %, and missed its own sample clips. This
    # selects the exact u8*u8 kernel on such CPUs (0.17 -> 0.20 ms per inference on an
    # AVX2 EPYC) and changes nothing elsewhere, ARM included.
    options.add_session_config_entry("session.x64quantprecision", "1")
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types
        raise ModelError(f"{path}: onnxruntime cannot load it: {exc}") from None


class OnnxBackend:
    name = runtime = "onnx"

    def __init__(self, spec: ModelSpec, path: Path, threads: int = 1) -> None:
        self._session = onnx_session(path, threads)
        inp = self._session.get_inputs()[0]
        out = self._session.get_outputs()[0]
        self._input_name, self._output_name = inp.name, out.name
        shape = (1, spec.input_frames, spec.frontend.n_mels)
        _check_shape(path, "input", tuple(inp.shape), shape)
        _check_shape(path, "output", tuple(out.shape), (1, len(spec.labels)))
        dtype = {"tensor(float)": np.float32, "tensor(int8)": np.int8, "tensor(uint8)": np.uint8}
        if inp.type not in dtype:
            raise ModelError(f"{path}: unsupported input type {inp.type}")
        if inp.type != "tensor(float)":
            raise ModelError(
                f"{path}: integer ONNX inputs carry no scale; export float input (QDQ)"
            )
        self._input = _Quantizer(np.float32, 1.0, 0, shape)
        self._posteriors = np.zeros(len(spec.labels), dtype=np.float32)

    def infer(self, features: Float32Array) -> Float32Array:
        feed = {self._input_name: self._input.quantize(features)}
        (logits,) = self._session.run([self._output_name], feed)
        np.copyto(self._posteriors, logits.reshape(-1), casting="same_kind")
        return _softmax_inplace(self._posteriors)


class TfliteBackend:
    name = "tflite"

    def __init__(
        self, spec: ModelSpec, path: Path, threads: int = 1, module: str | None = None
    ) -> None:
        self.runtime, interpreter_cls = _tflite_interpreter(module)
        try:
            self._interp = interpreter_cls(model_path=str(path), num_threads=threads)
            self._interp.allocate_tensors()
        except Exception as exc:  # the runtime raises ValueError/RuntimeError variants
            raise ModelError(f"{path}: TFLite cannot load it: {exc}") from None
        inp = self._interp.get_input_details()[0]
        out = self._interp.get_output_details()[0]
        shape = (1, spec.input_frames, spec.frontend.n_mels)
        _check_shape(path, "input", tuple(int(d) for d in inp["shape"]), shape)
        _check_shape(path, "output", tuple(int(d) for d in out["shape"]), (1, len(spec.labels)))
        in_scale, in_zero = inp["quantization"]
        out_scale, out_zero = out["quantization"]
        self._input = _Quantizer(inp["dtype"], in_scale, in_zero, shape)
        self._output = _Quantizer(out["dtype"], out_scale, out_zero, (len(spec.labels),))
        self._in_index, self._out_index = inp["index"], out["index"]
        self._posteriors = np.zeros(len(spec.labels), dtype=np.float32)

    def infer(self, features: Float32Array) -> Float32Array:
        self._interp.set_tensor(self._in_index, self._input.quantize(features))
        self._interp.invoke()
        raw = self._interp.get_tensor(self._out_index)
        return _softmax_inplace(self._output.dequantize(raw, self._posteriors))


# LiteRT (ai-edge-litert, TFLite's successor) first where it is installed: on the build VM it
# runs the shipped INT8 model in 0.08 ms against tflite-runtime 2.14's 1.2 ms, whose depthwise
# convolutions take its generic kernel (build/results/README.md). tflite-runtime stays the
# runtime of 32-bit Pi OS, for which LiteRT has no wheel.
TFLITE_MODULES = ("ai_edge_litert", "tflite_runtime")


def _tflite_interpreter(module: str | None = None) -> tuple[str, Any]:
    """The first TFLite runtime of TFLITE_MODULES (or `module`) that imports: name, Interpreter.
    One that is installed but does not import (built against numpy 1.x with numpy 2 installed,
    say) is skipped with a warning when another may serve."""
    broken = []
    for name in TFLITE_MODULES if module is None else (module,):
        if importlib.util.find_spec(name) is None:
            continue
        try:
            return name, importlib.import_module(f"{name}.interpreter").Interpreter
        except ImportError as exc:
            broken.append(f"{name} is installed but does not import: {exc}")
            log.warning("%s", broken[-1])
    if broken:
        raise BackendError("; ".join(broken))
    raise BackendError("TFLite backend needs tflite-runtime: pip install 'edge-asr[tflite]'")


def _check_shape(path: Path, what: str, actual: tuple[Any, ...], expected: tuple[int, ...]) -> None:
    fixed = tuple(d if isinstance(d, int) else 1 for d in actual)  # symbolic batch dim -> 1
    if fixed != expected:
        raise ModelError(f"{path}: {what} shape {actual} does not match model.json {expected}")


def available_runtimes() -> list[str]:
    found = []
    if any(importlib.util.find_spec(name) for name in TFLITE_MODULES):
        found.append("tflite")
    if importlib.util.find_spec("onnxruntime"):
        found.append("onnx")
    return found


def load_backend(spec: ModelSpec, choice: str = "auto", threads: int = 1) -> Backend:
    """The configured runtime, or for 'auto' the cheapest one installed that the folder offers."""
    if choice != "auto":
        path = spec.path_of(choice)
        if path is None:
            raise ModelError(f"{spec.folder}: no model file for backend {choice!r}")
        return _make(choice, spec, path, threads)
    runtimes = available_runtimes()
    # ONNX Runtime first: on the INT8 model it used ~5x less CPU than tflite-runtime 2.14
    # (build/results/bench.json); TFLite is the choice where onnxruntime has no wheel (32-bit
    # arm) and uses 20-25 MB less memory. On LiteRT TFLite also uses a little less CPU than ONNX
    # Runtime, but the thresholds are calibrated on ONNX Runtime's posteriors, which LiteRT's
    # rounding moves (the top class differs on ~1.4 % of windows), so auto stays with ONNX.
    failed = []
    for runtime in ("onnx", "tflite"):
        path = spec.path_of(runtime)
        if runtime in runtimes and path is not None:
            try:
                return _make(runtime, spec, path, threads)
            except BackendError as exc:  # installed but broken: the other runtime may do
                log.warning("%s; trying the next runtime", exc)
                failed.append(str(exc))
    if failed:
        raise BackendError(f"no runtime for {spec.folder} loads: {'; '.join(failed)}")
    raise BackendError(
        f"no usable runtime for {spec.folder}: it offers {sorted(spec.files)}, installed runtimes"
        f" are {runtimes or 'none'}; pip install 'edge-asr[tflite]' or 'edge-asr[onnx]'"
    )


def _make(runtime: str, spec: ModelSpec, path: Path, threads: int) -> Backend:
    backend: Backend
    if runtime == "onnx":
        backend = OnnxBackend(spec, path, threads)
    else:
        backend = TfliteBackend(spec, path, threads)
    where = backend.name
    if backend.runtime != backend.name:
        where += f" ({backend.runtime})"  # which TFLite runtime
    log.info("model %s %s on %s (%s, %d thread(s))", spec.name, spec.version, where, path, threads)
    return backend
