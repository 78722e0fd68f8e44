"""Export the student to INT8 ONNX (QDQ) and full-integer TFLite, and check the two agree."""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from torch import nn

from ..backends import onnx_session

log = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float32]

SIZE_TARGET_BYTES = 100 * 1024  # what a microcontroller-class device can hold in flash/RAM

QUANTIZE_OP = "quantized_decomposed.quantize_per_tensor.default"  # PT2E activation quantization

# quant_pre_process logs a failed graph optimization here and goes on without it, which
# quantizes another graph: other bytes (and scales) from the same network.
_PRE_PROCESS_LOGGER = "onnxruntime.quantization.shape_inference"

# tflite TensorType enum values (schema.fbs), used by the modify-model-interface tool.
_TFLITE_INT8 = 9


def calibration_windows(
    x: FloatArray, y: npt.NDArray[Any], snr_db: FloatArray | None, n: int, seed: int
) -> FloatArray:
    """~n training windows covering every label and both clean and noisy audio.

    A class-stratified draw keeps silence (index 0) and rare commands in the calibration set
    so activation ranges are not fitted to the dominant unknown class only.
    """
    rng = np.random.default_rng(seed)
    labels = np.unique(y)
    per_label = max(1, n // max(1, len(labels)))
    picked: list[npt.NDArray[np.int64]] = []
    for label in labels:
        idx = np.flatnonzero(y == label)
        if snr_db is not None and np.isfinite(snr_db[idx]).any() and np.isnan(snr_db[idx]).any():
            # Half clean, half noisy where both exist.
            noisy = idx[np.isfinite(snr_db[idx])]
            clean = idx[np.isnan(snr_db[idx])]
            half = per_label // 2
            picked.append(rng.choice(noisy, min(len(noisy), per_label - half), replace=False))
            picked.append(rng.choice(clean, min(len(clean), half), replace=False))
        else:
            picked.append(rng.choice(idx, min(len(idx), per_label), replace=False))
    chosen = np.concatenate(picked)
    rng.shuffle(chosen)
    return np.ascontiguousarray(x[chosen[:n]], dtype=np.float32)


def export_onnx_int8(
    model: nn.Module,
    calib: FloatArray,
    path: Path,
    activations: dict[str, tuple[float, int]] | None = None,
) -> dict[str, Any]:
    """fp32 ONNX via the dynamo exporter, then onnxruntime's static QDQ INT8 (per-channel
    weights, int32 biases). `activations` (value name -> scale, zero point, from
    quantize_pt2e) pins activation scales to the TFLite file's, so the two INT8 files round
    the same ranges; without it onnxruntime's MinMax calibration picks them."""
    import onnx
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    with tempfile.TemporaryDirectory(prefix="edge-asr-onnx-") as tmp:
        fp32 = Path(tmp) / "fp32.onnx"
        pre = Path(tmp) / "pre.onnx"
        export_onnx_fp32(model, calib[:1], fp32)
        # Symbolic shape inference + graph cleanup so every tensor has a shape for calibration.
        with _errors_raise(_PRE_PROCESS_LOGGER, f"{path}: onnxruntime's pre-processing failed"):
            quant_pre_process(str(fp32), str(pre), skip_symbolic_shape=False)
        graph = onnx.load(str(pre)).graph
        input_name = graph.input[0].name

        class Reader(CalibrationDataReader):
            def __init__(self) -> None:
                self._it = iter(calib)

            def get_next(self) -> dict[str, FloatArray] | None:
                row = next(self._it, None)
                return None if row is None else {input_name: row[None]}

        overrides = _onnx_overrides(graph, activations or {})
        quantize_static(
            str(pre),
            str(path),
            Reader(),
            quant_format=QuantFormat.QDQ,
            activation_type=QuantType.QInt8,
            weight_type=QuantType.QInt8,
            per_channel=True,
            calibrate_method=CalibrationMethod.MinMax,
            extra_options={"TensorQuantOverrides": overrides},
        )
    size = _check_size(path)
    log.info("INT8 ONNX %s: %.1f KB", path, size / 1024)
    return {"bytes": size}


def export_onnx_fp32(model: nn.Module, example: FloatArray, path: Path) -> None:
    """The network as an fp32 ONNX file (dynamo exporter; input `features`, output `logits`,
    the shape of `example`), without the exporter's stack traces."""
    program = torch.onnx.export(
        model.eval(),
        (torch.from_numpy(example),),
        dynamo=True,
        input_names=["features"],
        output_names=["logits"],
        external_data=False,
    )
    assert program is not None
    program.save(str(path))
    _drop_provenance(path)


def _drop_provenance(path: Path) -> None:
    """Remove what torch's exporter records about the Python source: every node carries the
    stack trace of the code that made it (absolute paths of the checkout and the venv, line
    numbers), so the same network exported from another folder gave another model.onnx."""
    import onnx

    model = onnx.load(str(path))
    graph = model.graph
    del graph.metadata_props[:]  # the exported program's signature
    for item in (*graph.node, *graph.input, *graph.output, *graph.value_info, *graph.initializer):
        del item.metadata_props[:]
        item.doc_string = ""
    onnx.save(model, str(path))


@contextmanager
def _errors_raise(logger_name: str, what: str) -> Iterator[None]:
    """Turn ERROR records that `logger_name` logs inside the block (a library that reports a
    failure and carries on) into one RuntimeError with their text."""
    errors: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            errors.append(record.getMessage())

    handler = Collect(logging.ERROR)
    logger = logging.getLogger(logger_name)
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
    if errors:
        raise RuntimeError(f"{what}:\n" + "\n".join(errors))


@dataclass
class Pt2eModel:
    """The deploy net quantized by PT2E: what litert-torch lowers to TFLite, and the activation
    scales the ONNX export pins to (value name in the exported graph -> scale, zero point)."""

    quantizer: Any
    graph: Any  # converted PT2E graph module (quantize ops not folded)
    example: tuple[torch.Tensor, ...]
    activations: dict[str, tuple[float, int]]


def quantize_pt2e(model: nn.Module, calib: FloatArray) -> Pt2eModel:
    """PT2E static quantization with litert-torch's quantizer (per-channel symmetric weights,
    histogram-calibrated activations), calibrated on `calib`."""
    from litert_torch.quantize.pt2e_quantizer import (
        PT2EQuantizer,
        get_symmetric_quantization_config,
    )
    from torchao.quantization.pt2e import move_exported_model_to_eval
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    model = model.eval()
    example = (torch.from_numpy(calib[:1]),)
    quantizer = PT2EQuantizer().set_global(
        get_symmetric_quantization_config(is_per_channel=True, is_dynamic=False)
    )
    graph = torch.export.export(model, example).module()
    prepared = prepare_pt2e(graph, quantizer)  # type: ignore[arg-type]
    with torch.no_grad():
        # The exported graph is specialised to batch 1, so calibrate one window at a time.
        for row in calib:
            prepared(torch.from_numpy(row[None]))
    quantized = convert_pt2e(prepared, fold_quantize=False)
    # An exported graph has no .eval(): this switches any dropout/BN ops (the folded deploy net
    # has none), and the flag is what litert-torch checks before warning about training mode.
    move_exported_model_to_eval(quantized)
    quantized.training = False
    activations: dict[str, tuple[float, int]] = {}
    for node in quantized.graph.nodes:
        if node.op == "call_function" and str(node.target) == QUANTIZE_OP:
            activations[node.args[0].name] = (float(node.args[1]), int(node.args[2]))
        if node.op == "output":  # the ONNX export names the graph output "logits"
            value = node.args[0][0]
            while value.op == "call_function" and "quantize" in str(value.target):
                value = value.args[0]  # back through the final dequantize/quantize pair
            if value.name in activations:
                activations["logits"] = activations.pop(value.name)
    return Pt2eModel(quantizer, quantized, example, activations)


def _onnx_overrides(graph: Any, activations: dict[str, tuple[float, int]]) -> dict[str, Any]:
    """onnxruntime TensorQuantOverrides for the fp32 ONNX graph. The dynamo exporter keeps the
    torch graph's value names; onnxruntime also quantizes the tensors around ops that do not
    change values (a Relu it folds into the Conv before it, an Unsqueeze of the input), so
    those get the same scale."""
    by_name = dict(activations)
    for node in graph.node:
        if node.op_type in ("Relu", "Unsqueeze", "Reshape") and node.output[0] in by_name:
            by_name.setdefault(node.input[0], by_name[node.output[0]])
    names = {v.name for v in graph.input} | {o for n in graph.node for o in n.output}
    missing = sorted(set(activations) - names)
    if missing:
        log.warning("ONNX export: no tensors named %s; their scales are calibrated anew", missing)
    return {
        name: [{"scale": np.array(scale, np.float32), "zero_point": np.array(zp, np.int8)}]
        for name, (scale, zp) in by_name.items()
        if name in names
    }


def export_tflite_int8(pt2e: Pt2eModel, path: Path) -> dict[str, Any]:
    """Full-integer TFLite with int8 input and output, via litert-torch's PT2E quantizer.

    litert-torch lowers a PT2E-quantized graph to int8 kernels but keeps float I/O (a QUANTIZE
    op first, a DEQUANTIZE op last). The LiteRT modify-model-interface tool (the same one
    behind TensorFlow's inference_input_type/inference_output_type) then removes those two ops
    so the graph's input and output tensors are int8 with their own scale and zero point.
    """
    import litert_torch
    from ai_edge_litert import _pywrap_modify_model_interface as interface
    from litert_torch.quantize.quant_config import QuantConfig

    edge = litert_torch.convert(
        pt2e.graph, pt2e.example, quant_config=QuantConfig(pt2e_quantizer=pt2e.quantizer)
    )
    with tempfile.TemporaryDirectory(prefix="edge-asr-tflite-") as tmp:
        float_io = Path(tmp) / "float_io.tflite"
        edge.export(str(float_io))
        status = interface.modify_model_interface(
            str(float_io), str(path), _TFLITE_INT8, _TFLITE_INT8
        )
    if status != 0 or not path.is_file():
        raise RuntimeError(f"{path}: modify_model_interface failed with status {status}")
    details = tflite_io_details(path)
    for kind in ("input", "output"):
        if details[kind]["dtype"] != "int8":
            raise RuntimeError(f"{path}: {kind} tensor is {details[kind]['dtype']}, not int8")
    size = _check_size(path)
    log.info("INT8 TFLite %s: %.1f KB, io %s", path, size / 1024, details)
    return {"bytes": size, "io": details}


def _check_size(path: Path) -> int:
    size = path.stat().st_size
    if size > SIZE_TARGET_BYTES:
        log.warning("%s: %d bytes, over the %d-byte target", path, size, SIZE_TARGET_BYTES)
    return size


def _tflite_interpreter(path: Path) -> Any:
    from tflite_runtime.interpreter import Interpreter

    interp = Interpreter(model_path=str(path), num_threads=1)
    interp.allocate_tensors()
    return interp


def tflite_io_details(path: Path) -> dict[str, dict[str, Any]]:
    """dtype, shape, scale and zero point of the input and output tensors, as the runtime sees."""
    interp = _tflite_interpreter(path)
    out: dict[str, dict[str, Any]] = {}
    for kind, det in (
        ("input", interp.get_input_details()[0]),
        ("output", interp.get_output_details()[0]),
    ):
        scale, zero = det["quantization"]
        out[kind] = {
            "dtype": np.dtype(det["dtype"]).name,
            "shape": [int(s) for s in det["shape"]],
            "scale": float(scale),
            "zero_point": int(zero),
        }
    return out


def run_tflite(path: Path, x: FloatArray) -> FloatArray:
    """Logits for each window, quantising input and dequantising output with the tensors' params."""
    interp = _tflite_interpreter(path)
    inp, outp = interp.get_input_details()[0], interp.get_output_details()[0]
    in_scale, in_zero = inp["quantization"]
    out_scale, out_zero = outp["quantization"]
    info = np.iinfo(inp["dtype"])
    logits = np.zeros((len(x), int(outp["shape"][-1])), dtype=np.float32)
    for i, row in enumerate(x):
        q = np.clip(np.round(row / in_scale) + in_zero, info.min, info.max).astype(inp["dtype"])
        interp.set_tensor(inp["index"], q[None])
        interp.invoke()
        raw = interp.get_tensor(outp["index"])[0].astype(np.float32)
        logits[i] = (raw - out_zero) * out_scale
    return logits


def run_onnx(path: Path, x: FloatArray) -> FloatArray:
    """Logits for each window from onnxruntime, in a session made as the daemon makes it."""
    sess = onnx_session(path, threads=1)
    name = sess.get_inputs()[0].name
    return np.stack([sess.run(None, {name: row[None]})[0][0] for row in x]).astype(np.float32)


def run_torch(model: nn.Module, x: FloatArray, batch: int = 256) -> FloatArray:
    model = model.eval()
    outs = []
    with torch.no_grad():
        for i in range(0, len(x), batch):
            outs.append(model(torch.from_numpy(x[i : i + batch])).numpy())
    return np.concatenate(outs).astype(np.float32)


def agreement_report(
    fp32: FloatArray, onnx: FloatArray, tflite: FloatArray, y: npt.NDArray[Any]
) -> dict[str, float]:
    """Top-1 of each runtime, ONNX/TFLite top-1 agreement and the INT8 - fp32 accuracy gaps."""
    p32, pon, ptf = fp32.argmax(1), onnx.argmax(1), tflite.argmax(1)
    acc = {
        name: float((p == y).mean()) for name, p in (("fp32", p32), ("onnx", pon), ("tflite", ptf))
    }
    return {
        "n": len(y),
        "top1_fp32": acc["fp32"],
        "top1_onnx_int8": acc["onnx"],
        "top1_tflite_int8": acc["tflite"],
        "agree_onnx_tflite": float((pon == ptf).mean()),
        "agree_onnx_fp32": float((pon == p32).mean()),
        "agree_tflite_fp32": float((ptf == p32).mean()),
        "gap_onnx_points": 100.0 * (acc["onnx"] - acc["fp32"]),
        "gap_tflite_points": 100.0 * (acc["tflite"] - acc["fp32"]),
    }
