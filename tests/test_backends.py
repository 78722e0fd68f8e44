"""Integer tensors in and out of the runtimes: quantize and dequantize with the model's own
scale and zero point, over the whole int8 range; and which runtime `auto` ends up with."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from repo import ROOT

from edge_asr.backends import _Quantizer
from edge_asr.model import default_model_dir


@pytest.mark.parametrize("zero_point", [4, -35, 0, 127, -128])
def test_dequantize_is_exact_at_the_ends_of_the_int8_range(zero_point: int) -> None:
    """The shipped TFLite file's output has zero point 4: an int8 -128 is a logit of -11.7, and
    must not wrap around to +11 (which made the least likely label the most likely)."""
    scale = 0.088436
    q = _Quantizer(np.int8, scale, zero_point, (256,))
    raw = np.arange(-128, 128, dtype=np.int8)
    out = q.dequantize(raw, np.zeros(256, np.float32))
    expected = (raw.astype(np.float64) - zero_point) * scale
    np.testing.assert_allclose(out, expected, rtol=1e-6)
    assert np.all(np.diff(out) > 0)  # order kept: the largest int8 is the largest logit


def test_quantize_rounds_and_saturates() -> None:
    scale, zero_point = 0.091208, 23
    q = _Quantizer(np.int8, scale, zero_point, (6,))
    values = np.array([0.0, scale * 10.4, -scale * 10.6, 1e6, -1e6, scale * -151], np.float32)
    got = q.quantize(values).copy()
    assert got.tolist() == [23, 33, 12, 127, -128, -128]
    back = q.dequantize(got, np.zeros(6, np.float32))
    assert abs(back[1] - values[1]) <= scale / 2 + 1e-6


OUT_SCALE = 4096.0


def saturating_conv(path: Path, channels: int) -> float:
    """A real INT8 QDQ ONNX file: one 1x1 convolution over `channels` inputs, every input and
    weight at int8 127, scale 1. Returns the exact output, channels * 127 * 127, which needs
    more than int16 for any two products added together (what a u8*s8 kernel without VNNI
    does)."""
    from onnx import TensorProto, helper, numpy_helper, save

    w = numpy_helper.from_array(np.full((1, channels, 1, 1), 127, np.int8), "w_q")
    consts = [
        numpy_helper.from_array(np.array(1.0, np.float32), "one"),
        numpy_helper.from_array(np.array(0, np.int8), "zero"),
        numpy_helper.from_array(np.array(OUT_SCALE, np.float32), "out_scale"),
        w,
    ]
    nodes = [
        helper.make_node("QuantizeLinear", ["x", "one", "zero"], ["x_q"]),
        helper.make_node("DequantizeLinear", ["x_q", "one", "zero"], ["x_dq"]),
        helper.make_node("DequantizeLinear", ["w_q", "one", "zero"], ["w_dq"]),
        helper.make_node("Conv", ["x_dq", "w_dq"], ["y"]),
        helper.make_node("QuantizeLinear", ["y", "out_scale", "zero"], ["y_q"]),
        helper.make_node("DequantizeLinear", ["y_q", "out_scale", "zero"], ["out"]),
    ]
    graph = helper.make_graph(
        nodes,
        "saturating-conv",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, channels, 4, 4])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, 1, 4, 4])],
        consts,
    )
    save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), str(path))
    return channels * 127.0 * 127.0


def test_onnx_sessions_multiply_int8_exactly_where_fast_kernels_saturate(tmp_path: Path) -> None:
    """onnxruntime fuses the QDQ pattern into an integer convolution. Its fast x86 kernel for
    CPUs without VNNI adds u8*s8 products in pairs in int16 and saturates (the shipped model
    then missed its own sample clips on an AVX2 EPYC); the daemon's sessions must give the
    exact product on every CPU."""
    pytest.importorskip("onnxruntime")
    from edge_asr.backends import onnx_session

    path = tmp_path / "saturating.onnx"
    exact = saturating_conv(path, channels=32)
    session = onnx_session(path)
    (out,) = session.run(None, {"x": np.full((1, 32, 4, 4), 127.0, np.float32)})
    assert exact / OUT_SCALE < 127  # fits the output's int8
    expected = round(exact / OUT_SCALE) * OUT_SCALE  # the output's own int8 rounding
    np.testing.assert_array_equal(out, np.full((1, 1, 4, 4), expected, np.float32))


def test_auto_skips_a_runtime_that_is_installed_but_does_not_import(tmp_path: Path) -> None:
    """A broken onnxruntime (a missing shared library, a numpy ABI mismatch) used to stop
    `auto` with 'needs onnxruntime: pip install' though TFLite was there and fine."""
    broken = tmp_path / "onnxruntime"
    broken.mkdir()
    (broken / "__init__.py").write_text('raise ImportError("libonnxruntime.so: no such file")\n')
    sample = default_model_dir() / "samples" / "yes.wav"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)])}
    recognize = [sys.executable, "-m", "edge_asr.cli", "recognize", "--json"]
    auto = subprocess.run([*recognize, str(sample)], env=env, capture_output=True, text=True)
    assert auto.returncode == 0, auto.stderr
    assert [d["command"] for d in json.loads(auto.stdout)["detections"]] == ["yes"]
    assert "onnxruntime is installed but does not import: libonnxruntime.so" in auto.stderr
    forced = subprocess.run(
        [*recognize, "--backend", "onnx", str(sample)], env=env, capture_output=True, text=True
    )
    assert forced.returncode == 69 and "is installed but does not import" in forced.stderr
