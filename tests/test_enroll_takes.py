"""`edge-asr enroll` records prompted takes of each command from the (virtual PulseAudio)
microphone into the folder layout `train --enroll` and `calibrate --commands` read."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from pulse_mic import VirtualMic

from edge_asr.model import default_model_dir

pytestmark = pytest.mark.pulse
SAMPLES = default_model_dir() / "samples"


def enroll(folder: Path, mic: VirtualMic, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "edge_asr.cli", "enroll", str(folder), "--seconds", "2.5", *args],
        env=mic.env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_each_prompted_take_lands_in_its_command_folder_whole(
    tmp_path: Path, virtual_mic: VirtualMic
) -> None:
    mine = tmp_path / "mine"
    proc = enroll(mine, virtual_mic, "--commands", "stop,yes", "--takes", "1")
    assert proc.stderr is not None
    prompts = []
    for line in proc.stderr:  # say each command when asked, as a person would
        if line.startswith('say "'):
            command = line.split('"')[1]
            prompts.append(command)
            virtual_mic.play(SAMPLES / f"{command}.wav")
    stdout, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, stdout
    assert prompts == ["stop", "yes"]
    assert "wrote 2 takes" in stdout and "--enroll" in stdout
    assert "--size full" in stdout  # the shipped model's recipe, as the README says
    for command in prompts:  # each take holds the whole clip played after its prompt
        take, rate = sf.read(mine / command / "take-1.wav", dtype="float32")
        clip, _ = sf.read(SAMPLES / f"{command}.wav", dtype="float32")
        assert rate == 16000 and take.shape[0] == int(2.5 * 16000)
        first, last = loud_span(take)
        assert first >= 0.05 and last <= 2.4  # nothing cut off at either end
        assert np.sum(take**2) > 0.5 * np.sum(
            clip**2
        )  # the clip, give or take sound-server glitches


def loud_span(x: np.ndarray) -> tuple[float, float]:
    """Seconds of the first and last 10 ms frame within 30 dB of the loudest."""
    power = np.mean(x[: x.shape[0] // 160 * 160].reshape(-1, 160) ** 2, axis=1)
    loud = np.nonzero(power > power.max() * 1e-3)[0]
    return loud[0] * 0.01, (loud[-1] + 1) * 0.01


def test_a_silent_take_is_asked_for_again_and_not_kept(
    tmp_path: Path, virtual_mic: VirtualMic
) -> None:
    mine = tmp_path / "mine"
    proc = enroll(mine, virtual_mic, "--commands", "stop", "--takes", "1")
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 1, stderr
    assert stderr.count('say "stop"') == 3 and stderr.count("heard nothing") == 3
    assert "no take of 'stop' was heard" in stderr
    assert not list(mine.glob("*/*.wav")) and "wrote 0 takes" in stdout


def test_a_command_the_model_lacks_is_a_usage_error(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "edge_asr.cli", "enroll", str(tmp_path), "--commands", "fly"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "not commands of speech-commands-20: fly" in done.stderr


def test_new_takes_are_numbered_after_the_last_and_never_overwrite(
    tmp_path: Path, virtual_mic: VirtualMic
) -> None:
    mine = tmp_path / "mine"
    (mine / "stop").mkdir(parents=True)
    for name in ("take-1.wav", "take-3.wav"):  # take-2 was deleted by hand
        sf.write(mine / "stop" / name, np.zeros(1600, np.int16), 16000, subtype="PCM_16")
    kept = (mine / "stop" / "take-3.wav").read_bytes()
    proc = enroll(mine, virtual_mic, "--commands", "stop", "--takes", "1")
    assert proc.stderr is not None
    for line in proc.stderr:
        if line.startswith('say "'):
            virtual_mic.play(SAMPLES / "stop.wav")
    proc.communicate(timeout=60)
    assert proc.returncode == 0
    assert (mine / "stop" / "take-3.wav").read_bytes() == kept
    assert sorted(p.name for p in (mine / "stop").iterdir()) == [
        "take-1.wav",
        "take-3.wav",
        "take-4.wav",
    ]
