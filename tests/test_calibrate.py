"""`edge-asr calibrate`: thresholds from a site's own recordings, with the shipped model."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tracemalloc
from pathlib import Path

import numpy as np
from tiny_model import write_wav

from edge_asr.audio import read_wav
from edge_asr.backends import load_backend
from edge_asr.calibrate import (
    THRESHOLDS,
    replay,
    replay_thresholds,
    site_report,
    trace_audio,
    trace_blocks,
)
from edge_asr.config import DecoderSettings
from edge_asr.model import default_model_dir, load_spec
from edge_asr.pipeline import Recognizer

MODEL = default_model_dir()
SAMPLES = sorted((MODEL / "samples").glob("*.wav"))
RATE = 16000


def calibrate(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "edge_asr.cli", "calibrate", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
    )


def rows(stdout: str) -> dict[float, list[str]]:
    """threshold -> the other columns of its table row."""
    table = {}
    for line in stdout.splitlines():
        if re.match(r"\s+0\.\d\d\s", line):
            first, *rest = line.split()
            table[float(first)] = rest
    return table


def quiet_room(seconds: float) -> np.ndarray:
    """Faint noise with a door-slam-like thump every 20 s: sound, but no speech."""
    rng = np.random.default_rng(0)
    audio = rng.normal(0, 30, int(seconds * RATE))
    for start in range(5 * RATE, audio.shape[0] - RATE, 20 * RATE):
        audio[start : start + 1600] += rng.normal(0, 6000, 1600) * np.hanning(1600)
    return np.clip(audio, -32768, 32767)


def test_a_quiet_site_keeps_the_model_threshold_and_shows_what_raising_it_costs(
    tmp_path: Path,
) -> None:
    own = load_spec(MODEL).default_threshold
    site = write_wav(tmp_path / "site.wav", quiet_room(120))
    mine = tmp_path / "mine"
    for sample in SAMPLES:  # "my own voice": one clip per command folder
        (mine / sample.stem).mkdir(parents=True)
        shutil.copyfile(sample, mine / sample.stem / "1.wav")
    done = calibrate(site, "--commands", mine)
    assert done.returncode == 0, done.stderr
    table = rows(done.stdout)
    assert "<- model" in " ".join(table[own]) and "<- recommended" in " ".join(table[own])
    assert all(float(r[0]) == 0.0 for r in table.values()), done.stdout  # nothing fired
    heard = [float(table[t][1]) for t in sorted(table)]
    # The samples are clips this model recognizes at its threshold; stricter ones hear fewer.
    assert float(table[own][1]) == 100.0, done.stdout
    assert heard == sorted(heard, reverse=True) and heard[-1] < 100.0, done.stdout
    assert "2.0 min of command-free audio" in done.stdout
    assert f"of {len(SAMPLES)} clips" in done.stdout


def test_a_command_in_the_site_audio_raises_the_recommendation_above_its_score(
    tmp_path: Path,
) -> None:
    """A TV saying "two" in the room: reported with its time, and the recommended threshold is
    the lowest one at which it no longer fires."""
    own = load_spec(MODEL).default_threshold
    clip = read_wav(MODEL / "samples" / "two.wav", RATE)
    audio = np.concatenate([quiet_room(30)[: 10 * RATE], clip, quiet_room(30)])
    done = calibrate(write_wav(tmp_path / "tv.wav", audio))
    assert done.returncode == 0, done.stdout + done.stderr
    fired = re.search(r"false accept at [\d.]+: two \(([\d.]+)\) at ([\d.]+) s", done.stdout)
    assert fired, done.stdout
    assert 10.0 < float(fired.group(2)) < 12.5
    recommended = float(re.search(r"default = ([\d.]+)", done.stdout).group(1))  # type: ignore[union-attr]
    table = rows(done.stdout)
    assert recommended > own and recommended > float(fired.group(1)) - 0.005  # printed %.2f
    assert float(table[recommended][0]) == 0.0
    below = max(t for t in table if t < recommended)
    assert float(table[below][0]) > 0.5

    # The same report for scripts that provision many devices.
    as_json = calibrate(tmp_path / "tv.wav", "--json")
    assert as_json.returncode == 0
    report = json.loads(as_json.stdout)
    assert report["recommended"] == recommended and report["model_threshold"] == own
    assert [f["command"] for f in report["false_accepts"]] == ["two"]
    assert report["false_accepts_per_hour"][f"{recommended:.2f}"] == 0.0
    assert abs(report["false_accepts_per_hour"][f"{below:.2f}"] - float(table[below][0])) < 0.01
    assert report["commands_heard"] is None


def test_commands_throughout_the_site_audio_mean_no_threshold_is_safe(tmp_path: Path) -> None:
    gap = np.zeros(RATE, np.int16)
    audio = np.concatenate([np.concatenate([read_wav(s, RATE), gap]) for s in SAMPLES])
    done = calibrate(write_wav(tmp_path / "talk.wav", audio), "--per-hour", "1")
    assert done.returncode == 1
    assert "no threshold meets 1 false accepts per hour" in done.stdout
    assert len(re.findall(r"^false accept at", done.stdout, re.M)) >= len(SAMPLES) // 2


def test_bad_inputs_name_the_file_or_folder(tmp_path: Path) -> None:
    missing = calibrate(tmp_path / "nope.wav")
    assert missing.returncode == 1 and "nope.wav: not found" in missing.stderr
    assert "Traceback" not in missing.stderr
    site = write_wav(tmp_path / "site.wav", quiet_room(5))
    (tmp_path / "mine" / "lights_on").mkdir(parents=True)
    shutil.copyfile(SAMPLES[0], tmp_path / "mine" / "lights_on" / "1.wav")
    wrong = calibrate(site, "--commands", tmp_path / "mine")
    assert wrong.returncode == 1 and "'lights_on' is not one of" in wrong.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    none = calibrate(site, "--commands", empty)
    assert none.returncode == 1 and "no <command>/*.wav files" in none.stderr
    negative = calibrate(site, "--per-hour", "-1")
    assert negative.returncode == 2 and "--per-hour: must be >= 0" in negative.stderr
    # A recording stopped at once used to "meet" the target: 0 false accepts in 0 hours.
    silent = calibrate(write_wav(tmp_path / "nothing.wav", quiet_room(0)))
    assert silent.returncode == 1 and "0.0 s of audio, too little" in silent.stderr


def test_long_recordings_are_traced_block_by_block(tmp_path: Path) -> None:
    """Hours of room audio never sit in memory whole, and reading them in blocks changes no
    inference: the events equal those of the whole file fed chunk by chunk."""
    spec = load_spec(MODEL)
    recognizer = Recognizer(spec, load_backend(spec, "onnx"), DecoderSettings())
    audio = np.concatenate([quiet_room(30)[: 7 * RATE], read_wav(SAMPLES[0], RATE), quiet_room(20)])
    whole = trace_audio(recognizer, audio.astype(np.int16), 1600)
    sizes = np.random.default_rng(1).integers(1, 9000, 400)
    cuts = np.cumsum(sizes)[np.cumsum(sizes) < audio.shape[0]]
    blocks = trace_blocks(recognizer, np.split(audio.astype(np.int16), cuts), 1600)
    assert [(t, s) for t, s, _ in blocks] == [(t, s) for t, s, _ in whole]
    posts = [(a, b) for (_, _, a), (_, _, b) in zip(whole, blocks, strict=True) if a is not None]
    assert posts and all(np.array_equal(a, b) for a, b in posts)

    site = write_wav(tmp_path / "evening.wav", quiet_room(600))  # 10 min, 19 MB of samples
    tracemalloc.start()
    report = site_report(recognizer, DecoderSettings(), [site], [], 0.5, 1600)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert report.seconds == 600.0
    assert peak < 4 * 2**20, f"peak {peak / 2**20:.1f} MiB for a 19 MB recording"


def test_replay_at_many_thresholds_finds_what_replay_finds_at_each() -> None:
    """replay_thresholds skips stretches that cannot fire; it must never change a detection.
    Random posteriors with gate closings, loud and quiet stretches, at every threshold."""
    spec = load_spec(default_model_dir())
    settings = DecoderSettings()
    rng = np.random.default_rng(7)
    n = len(spec.labels)
    events: list = []
    now = 0.0
    for _ in range(300):
        peak = rng.choice([0.2, 0.6, 0.95])  # stretches that stay low, and ones that fire
        for _ in range(int(rng.integers(1, 12))):
            post = rng.dirichlet(np.full(n, 0.3)).astype(np.float32) * (1 - peak)
            post[int(rng.integers(n))] += peak
            events.append((now, now - 0.5, post))
            now += 0.1
        events.append((now, now, None))
        now += float(rng.uniform(0.0, 1.5))  # some gaps shorter than the refractory period
    grid = sorted({*THRESHOLDS, spec.default_threshold})
    fast = replay_thresholds(events, spec, grid, settings)
    assert sum(len(d) for d in fast.values()) > 100
    for t in grid:
        assert fast[t] == replay(events, spec, t, settings), t
