#!/usr/bin/env python3
"""Can a BC-ResNet student ship as the DS-CNN does (behind build/results/probe-bc-resnet.json;
not part of the product)? Builds bc-resnet.py's network at WIDTH with batch-norm statistics
from the recipe's training windows (no training: this checks ops, sizes and speed, not
accuracy), folds every batch norm into its convolution and the input normalisation into the
stem, checks the fold is exact, exports both INT8 files with the factory's own functions
(edge_asr.train.export), and times one inference of each as the daemon runs it (onnxruntime
session as the daemon makes it; LiteRT), beside the shipped model's files.

  OMP_NUM_THREADS=1 .venv/bin/python build/experiments/bc-resnet-export.py WIDTH OUT_DIR
"""

from __future__ import annotations

import copy
import importlib.util
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from _screen import load
from _usage import arguments
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from edge_asr.backends import onnx_session
from edge_asr.model import default_model_dir
from edge_asr.train import export, nets
from edge_asr.train.tts import DEFAULT_CACHE_DIR

HERE = Path(__file__).resolve().parent


def _bc_module() -> Any:
    spec = importlib.util.spec_from_file_location("bc_resnet", HERE / "bc-resnet.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _fold(seq: nn.Sequential) -> nn.Sequential:
    """Sequential(conv, BN, ...) -> Sequential(conv with BN folded in, ...)."""
    conv, bn, *rest = list(seq)
    assert isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d)
    return nn.Sequential(fuse_conv_bn_eval(conv, bn), *rest)


def deploy_copy(net: nn.Module) -> nn.Module:
    """The network with BN folded and the scalar input normalisation folded into the stem (it
    has no padding, so the fold is exact); forward() unchanged, dropout gone."""
    d = copy.deepcopy(net).eval()
    stem = _fold(d.stem)
    conv = stem[0]
    mean, std = float(d.norm.mean.item()), float(d.norm.std.item())
    with torch.no_grad():
        conv.bias -= mean / std * conv.weight.sum(dim=(1, 2, 3))
        conv.weight /= std
    d.stem, d.norm = stem, nn.Identity()
    for block in d.blocks:
        if isinstance(block.pre, nn.Sequential):
            block.pre = _fold(block.pre)
        block.freq, block.time, block.drop = _fold(block.freq), _fold(block.time), nn.Identity()
    d.head_dw, d.head_pw = _fold(d.head_dw), _fold(d.head_pw)
    return d


def per_inference_ms(run: Any, x: np.ndarray, n: int = 2000) -> float:
    for row in x[:50]:
        run(row[None])
    times = []
    for _ in range(5):
        t = time.perf_counter()
        for i in range(n):
            run(x[i % len(x)][None])
        times.append((time.perf_counter() - t) / n * 1000)
    return round(float(np.median(times)), 4)


def timers(onnx_path: Path, tflite_path: Path) -> dict[str, Any]:
    from ai_edge_litert.interpreter import Interpreter

    sess = onnx_session(onnx_path, threads=1)
    name = sess.get_inputs()[0].name
    interp = Interpreter(model_path=str(tflite_path), num_threads=1)
    interp.allocate_tensors()
    inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
    scale, zp = inp["quantization"]

    def tflite(x: np.ndarray) -> Any:
        interp.set_tensor(
            inp["index"], np.clip(np.round(x / scale + zp), -128, 127).astype(np.int8)
        )
        interp.invoke()
        return interp.get_tensor(out["index"])

    return {"onnx": lambda x: sess.run(None, {name: x}), "tflite": tflite}


def main(width: float, out: Path) -> dict[str, Any]:
    torch.set_num_threads(1)
    s, test, _ = load(DEFAULT_CACHE_DIR, 3)
    torch.manual_seed(0)
    net = _bc_module().BCResNet(len(s.labels), s.n_mels, width=width)
    net.norm.set_stats(s.train.x)
    net.train()
    with torch.no_grad():  # batch-norm statistics of real windows; no weight changes
        for i in range(0, 128 * 40, 128):
            net(s.train.x[i : i + 128])
    net.eval()
    deploy = deploy_copy(net)
    x = test.x[:512].numpy()
    ref, folded = export.run_torch(net, x), export.run_torch(deploy, x)
    out.mkdir(parents=True, exist_ok=True)
    train = s.train
    calib = export.calibration_windows(train.x.numpy(), train.y.numpy(), train.snr_db, 256, seed=0)
    pt2e = export.quantize_pt2e(deploy, calib)
    tfl = export.export_tflite_int8(pt2e, out / "model.tflite")
    onx = export.export_onnx_int8(deploy, calib, out / "model.onnx", pt2e.activations)
    agree = export.agreement_report(
        folded, export.run_onnx(out / "model.onnx", x), export.run_tflite(out / "model.tflite", x),
        test.y[:512].numpy(),
    )  # fmt: skip
    shipped = default_model_dir()
    rows = {"bc": timers(out / "model.onnx", out / "model.tflite"),
            "shipped": timers(shipped / "model.onnx", shipped / "model.tflite")}  # fmt: skip
    ms = {f"{net_name}_{rt}": per_inference_ms(fn, x) for net_name, r in rows.items()
          for rt, fn in r.items()}  # fmt: skip
    return {
        "width": width,
        **nets.describe("bc", deploy, s.input_frames, s.n_mels),
        "fold_max_abs_diff": float(np.abs(ref - folded).max()),
        "bytes": {"onnx": onx["bytes"], "tflite": tfl["bytes"]},
        "agreement_untrained": agree,
        "ms_per_inference": ms,
    }


if __name__ == "__main__":
    args = arguments(__doc__, 2, 2)
    print(json.dumps(main(float(args[0]), Path(args[1])), indent=1))
