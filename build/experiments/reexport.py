#!/usr/bin/env python3
"""Export a finished build again from its cache (behind build/results/build-side-by-side.json,
onnx_mismatch; not part of the product): build/model's training stages are all cached, so
train_model only exports and writes model.json; prints the sha256 of both INT8 files.

  OPENBLAS_CORETYPE=Cooperlake .venv/bin/python build/experiments/reexport.py CACHE OUT_DIR

CACHE is the build's --cache (default ~/.cache/edge-asr); OUT_DIR gets the model files.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from _usage import arguments

from edge_asr.train.recipe import train_model

NAME = "speech-commands-20"


def main() -> None:
    cache, out = (Path(a).expanduser() for a in arguments(__doc__, 2, 2))
    train_model(
        cache / "datasets" / NAME,
        out,
        NAME,
        "1.4.0",
        preset="long",  # --size full
        seed=0,
        cache_dir=cache / "runs" / NAME,
        mining_wav=lambda: cache / "streams" / NAME / "mine-180min.wav",
        progress=False,
    )
    for name in ("model.onnx", "model.tflite"):
        print(name, hashlib.sha256((out / name).read_bytes()).hexdigest())


if __name__ == "__main__":
    main()
