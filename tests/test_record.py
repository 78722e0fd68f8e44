"""`edge-asr record` captures the (virtual PulseAudio) microphone into a WAV that `recognize`
and `calibrate` can use, and keeps what it has when stopped early."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import wave
from pathlib import Path

import numpy as np
import pytest
from pulse_mic import VirtualMic

from edge_asr.model import default_model_dir

pytestmark = pytest.mark.pulse
SAMPLE = default_model_dir() / "samples" / "stop.wav"


def edge_asr(*args: str | Path) -> list[str]:
    return [sys.executable, "-m", "edge_asr.cli", *map(str, args)]


def start_recording(out: Path, minutes: str, mic: VirtualMic) -> subprocess.Popen[str]:
    return subprocess.Popen(
        edge_asr("record", out, "--minutes", minutes),
        env=mic.env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def audio_of(path: Path) -> tuple[np.ndarray, int, int]:
    with wave.open(str(path)) as wav:
        frames = wav.readframes(wav.getnframes())
        return np.frombuffer(frames, "<i2"), wav.getframerate(), wav.getnchannels()


def test_records_what_the_microphone_hears(tmp_path: Path, virtual_mic: VirtualMic) -> None:
    out = tmp_path / "room.wav"
    proc = start_recording(out, "0.1", virtual_mic)
    time.sleep(2.5)  # the sound server's first buffers
    virtual_mic.play(SAMPLE)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stderr
    assert "wrote" in stdout and "6.0 s at 16000 Hz" in stdout
    samples, rate, channels = audio_of(out)
    assert (rate, channels) == (16000, 1)
    assert abs(samples.shape[0] - 6 * 16000) <= 1600  # 0.1 min, to a chunk
    assert np.abs(samples).max() > 1000  # the clip, not silence
    heard = subprocess.run(
        edge_asr("recognize", "--json", out), capture_output=True, text=True, timeout=120
    )
    detections = json.loads(heard.stdout)["detections"]
    assert [d["command"] for d in detections] == ["stop"], heard.stdout


def test_sigint_ends_the_recording_and_keeps_it(tmp_path: Path, virtual_mic: VirtualMic) -> None:
    out = tmp_path / "room.wav"
    proc = start_recording(out, "5", virtual_mic)
    time.sleep(4)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 0, stderr
    assert "Traceback" not in stderr
    samples, rate, _ = audio_of(out)  # a complete header: readable
    assert rate == 16000 and 0.5 * 16000 < samples.shape[0] < 4.5 * 16000, stdout


def test_no_device_is_a_clear_error(tmp_path: Path, virtual_mic: VirtualMic) -> None:
    done = subprocess.run(
        edge_asr("record", tmp_path / "x.wav", "--minutes", "0.1", "--device", "no-such-mic"),
        env=virtual_mic.env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 69, done.stderr
    assert "no-such-mic" in done.stderr and "Traceback" not in done.stderr


def test_an_unwritable_output_is_told_before_the_microphone_opens(tmp_path: Path) -> None:
    """Exit 73 (cannot create), one line: it used to open the microphone first and end in a
    traceback. The device named here does not exist, so reaching it would say so instead."""
    cases = [
        ("record", tmp_path / "no" / "such" / "x.wav", "--minutes", "0.1"),
        ("record", tmp_path, "--minutes", "0.1"),  # a folder
        ("enroll", SAMPLE, "--takes", "1", "--commands", "stop"),  # a file, not a folder
    ]
    for args in cases:
        done = subprocess.run(
            edge_asr(*args, "--device", "no-such-mic"), capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 73, (args, done.stderr)
        lines = [line for line in done.stderr.splitlines() if line.startswith("edge-asr:")]
        assert len(lines) == 1 and "cannot" in lines[0] and "Traceback" not in done.stderr
    assert not (tmp_path / "no").exists()


def test_a_missing_device_leaves_an_existing_recording_as_it_was(
    tmp_path: Path, virtual_mic: VirtualMic
) -> None:
    """The output is checked before the microphone opens, without truncating what is there."""
    kept = tmp_path / "room.wav"
    kept.write_bytes(b"yesterday's recording")
    done = subprocess.run(
        edge_asr("record", kept, "--minutes", "0.1", "--device", "no-such-mic"),
        env=virtual_mic.env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 69, done.stderr
    assert kept.read_bytes() == b"yesterday's recording"
