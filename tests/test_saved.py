"""muted.json and thresholds.json: what the set topic changed, kept for the next process, and what
an unreadable, unwritable or other model's file does."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from edge_asr.saved import MuteFile, ThresholdFile

COMMANDS = ("on", "off")
FILES = {"model.onnx": "ab" * 32}


def test_saved_mute_is_loaded_by_the_next_process(tmp_path: Path) -> None:
    assert MuteFile(tmp_path).load() is False  # never muted
    MuteFile(tmp_path).save(True)
    assert MuteFile(tmp_path).load() is True
    MuteFile(tmp_path).save(False)
    assert MuteFile(tmp_path).load() is False
    assert sorted(p.name for p in tmp_path.iterdir()) == ["muted.json"]  # no temp file left


UNREADABLE = [
    *(("muted.json", text) for text in ["{not json", '{"muted": "yes"}', "[]", '{"mute": true}']),
    *(("thresholds.json", text) for text in ["{not json", "[]", '{"thresholds": [0.9]}', "{}"]),
]


@pytest.mark.parametrize(("name", "content"), UNREADABLE)
def test_an_unreadable_file_is_logged_and_changes_nothing(
    tmp_path: Path, name: str, content: str, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / name).write_text(content)
    with caplog.at_level(logging.WARNING, logger="edge_asr.saved"):
        assert MuteFile(tmp_path).load() is False
        assert thresholds(tmp_path).load(COMMANDS) == {}
    told = "starting unmuted" if name == "muted.json" else "thresholds set over MQTT not applied"
    assert len(caplog.records) == 1, caplog.text  # the other file, absent, is no warning
    assert name in caplog.text and told in caplog.text


def test_an_unwritable_folder_is_logged_not_raised(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="edge_asr.saved"):
        MuteFile(tmp_path / "missing").save(True)
        ThresholdFile(tmp_path / "missing", "m", "1", FILES).save({"on": 0.9})
    assert "a restart will forget the mute" in caplog.text
    assert "a restart will forget these thresholds" in caplog.text


def thresholds(folder: Path, version: str = "1.0", files: dict[str, str] = FILES) -> ThresholdFile:
    return ThresholdFile(folder, "lights", version, files)


def test_saved_thresholds_are_loaded_for_the_same_model(tmp_path: Path) -> None:
    assert thresholds(tmp_path).load(COMMANDS) == {}  # none ever set
    thresholds(tmp_path).save({"on": 0.95, "off": 1})
    assert thresholds(tmp_path).load(COMMANDS) == {"on": 0.95, "off": 1.0}
    thresholds(tmp_path).save({"off": 0.7})  # "on" put back to its configured threshold
    assert thresholds(tmp_path).load(COMMANDS) == {"off": 0.7}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["thresholds.json"]


@pytest.mark.parametrize(
    ("version", "files", "said"),
    [("2.0", FILES, "lights 1.0, not for this model (lights 2.0)"),
     ("1.0", {"model.onnx": "cd" * 32}, "(lights 1.0, other files)")],
)  # fmt: skip
def test_thresholds_saved_for_another_model_are_not_applied(
    tmp_path: Path,
    version: str,
    files: dict[str, str],
    said: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A new version or a retrained network has thresholds calibrated for it; those set for the
    one before would move it off its calibration."""
    thresholds(tmp_path).save({"on": 0.95})
    with caplog.at_level(logging.WARNING, logger="edge_asr.saved"):
        assert thresholds(tmp_path, version, files).load(COMMANDS) == {}
    assert said in caplog.text and "not applied" in caplog.text


def test_thresholds_that_are_not_this_models_are_left_out(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    thresholds(tmp_path).save({"on": 0.95})
    document = json.loads((tmp_path / "thresholds.json").read_text())
    document["thresholds"] = {"on": 0.95, "dim": 0.8, "off": 0, "yes": True}
    (tmp_path / "thresholds.json").write_text(json.dumps(document))
    with caplog.at_level(logging.WARNING, logger="edge_asr.saved"):
        assert thresholds(tmp_path).load(COMMANDS) == {"on": 0.95}
    assert "dim=0.8" in caplog.text and "off=0" in caplog.text and "yes=True" in caplog.text
