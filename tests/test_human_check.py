"""Human recordings (evaluation only): which ones are scored, how, and build/human-check's run
on the shipped model. These tests check the tool, never tune a model on the recordings."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from repo import ROOT

from edge_asr.model import default_model_dir, load_spec
from edge_asr.train import humans

needs_recordings = pytest.mark.skipif(
    not (
        any(d.is_dir() for d in humans.HUMAN_DIGITS_DIRS)
        and humans.SPHINX_DIR.is_dir()
        and humans.ALSA_DIR.is_dir()
    ),
    reason="asterisk-core-sounds-en-wav, pocketsphinx-testdata or alsa-utils not installed"
    " (build/setup)",
)


def test_commands_count_once_each_and_in_the_order_said() -> None:
    assert humans.matched(["five", "five"], ["five"]) == 1
    assert humans.matched(["five", "five"], ["five", "five", "five"]) == 2
    assert humans.matched(["eight", "four", "seven"], ["four", "eight", "seven"]) == 2
    assert humans.matched(["go"], ["nine"]) == 0
    assert humans.matched([], ["nine"]) == 0
    rows = [{"said": ["five", "five"], "detections": ["five", "nine"], "seconds": 1.5}]
    assert humans.score(rows) == {
        "recordings": 1,
        "seconds": 1.5,
        "commands_said": 2,
        "commands_heard": 1,
        "heard_rate": 0.5,
        "detections_never_said": 1,
    }


def test_the_commands_said_are_found_in_the_transcript_longest_phrase_first() -> None:
    said = humans.Recording("pocketsphinx", Path("x.wav"), "go forward ten meters go").said
    assert said(["go", "ten"]) == ["go", "ten", "go"]
    assert said(["go forward", "go", "meters go"]) == ["go forward", "meters go"]
    assert said(["lights on"]) == []


@needs_recordings
def test_the_transcripts_come_from_the_packages_and_name_the_commands_said() -> None:
    commands = load_spec(default_model_dir()).commands
    found = humans.recordings()
    said = {r.path.name: r.said(commands) for r in found}
    assert said["002.wav"] == ["four"]
    assert said["004.wav"] == ["five", "five"]
    assert said["005.wav"] == ["eight", "four", "seven"]
    assert said["dhd.2934z.raw"] == ["two", "nine", "three", "four", "zero"]
    assert said["goforward.raw"] == ["go"]
    assert said["001.wav"] == []  # "ten of clubs": no command, "of" is not "off"
    assert said["7.wav"] == ["seven"] and said["70.wav"] == []  # Asterisk: "seventy"
    assert sum(1 for name in said if name.startswith("sense_and_sensibility")) == 5
    assert said["Front_Left.wav"] == ["left"] and said["Rear_Right.wav"] == ["right"]
    assert said["Front_Center.wav"] == [] and said["Noise.wav"] == []
    # 10 Asterisk digits + 13 in speech + 6 ALSA phrases
    assert sum(len(s) for s in said.values()) == 29
    for r in found:
        audio = r.audio(16000)
        assert 0.5 < audio.shape[0] / 16000 < 10, r.path  # a word to a sentence, all readable


@needs_recordings
def test_a_run_on_the_shipped_model_reports_every_recording(tmp_path: Path) -> None:
    out = tmp_path / "human.json"
    subprocess.run(
        [sys.executable, str(ROOT / "build" / "human-check"), "--json", str(out)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    report = json.loads(out.read_text())
    rows = report["per_recording"]
    assert report["recordings"] == len(rows) == 49 and report["commands_said"] == 29
    assert report["commands_heard"] == sum(humans.matched(r["said"], r["detections"]) for r in rows)
    assert {"asterisk", "pocketsphinx", "alsa"} == set(report["groups"])
    # What model.json keeps for the card is this run's totals.
    kept = load_spec(default_model_dir()).extra["streaming_eval"]["human_recordings"]
    assert kept == {
        k: v for k, v in report.items() if k not in ("per_recording", "command", "model", "backend")
    }
