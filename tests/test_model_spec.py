"""Model folders: a bad model.json or model file is refused with a message naming the file."""

import json
import shutil
import subprocess
import sys
import wave
from pathlib import Path

import pytest
from tiny_model import build_tiny_model

from edge_asr.backends import load_backend
from edge_asr.model import ModelError, load_spec


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    build_tiny_model(tmp_path / "m")
    return tmp_path / "m"


def edit(folder: Path, **changes: object) -> None:
    path = folder / "model.json"
    data = json.loads(path.read_text())
    data.update(changes)
    path.write_text(json.dumps(data))


def test_loads_and_verifies(folder: Path) -> None:
    spec = load_spec(folder)
    assert spec.commands == ("loud", "quiet")
    assert spec.window_s == pytest.approx(0.99)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"format": 99}, "format must be 1"),
        ({"labels": []}, "labels must be a non-empty list"),
        ({"labels": ["a", "a"]}, "unique"),
        ({"input_frames": 0}, "input_frames"),
        ({"thresholds": {"nope": 0.5}}, "unknown label 'nope'"),
        ({"thresholds": {"default": 0}}, r"\(0, 1\]"),
        # an integer past float's range raised OverflowError, a crash instead of this message
        ({"thresholds": {"loud": 10**400}}, r"threshold 'loud' must be a number in \(0, 1\]"),
        ({"thresholds": {"loud": "0.5"}}, r"got '0.5'"),  # was taken as 0.5
        ({"thresholds": {"loud": True}}, r"got True"),  # was taken as 1.0
        ({"thresholds": {"\n": None}}, r"threshold '\\n' must be a number"),  # one line
        ({"frontend": {"hop": 1}}, "unknown frontend parameters: 'hop'"),
        ({"files": {}}, "must list model.onnx or model.tflite"),
        # a list gave the default 0.8 instead of the model's calibrated threshold, silently
        ({"thresholds": []}, "thresholds must be an object"),
        ({"files": {"model.onnx": "ab12"}}, r'each entry of files must be \{"sha256"'),
        ({"decoder": []}, "decoder must be an object"),
        ({"decoder": {"hop_ms": 10}}, "decoder.hop_ms: unknown key"),
        (
            {"decoder": {"smoothing_ms": -1}},
            r"decoder.smoothing_ms must be an integer in \[0, 2000\]",
        ),
        ({"decoder": {"infer_every_ms": 2.5}}, "decoder.infer_every_ms must be an integer"),
    ],
)
def test_bad_sidecar_names_the_file(folder: Path, change: dict, message: str) -> None:
    edit(folder, **change)
    with pytest.raises(ModelError, match=message) as err:
        load_spec(folder)
    assert str(folder / "model.json") in str(err.value)


def test_decoder_timing_defaults_for_older_model_json(folder: Path) -> None:
    data = json.loads((folder / "model.json").read_text())
    data.pop("decoder", None)
    (folder / "model.json").write_text(json.dumps(data))
    assert load_spec(folder).timing == (100, 200)
    edit(folder, decoder={"smoothing_ms": 400})
    assert load_spec(folder).timing == (100, 400)


def test_missing_key_and_broken_json(folder: Path) -> None:
    data = json.loads((folder / "model.json").read_text())
    del data["labels"]
    (folder / "model.json").write_text(json.dumps(data))
    with pytest.raises(ModelError, match="missing key 'labels'"):
        load_spec(folder)
    (folder / "model.json").write_text("{")
    with pytest.raises(ModelError, match="unreadable"):
        load_spec(folder)
    with pytest.raises(ModelError, match="not found"):
        load_spec(folder / "elsewhere")


def test_tampered_model_file_fails_checksum(folder: Path) -> None:
    with (folder / "model.onnx").open("ab") as f:
        f.write(b"\0")
    with pytest.raises(ModelError, match=r"model.onnx: sha256 .* does not match"):
        load_spec(folder)


def test_corrupt_model_file_is_named_by_the_backend(folder: Path) -> None:
    (folder / "model.onnx").write_bytes(b"not an onnx file")
    spec = load_spec(folder, verify=False)
    with pytest.raises(ModelError, match=r"model\.onnx: onnxruntime cannot load it"):
        load_backend(spec, "onnx")
    with pytest.raises(ModelError, match="no model file for backend 'tflite'"):
        load_backend(spec, "tflite")


UNPRIVILEGED = ["setpriv", "--inh-caps=-dac_override,-dac_read_search"]
UNPRIVILEGED += ["--bounding-set=-dac_override,-dac_read_search"]


@pytest.mark.skipif(shutil.which("setpriv") is None, reason="needs util-linux setpriv")
def test_unreadable_model_file_is_named_not_a_traceback(folder: Path) -> None:
    """A model written with umask 077 by root, run by the service's DynamicUser. setpriv takes
    away the capabilities that let root read it anyway (and is harmless when not root)."""
    (folder / "model.onnx").chmod(0)
    clip = folder / "silence.wav"
    with wave.open(str(clip), "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(16000)
        w.writeframes(b"\0\0" * 1600)
    recognize = [sys.executable, "-m", "edge_asr.cli", "recognize", "--json", "--model"]
    command = [*UNPRIVILEGED, *recognize, str(folder), str(clip)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert result.returncode == 78, result.stderr
    assert "Traceback" not in result.stderr
    assert "model.onnx: cannot read (Permission denied)" in result.stderr
