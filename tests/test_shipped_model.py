"""The shipped default model: intact files, both runtimes agree, and it hears its commands."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from repo import ROOT

from edge_asr.backends import TFLITE_MODULES, TfliteBackend, load_backend
from edge_asr.model import default_model_dir, load_spec

MODEL = default_model_dir()
COMMANDS = [
    "yes",
    "no",
    "up",
    "down",
    "left",
    "right",
    "on",
    "off",
    "stop",
    "go",
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
]


def test_files_match_model_json_and_stay_small() -> None:
    spec = load_spec(MODEL)  # raises on any checksum mismatch
    assert spec.commands == tuple(COMMANDS)
    for name in ("model.onnx", "model.tflite"):
        assert (MODEL / name).stat().st_size <= 100 * 1024, name
    assert spec.extra["metrics"]["macs"]["student"] <= 6_000_000
    assert (MODEL / "CARD.md").is_file()


def test_the_build_script_and_the_trainer_default_rebuild_these_commands() -> None:
    """build/model and the experiment scripts (through vocab.DEFAULT_COMMANDS) must train the
    shipped label set in the shipped order, or a rebuild would silently be another model."""
    from edge_asr.train import vocab

    script = (ROOT / "build" / "model").read_text()
    found = re.search(r'--commands "([^"]+)"', script)
    assert found, "build/model: no --commands argument"
    assert [c.strip() for c in found.group(1).split(",")] == COMMANDS
    assert list(vocab.DEFAULT_COMMANDS) == COMMANDS


@pytest.mark.parametrize("module", TFLITE_MODULES)
def test_onnx_and_tflite_agree_on_real_features(module: str) -> None:
    """Top-1 agreement of the two INT8 files, through the daemon's own backends and each TFLite
    runtime installed (LiteRT and tflite-runtime round differently), on every window the
    streaming path would see around the sample clips (186 of 187 measured with 1.3.0). The
    trainer measured 98.0 % on 2,856 held-out windows (metrics.agreement in model.json), and
    99.2 % of 3,144 held-out clips get the same first detection through the streaming path
    (streaming_eval.onnx_tflite_same_first_detection; the issue's target is 99 % of clips)."""
    pytest.importorskip(module)
    spec = load_spec(MODEL)
    onnx = load_backend(spec, "onnx")
    tflite = TfliteBackend(spec, MODEL / "model.tflite", module=module)
    assert tflite.runtime == module
    from edge_asr.audio import read_wav
    from edge_asr.frontend import log_mel

    agree = []
    for wav in sorted((MODEL / "samples").glob("*.wav")):
        pad = np.zeros(8000, np.int16)
        feats = log_mel(np.concatenate([pad, read_wav(wav, 16000), pad]), spec.frontend)
        for start in range(0, len(feats) - spec.input_frames + 1, 5):
            window = np.ascontiguousarray(feats[start : start + spec.input_frames])
            agree.append(int(np.argmax(onnx.infer(window))) == int(np.argmax(tflite.infer(window))))
    assert len(agree) >= 100
    assert np.mean(agree) >= 0.97, f"{np.mean(agree):.3f} of {len(agree)} windows"


def recognize(files: list[Path], backend: str) -> list[dict]:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "edge_asr.cli",
            "recognize",
            "--json",
            "--backend",
            backend,
            *map(str, files),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    return [json.loads(line) for line in out.stdout.splitlines()]


@pytest.mark.parametrize("backend", ["onnx", "tflite"])
def test_recognizes_the_shipped_samples(backend: str) -> None:
    """samples/ holds held-out clips for the commands the model is known to recognize (the
    card says how they were chosen); both runtimes must hear each as exactly its command."""
    files = sorted((MODEL / "samples").glob("*.wav"))
    assert len(files) >= len(COMMANDS) // 2
    results = recognize(files, backend)
    heard = [[d["command"] for d in r["detections"]] for r in results]
    assert heard == [[f.stem.replace("_", " ")] for f in files]


def test_output_piped_into_head_ends_quietly() -> None:
    """`edge-asr recognize --json *.wav | head -1`: a reader that stops early ends the command
    with the shell's SIGPIPE status, not a traceback."""
    files = sorted((MODEL / "samples").glob("*.wav"))
    cmd = [sys.executable, "-m", "edge_asr.cli", "recognize", "--json", *map(str, files)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stderr is not None
    first = json.loads(proc.stdout.readline())
    proc.stdout.close()
    stderr = proc.stderr.read()
    assert proc.wait(timeout=120) == 128 + 13, stderr
    assert first["file"] == str(files[0])
    assert "Traceback" not in stderr and "Broken pipe" not in stderr


def test_a_file_name_that_is_not_utf8_does_not_end_the_run(tmp_path: Path) -> None:
    """Linux names may hold any bytes; printing one under a strict UTF-8 locale raised
    UnicodeEncodeError and the files after it were never read."""
    sample = MODEL / "samples" / "yes.wav"
    odd = Path(os.fsdecode(bytes(tmp_path) + b"/bad\xffname.wav"))
    shutil.copyfile(sample, odd)
    env = {**os.environ, "PYTHONIOENCODING": "utf-8:strict"}
    cmd = [sys.executable, "-m", "edge_asr.cli", "recognize", str(odd), str(sample)]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 2 and "bad\\udcffname.wav: yes (" in lines[0]


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed")
def test_recognizes_fresh_synthesized_speech(tmp_path: Path) -> None:
    """A voice held out of training (en-029 is a validation voice), two speaking rates.

    The floor is the shipped model's measured level minus a small margin (espeak-ng output is
    deterministic): 1.0.0 heard 27 of these 40 at its calibrated threshold, 1.1.0 hears 25.
    It guards the whole path (WAV reading, resampling, features, runtime, decoder); the model
    card holds the accuracy figures."""
    files, expected = [], []
    for rate in (140, 175):
        for command in COMMANDS:
            path = tmp_path / f"{command}-{rate}.wav"
            subprocess.run(
                ["espeak-ng", "-v", "en-029", "-s", str(rate), "-w", str(path), command], check=True
            )
            files.append(path)
            expected.append(command)
    results = recognize(files, "onnx")
    first = [(r["detections"] or [{"command": None}])[0]["command"] for r in results]
    correct = sum(f == e for f, e in zip(first, expected, strict=True))
    assert correct / len(expected) >= 0.6, list(zip(expected, first, strict=True))
