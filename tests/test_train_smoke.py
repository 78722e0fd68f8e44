"""Smoke run of the whole model factory: `edge-asr train --size tiny` for a custom phrase set."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from edge_asr.backends import load_backend
from edge_asr.model import load_spec
from edge_asr.train import humans
from edge_asr.train.tts import DEFAULT_CACHE_DIR

pytest.importorskip("torch", reason="training needs the [train] extra")
pytest.importorskip("litert_torch", reason="TFLite export needs the [train] extra")


def _train_tiny(out: Path, *extra: str) -> None:
    args = ["--commands", "lights on, lights off", "--name", "smoke-lights", "--size", "tiny"]
    result = subprocess.run(
        [sys.executable, "-m", "edge_asr.cli", "train", *args, "--out", str(out), *extra],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]


def _recordings(folder: Path) -> Path:
    """Stand-ins for a user's own recordings (`--enroll`): espeak-ng's WAVs at its own 22.05 kHz,
    two per command, so reading, resampling and trimming them is part of the run."""
    for phrase in ("lights on", "lights off"):
        for i, speed in enumerate(("150", "190")):
            path = folder / phrase.replace(" ", "_") / f"take{i}.wav"
            path.parent.mkdir(parents=True, exist_ok=True)
            subprocess.run(["espeak-ng", "-s", speed, "-w", str(path), phrase], check=True)
    return folder


@pytest.mark.slow
def test_tiny_custom_model_end_to_end(tmp_path: Path) -> None:
    out = tmp_path / "lights"
    _train_tiny(out, "--enroll", str(_recordings(tmp_path / "mine")))
    spec = load_spec(out)  # verifies every checksum in model.json
    assert spec.commands == ("lights on", "lights off")
    assert {"model.onnx", "model.tflite"} <= set(spec.files)
    for backend in ("onnx", "tflite"):
        assert load_backend(spec, backend).name == backend
    metrics = spec.extra["metrics"]
    assert set(metrics["test"]) >= {"teacher", "student_no_kd", "student_kd", "student_mined"}
    assert metrics["shipped_student"] == "mined"
    kernels = spec.extra["training"]["kernels"]  # what a bit-for-bit rebuild must share
    assert kernels["torch_cpu_capability"] and any("openblas" in b for b in kernels["blas"])
    packages = spec.extra["training"]["packages"]  # and the exporters' versions
    assert {"torch", "onnx", "onnxruntime", "litert-torch"} <= set(packages)
    mined = spec.extra["training"]["hard_negatives"]
    assert mined["from"] in ("no_kd", "kd") and mined["stream_windows"] > 500  # 1 min / 100 ms
    assert 0.0 <= metrics["agreement"]["agree_onnx_tflite"] <= 1.0
    assert metrics["tflite_io"]["input"]["dtype"] == "int8"
    assert 0.5 <= spec.default_threshold <= 0.99
    assert "calibration" in spec.extra and "streaming_eval" in spec.extra
    same = spec.extra["streaming_eval"]["onnx_tflite_same_first_detection"]
    assert same["clips"] > 0 and 0.0 <= same["agree"] <= 1.0
    # Validation voices are scored through the recognizer too, to pick builds on.
    val = spec.extra["streaming_eval"]["synthetic_validation"]
    assert set(val["top1"]) == {"clean", "20dB", "10dB", "0dB"} and val["clips"]["clean"] > 0
    assert "Validation voices" in (out / "CARD.md").read_text()
    data = spec.extra["training"]["data"]  # tiny: every unknown word in every split
    assert data["unknown_words"] == data["eval_unknown_words"] >= 4
    assert f"`_unknown_`): {data['unknown_words']} other words," in (out / "CARD.md").read_text()
    assert data["enrolled"] == {"lights on": 2, "lights off": 2}
    card = (out / "CARD.md").read_text()
    assert (
        "Also 4 recordings of the user's own voices" in card and "synthetic voices only" not in card
    )
    assert "first_detections" not in json.dumps(spec.extra)  # per-clip lists stay out
    assert "per_recording" not in json.dumps(spec.extra)
    if humans.SPHINX_DIR.is_dir():  # human speech, none of it a command of this model
        speech = spec.extra["streaming_eval"]["human_recordings"]["groups"]["pocketsphinx"]
        assert speech["commands_said"] == 0 and speech["recordings"] == 12
        line = next(x for x in (out / "CARD.md").read_text().splitlines() if "Human voices in" in x)
        assert "none of this model's commands is said in them" in line and "0 of 0" not in line
    if humans.ALSA_DIR.is_dir():  # "front left", ...: again none of them a command here
        phrases = spec.extra["streaming_eval"]["human_recordings"]["groups"]["alsa"]
        assert phrases["commands_said"] == 0 and phrases["recordings"] == 9
        assert "Human voice in two-word phrases" in (out / "CARD.md").read_text()
    for name in ("CARD.md", "confusion.png", "det.png"):
        assert (out / name).stat().st_size > 0
    assert "lights on" in (out / "CARD.md").read_text()
    # The trained folder runs in the product's recognizer, as any user model would.
    wav = next((out / "samples").glob("*.wav"), None) or next(
        (DEFAULT_CACHE_DIR / "datasets" / "smoke-lights").glob("test_wav/*/*.wav")
    )
    rec = subprocess.run(
        [
            sys.executable,
            "-m",
            "edge_asr.cli",
            "recognize",
            "--json",
            "--model",
            str(out),
            str(wav),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert rec.returncode == 0, rec.stderr
    assert json.loads(rec.stdout)["file"] == str(wav)


@pytest.mark.slow
def test_a_rebuild_from_empty_caches_makes_the_same_model_files(tmp_path: Path) -> None:
    """Fixed seeds mean the same files: data, training, both INT8 exports, the threshold, with
    stages side by side (--jobs 2) or in turn (--jobs 1). The builds share only the synthesised
    clips (each engine's own determinism is tested in test_train_data)."""
    clips = DEFAULT_CACHE_DIR / "tts"
    clips.mkdir(parents=True, exist_ok=True)
    digests = []
    for build, jobs in (("first", "2"), ("second", "1")):
        cache = tmp_path / build / "cache"
        cache.mkdir(parents=True)
        (cache / "tts").symlink_to(clips, target_is_directory=True)
        _train_tiny(tmp_path / build / "model", "--cache", str(cache), "--jobs", jobs)
        files = ("model.onnx", "model.tflite")
        digests.append(
            [
                hashlib.sha256((tmp_path / build / "model" / f).read_bytes()).hexdigest()
                for f in files
            ]
            + [load_spec(tmp_path / build / "model").default_threshold]
        )
    assert digests[0] == digests[1]
