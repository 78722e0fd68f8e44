"""How edge-asr's CPU and latency grow with the number of labels and of microphones.

Labels: students of the shipped architecture (edge_asr.train.nets.Student, default kwargs as
the recipe uses) with 22, 52 and 102 outputs (20/50/100 commands + _silence_ + _unknown_),
RANDOM weights (compute does not depend on the values), exported by the product's own
edge_asr.train.export.export_onnx_int8 (calibrated on real held-out feature windows), each run
through the daemon's pipeline on the peer stream. Microphones: N daemon-equivalent pipelines
in N separate processes started together on the same stream.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from edge_asr.model import ModelSpec, load_spec, write_spec

from . import common

SCALING = common.BENCH / "scaling"


def random_student(reference: ModelSpec, n_labels: int, seed: int = 0) -> Path:
    """A model folder with an INT8 ONNX student of n_labels outputs and random weights."""
    folder = SCALING / reference.name / f"labels-{n_labels}"
    if (folder / "model.json").is_file():
        return folder
    import torch

    from edge_asr.train import export, nets

    torch.manual_seed(seed)
    n_mels = reference.frontend.n_mels
    student = nets.Student(n_labels, n_mels)
    x = np.load(common.DATASET / "test.npz")["x"].astype(np.float32)
    rng = np.random.default_rng(seed)
    calib = np.ascontiguousarray(x[rng.choice(len(x), 256, replace=False)])
    student.norm.set_stats(torch.from_numpy(calib))
    deploy = nets.deploy_copy(student)
    folder.mkdir(parents=True, exist_ok=True)
    export.export_onnx_int8(deploy, calib, folder / "model.onnx")
    extra_labels = [f"cmd{i:03d}" for i in range(n_labels - len(reference.labels))]
    labels = (*reference.labels, *extra_labels)[:n_labels]
    spec = replace(
        reference,
        folder=folder,
        name=f"random-student-{n_labels}",
        version="0",
        labels=tuple(labels),
        thresholds={},
        files={"model.onnx": ""},
        extra={
            "note": "random weights: for compute measurements only",
            "macs": nets.count_macs(deploy, reference.input_frames, n_mels),
            "params": nets.count_params(deploy),
        },
    )
    write_spec(spec)
    return folder


def concurrent(n: int, wav: Path, model: Path) -> dict[str, Any]:
    """N pipelines in N processes at once, each its own figures; total CPU is their sum."""
    cmd = [
        sys.executable,
        "-B",
        str(common.ROOT / "build" / "peerbench" / "engines.py"),
        "edge-onnx",
        str(wav),
        "--model",
        str(model),
        "--warmup-s",
        "10",
    ]
    t0 = time.perf_counter()
    procs = [
        subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(n)
    ]
    outs = []
    for p in procs:
        out, err = p.communicate()
        if p.returncode != 0:
            raise RuntimeError(f"pipeline process failed:\n{err[-2000:]}")
        outs.append(json.loads(out.strip().splitlines()[-1]))
    wall = time.perf_counter() - t0
    per = [o["cpu_s_per_audio_hour"] for o in outs]
    return {
        "processes": n,
        "total_cpu_s_per_audio_hour": round(sum(per), 2),
        "per_process_cpu_s_per_audio_hour": per,
        "per_process_peak_rss_mb": [o["peak_rss_mb"] for o in outs],
        "infer_cpu_ms_mean": [o["infer_cpu_ms_mean"] for o in outs],
        "wall_s_all": round(wall, 1),
        "audio_s_each": outs[0]["audio_s"],
    }


def reference_spec(model: Path | None) -> ModelSpec:
    from edge_asr.model import default_model_dir

    return load_spec(model or default_model_dir())
