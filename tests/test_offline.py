"""Offline means offline: nothing edge-asr loads reports home or queues reports for later."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from repo import ROOT

from edge_asr.model import default_model_dir

SAMPLE = default_model_dir() / "samples" / "yes.wav"


def test_onnxruntime_keeps_no_telemetry(tmp_path: Path) -> None:
    """onnxruntime >= 1.29 keeps a device id and a queue of usage events under
    ~/.cache/Microsoft and looks up Microsoft's collector unless ORT_DISABLE_TELEMETRY is set
    before it loads; edge-asr sets it. The run must still recognize the clip."""
    env = {k: v for k, v in os.environ.items() if k != "ORT_DISABLE_TELEMETRY"}
    env.update(HOME=str(tmp_path), XDG_CACHE_HOME=str(tmp_path / ".cache"), PYTHONPATH=str(ROOT))
    cli = [sys.executable, "-m", "edge_asr.cli", "recognize", "--backend", "onnx", "--json"]
    run = subprocess.run(
        [*cli, str(SAMPLE)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert [d["command"] for d in json.loads(run.stdout)["detections"]] == ["yes"]
    left = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*"))
    assert left == [], f"onnxruntime wrote {left}"
