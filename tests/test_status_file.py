"""status.json: what `edge-asr health` reads, written when it changes and otherwise only as a
heartbeat, so an idle daemon does not rewrite a file on the SD card every few seconds."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from repo import ROOT

from edge_asr.daemon import (
    STATUS_EVERY_S,
    STATUS_FILE,
    STATUS_HEARTBEAT_S,
    StatusFile,
    read_status,
)


class Clock:
    """A clock the test moves by hand (the heartbeat is 20 s of daemon time)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def status(**changes: object) -> dict[str, object]:
    return {"state": "running", "detections": 0, "mqtt_connected": True, **changes}


def test_unchanged_status_is_rewritten_only_at_the_heartbeat(tmp_path: Path) -> None:
    clock = Clock()
    path = tmp_path / STATUS_FILE
    file = StatusFile(path, heartbeat_s=20.0, clock=clock)
    assert file.write(status())
    inode, first = path.stat().st_ino, read_status(tmp_path)["updated_ts"]
    for _ in range(3):  # three 5 s status ticks: nothing changed, nothing written
        clock.now += 5.0
        assert not file.write(status())
    assert path.stat().st_ino == inode  # not even replaced by an identical file
    clock.now += 5.0  # 20 s since the last write
    assert file.write(status())
    assert read_status(tmp_path)["updated_ts"] >= first
    assert path.stat().st_ino != inode


def test_a_change_is_written_at_once(tmp_path: Path) -> None:
    clock = Clock()
    file = StatusFile(tmp_path / STATUS_FILE, heartbeat_s=20.0, clock=clock)
    file.write(status())
    clock.now += 5.0
    assert file.write(status(detections=1, mqtt_connected=False))
    written = read_status(tmp_path)
    assert written["detections"] == 1 and written["mqtt_connected"] is False
    assert set(written) == {"state", "detections", "mqtt_connected", "updated_ts"}


def test_a_failed_write_does_not_count_as_written(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A write the file system refuses (here a directory in the way: root ignores
    permissions) is logged, and the same content is tried again at the next tick."""
    clock = Clock()
    path = tmp_path / STATUS_FILE
    file = StatusFile(path, heartbeat_s=20.0, clock=clock)
    path.mkdir()  # replace() onto a directory fails with OSError
    assert not file.write(status(detections=1))
    assert "cannot write" in caplog.text
    path.rmdir()
    clock.now += 5.0
    assert file.write(status(detections=1))
    assert read_status(tmp_path)["detections"] == 1


def health(state_dir: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "edge_asr.cli", "health", "--state-dir", str(state_dir), *flags],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=60,
    )


def test_health_reads_the_heartbeat_age(tmp_path: Path) -> None:
    """`edge-asr health` (default 30 s) accepts the oldest status a running daemon leaves (a
    heartbeat, checked at a status tick, so up to one tick late), not a stale one."""
    path = tmp_path / STATUS_FILE
    StatusFile(path).write(status())
    written = json.loads(path.read_text())
    oldest = STATUS_HEARTBEAT_S + STATUS_EVERY_S
    path.write_text(json.dumps({**written, "updated_ts": time.time() - oldest}))
    ok = health(tmp_path)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    path.write_text(json.dumps({**written, "updated_ts": time.time() - 45.0}))
    stale = health(tmp_path)
    assert stale.returncode != 0 and "unhealthy" in stale.stdout


def test_a_mangled_status_file_or_a_nan_age_limit_is_never_healthy(tmp_path: Path) -> None:
    """A status file cut short by a full disk, or a typo in a container's HEALTHCHECK: it gave
    a traceback, and --max-age-s nan called a 56-year-old file healthy."""
    path = tmp_path / STATUS_FILE
    for text in ("[]", '{"state": "running", "updated_ts": "soon"}', '{"state": "runn'):
        path.write_text(text)
        mangled = health(tmp_path)
        assert mangled.returncode == 1 and "unhealthy" in mangled.stdout, text
        assert "Traceback" not in mangled.stderr
    path.write_text(json.dumps({"state": "running", "updated_ts": 0}))
    assert health(tmp_path, "--max-age-s", "nan").returncode == 2
