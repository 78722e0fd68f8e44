#!/usr/bin/env python3
"""Probe behind build/results/probe-teacher-capacity.json (kept so its figures can be re-made;
not part of the product): is the held-out gap a matter of capacity or of data?

Every student change screened since 1.3.0 moved the held-out voices within the spread of two
training seeds. The recipe's teacher (~0.7 M parameters, 28 M MACs, 7x the student) is the
largest network the factory trains: if it, on the same 1.5.0 windows, hears far more held-out
commands where as few unknown words and stream false accepts pass, capacity is what the student
lacks (and a bigger network, or a cascade that asks one only when the student is unsure, is
the way on); if not, the data is.

Trains the recipe's teacher (`long` preset, training seed TRAIN_SEED; cached under
CACHE/runs/speech-commands-20 with the recipe's own stage key, so build/model and the ablations
find it), reports it on windows as the screens do (`_screen.report`), and writes it as an fp32
ONNX model folder (model.json from the shipped model's, its threshold left as is) that
`build/experiments/det-compare.py` runs through the streaming recognizer:

  OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 .venv/bin/python \\
      build/experiments/teacher-capacity.py OUT_DIR [--mined] [--train-seed S] [--cache DIR] \\
      [--json OUT]

--mined then fine-tunes the teacher on its own hard negatives as the recipe does the student
(`long` preset's mine_threshold and mine_tune, on the recipe's 180-minute mining stream of
training voices, CACHE/streams/speech-commands-20/mine-180min.wav), so that capacity is compared
with the step that made the student's operating point.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import torch
from _screen import NAME, emit, load, parse, report
from _teacher import fine_tune_on_hard_negatives, teacher

from edge_asr.model import sha256_of
from edge_asr.train.export import export_onnx_fp32, run_onnx

SHIPPED = Path(__file__).resolve().parents[2] / "models" / NAME / "model.json"


def export_fp32(net: torch.nn.Module, frames: int, n_mels: int, out: Path) -> None:
    """out/model.onnx (fp32, float input) and a model.json the daemon's loader accepts."""
    out.mkdir(parents=True, exist_ok=True)
    export_onnx_fp32(net, np.zeros((1, frames, n_mels), np.float32), out / "model.onnx")
    spec = json.loads(SHIPPED.read_text())
    keep = ("format", "labels", "frontend", "input_frames", "thresholds", "decoder")
    spec = {k: spec[k] for k in keep}
    spec.update(name=f"{NAME}-teacher", version="0.0.0-teacher")
    spec["files"] = {"model.onnx": {"sha256": sha256_of(out / "model.onnx")}}
    (out / "model.json").write_text(json.dumps(spec, indent=1) + "\n")


def main(argv: list[str]) -> int:
    mined = "--mined" in argv
    argv = [a for a in argv if a != "--mined"]
    args = parse(__doc__, argv, "out_dir", Path, "model folder to write the fp32 teacher to")
    s, test, test_meta = load(args.cache, args.train_seed)
    runs = args.cache / "runs" / NAME
    runs.mkdir(parents=True, exist_ok=True)
    ck, net = teacher(s, runs)
    if mined:
        tuned = fine_tune_on_hard_negatives(s, net, runs, args.cache)
        net.load_state_dict(tuned["state"])
    net.eval()
    with torch.no_grad():
        window = torch.from_numpy(np.ascontiguousarray(test.x[:1].numpy()))
        fp32_logits = net(window).numpy()
    export_fp32(net, s.input_frames, s.n_mels, args.out_dir)
    onnx_logits = run_onnx(args.out_dir / "model.onnx", window.numpy())
    row = {
        "net": "teacher, fine-tuned on its hard negatives" if mined else "teacher",
        **(
            {"hard_negatives": tuned["hard_negatives"], "stream_windows": tuned["stream_windows"]}
            if mined
            else {}
        ),
        "train_seed": args.train_seed,
        "stage_key": s.t_key,
        "epochs": ck["epochs"],
        "best_epoch": ck["result"]["best_epoch"],
        "parameters": sum(p.numel() for p in net.parameters()),
        "onnx_matches_torch": bool(np.allclose(fp32_logits, onnx_logits, atol=1e-3)),
        **report(net, s.val, test, test_meta, s.labels),
    }
    return emit(row, args.json)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
