"""`train --enroll`: the user's own recordings join the training split, and nothing else moves."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from edge_asr.train.dataset import build_dataset
from edge_asr.train.enroll import ENGINE, ENROLL_COPIES, enrollment_rows, trim_to_speech
from edge_asr.train.tts import TtsCache

COMMANDS = ["yes", "lights on"]
RATE = 16000


def _tone(seconds: float, hz: float = 440.0, level: float = 8000.0) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return (level * np.sin(2 * np.pi * hz * t)).astype(np.int16)


def _recording(path: Path, hz: float) -> Path:
    """A 'recording': 0.8 s of faint room noise, 0.4 s of sound, 0.8 s of room noise."""
    rng = np.random.default_rng(int(hz))
    room = lambda: (rng.normal(0, 30, int(0.8 * RATE))).astype(np.int16)  # noqa: E731
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, np.concatenate([room(), _tone(0.4, hz), room()]), RATE, subtype="PCM_16")
    return path


def test_trimming_keeps_the_speech_and_a_short_margin() -> None:
    audio = np.concatenate([np.zeros(RATE, np.int16), _tone(0.4), np.zeros(RATE, np.int16)])
    trimmed = trim_to_speech(audio)
    assert 0.55 <= trimmed.shape[0] / RATE <= 0.65  # 0.4 s and 0.1 s either side
    assert np.abs(trimmed).max() == np.abs(audio).max()


def test_recordings_become_cached_training_rows_keyed_by_their_sound(tmp_path: Path) -> None:
    enroll = tmp_path / "mine"
    _recording(enroll / "yes" / "a.wav", 300)
    _recording(enroll / "lights_on" / "b.wav", 500)
    cache = TtsCache(tmp_path / "cache", engines={})
    rows = enrollment_rows(enroll, COMMANDS, cache)
    assert sorted(r.label for r in rows) == ["lights on", "yes"]
    assert {r.split for r in rows} == {"train"} and {r.voice.engine for r in rows} == {ENGINE}
    clip = cache.get("yes", next(r.voice for r in rows if r.label == "yes"))
    assert 0.55 <= clip.shape[0] / RATE <= 0.65  # stored trimmed
    (enroll / "yes" / "a.wav").rename(enroll / "yes" / "renamed.wav")
    assert {r.voice for r in enrollment_rows(enroll, COMMANDS, cache)} == {r.voice for r in rows}


@pytest.mark.parametrize(
    ("layout", "message"),
    [
        ({"stop/a.wav": 300}, "folder 'stop' is not one of"),
        ({"yes/silent.wav": 0}, "silent.wav: the recording is silent"),
        ({}, "no WAV files"),
    ],
)
def test_a_bad_enrollment_folder_is_named_in_the_error(
    tmp_path: Path, layout: dict[str, int], message: str
) -> None:
    enroll = tmp_path / "mine"
    enroll.mkdir()
    for name, hz in layout.items():
        if hz:
            _recording(enroll / name, hz)
        else:
            (enroll / name).parent.mkdir(parents=True, exist_ok=True)
            sf.write(enroll / name, np.zeros(RATE, np.int16), RATE, subtype="PCM_16")
    with pytest.raises(ValueError, match=message):
        enrollment_rows(enroll, COMMANDS, TtsCache(tmp_path / "cache", engines={}))


def test_enrolled_windows_are_added_and_every_other_window_is_as_built_without(
    tmp_path: Path,
) -> None:
    if shutil.which("espeak-ng") is None or shutil.which("festival") is None:
        pytest.skip("espeak-ng and festival are needed for the tiny dataset")
    enroll = tmp_path / "mine"
    _recording(enroll / "yes" / "a.wav", 300)
    _recording(enroll / "yes" / "b.wav", 350)
    kw = {"size": "tiny", "seed": 3, "progress": False, "cache_dir": tmp_path / "cache"}
    plain = build_dataset(COMMANDS, tmp_path / "plain", **kw)  # type: ignore[arg-type]
    mine = build_dataset(COMMANDS, tmp_path / "mine-ds", enroll=enroll, **kw)  # type: ignore[arg-type]
    assert mine.recipe_hash != plain.recipe_hash
    with np.load(plain.out_dir / "train.npz") as a, np.load(mine.out_dir / "train.npz") as b:
        user = b["engine"] == ENGINE
        assert int(user.sum()) == 2 * 2 * ENROLL_COPIES  # recordings x tiny's copies x weight
        assert set(b["text"][user]) == {"yes"}
        assert np.array_equal(a["x"], b["x"][~user]) and np.array_equal(a["y"], b["y"][~user])
    for split in ("val", "test"):
        with (
            np.load(plain.out_dir / f"{split}.npz") as a,
            np.load(mine.out_dir / f"{split}.npz") as b,
        ):
            assert np.array_equal(a["x"], b["x"])
    meta = (mine.out_dir / "dataset.json").read_text()
    assert '"enrolled": {\n    "yes": 2\n  }' in meta


def test_train_names_a_missing_enrollment_folder_without_a_traceback(tmp_path: Path) -> None:
    pytest.importorskip("torch", reason="training needs the [train] extra")
    result = subprocess.run(
        [
            *(sys.executable, "-m", "edge_asr.cli", "train", "--commands", "yes", "--size", "tiny"),
            *("--out", str(tmp_path / "m"), "--cache", str(tmp_path / "c")),
            *("--enroll", str(tmp_path / "nowhere")),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode != 0
    assert f"--enroll {tmp_path / 'nowhere'}: not a folder" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("commands", "out", "message"),
    [
        ("scene 2, lights off", "m", "cannot say '2'; use the letters a-z and spell numbers"),
        ("café, go", "m", "cannot say 'é'"),
        ("Lights On, lights on!", "m", "'Lights On' and 'lights on!' are the same words"),
        ("lights on", "file.txt", "--out FOLDER/file.txt: exists and is not a folder"),
    ],
)
def test_train_refuses_what_would_fail_or_mislead_only_at_the_end(
    tmp_path: Path, commands: str, out: str, message: str
) -> None:
    """'scene 2' trained as 'scene' and '123' as an empty label; an --out that is a file
    failed after the whole run. All are refused at once now."""
    pytest.importorskip("torch", reason="training needs the [train] extra")
    (tmp_path / "file.txt").write_text("not a folder")
    result = subprocess.run(
        [
            *(sys.executable, "-m", "edge_asr.cli", "train", "--commands", commands),
            *("--size", "tiny", "--out", str(tmp_path / out), "--cache", str(tmp_path / "c")),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert message.replace("FOLDER", str(tmp_path)) in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "c").exists()
