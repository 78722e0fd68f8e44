"""The outbox keeps undelivered commands in order, across restarts and crashes, within bounds."""

from __future__ import annotations

import json
import logging
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from repo import ROOT

from edge_asr.outbox import Outbox, this_boot


def _child(code: str, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-c", code, *args], stdout=subprocess.PIPE, text=True, env=env
    )


def test_fifo_peek_and_ack(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "state" / "outbox.sqlite", max_messages=100, max_age_s=3600)
    now = time.time()
    for i in range(5):
        box.put("t/command", f"m{i}".encode(), now)
    assert len(box) == 5
    assert [e.payload for e in box.peek(3)] == [b"m0", b"m1", b"m2"]
    first = box.peek(1)[0]
    box.ack(first.seq)
    assert [e.payload for e in box.peek(10)] == [b"m1", b"m2", b"m3", b"m4"]
    assert all(a.seq < b.seq for a, b in zip(box.peek(10), box.peek(10)[1:], strict=False))
    assert len(box) == 4 and not box.degraded
    box.close()


def test_survives_restart_in_order(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite"
    box = Outbox(path, max_messages=100, max_age_s=3600)
    for i in range(10):
        box.put("t", f"m{i}".encode(), time.time())
    box.ack(box.peek(1)[0].seq)
    box.close()
    again = Outbox(path, max_messages=100, max_age_s=3600)
    assert [e.payload for e in again.peek(100)] == [f"m{i}".encode() for i in range(1, 10)]
    again.put("t", b"new", time.time())
    entries = again.peek(100)
    assert entries[-1].payload == b"new" and entries[-1].seq > entries[-2].seq
    again.close()


_WRITER = """
import sys, time
from pathlib import Path
from edge_asr.outbox import Outbox, this_boot
box = Outbox(Path(sys.argv[1]), max_messages=100000, max_age_s=3600)
i = 0
while True:
    box.put("t", b"m%d" % i, time.time())
    print(i, flush=True)
    i += 1
"""


def test_survives_sigkill_mid_stream(tmp_path: Path) -> None:
    """Every put that returned before the kill is there afterwards, in order, nothing else."""
    path = tmp_path / "outbox.sqlite"
    child = _child(_WRITER, str(path))
    assert child.stdout is not None
    confirmed = -1
    for line in child.stdout:
        confirmed = int(line)
        if confirmed >= 200:
            break
    child.send_signal(signal.SIGKILL)
    child.wait()
    child.stdout.close()
    box = Outbox(path, max_messages=100000, max_age_s=3600)
    payloads = [e.payload for e in box.peek(100000)]
    assert len(payloads) >= confirmed + 1
    # the writer may have committed one or a few more before the kill landed; never fewer
    assert payloads == [b"m%d" % i for i in range(len(payloads))]
    assert not box.degraded
    box.close()


def test_overflow_drops_oldest_and_warns_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    box = Outbox(tmp_path / "outbox.sqlite", max_messages=5, max_age_s=3600)
    with caplog.at_level(logging.WARNING, logger="edge_asr.outbox"):
        for i in range(12):
            box.put("t", f"m{i}".encode(), time.time())
    assert [e.payload for e in box.peek(10)] == [f"m{i}".encode() for i in range(7, 12)]
    assert len(box) == 5 and box.dropped_overflow == 7
    warnings = [r for r in caplog.records if "outbox full" in r.getMessage()]
    assert len(warnings) == 1  # rate-limited, not one line per dropped message
    box.close()


def test_lowered_limit_trims_on_open(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite"
    box = Outbox(path, max_messages=10, max_age_s=3600)
    for i in range(10):
        box.put("t", f"m{i}".encode(), time.time())
    box.close()
    smaller = Outbox(path, max_messages=3, max_age_s=3600)
    assert [e.payload for e in smaller.peek(10)] == [b"m7", b"m8", b"m9"]
    smaller.close()


@pytest.mark.parametrize("on_disk", [True, False])
def test_entries_older_than_max_age_are_dropped_at_peek(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, on_disk: bool
) -> None:
    now, mono = [1000.0], [5.0]
    path = tmp_path / "outbox.sqlite" if on_disk else None
    box = Outbox(path, 100, 60, clock=lambda: now[0], monotonic=lambda: mono[0])
    box.put("t", b"old", 900.0)
    box.put("t", b"fresh", 990.0)
    with caplog.at_level(logging.WARNING, logger="edge_asr.outbox"):
        assert [e.payload for e in box.peek(10)] == [b"fresh"]
    assert box.dropped_expired == 1 and len(box) == 1
    assert any("older than 60 s" in r.getMessage() for r in caplog.records)
    now[0], mono[0] = 1049.0, 54.0
    assert [e.payload for e in box.peek(10)] == [b"fresh"]
    now[0], mono[0] = 1051.0, 56.0
    assert box.peek(10) == [] and len(box) == 0
    box.close()


@pytest.mark.parametrize("on_disk", [True, False])
def test_a_wall_clock_step_does_not_expire_pending_commands(tmp_path: Path, on_disk: bool) -> None:
    """A Pi has no RTC: it boots with the time it last shut down and NTP's first sync steps the
    clock forward, maybe by days. Commands queued before that are not days old."""
    now, mono = [1_000_000.0], [5.0]
    path = tmp_path / "outbox.sqlite" if on_disk else None
    box = Outbox(path, 100, 3600, clock=lambda: now[0], monotonic=lambda: mono[0])
    box.put("t", b"before the step", now[0])
    now[0] += 3 * 86400.0  # NTP syncs; ten seconds pass
    mono[0] += 10.0
    box.put("t", b"after the step", now[0])
    before, after = box.peek(10)
    assert (before.payload, after.payload) == (b"before the step", b"after the step")
    assert box.dropped_expired == 0
    assert (box.age_s(before), box.age_s(after)) == (10.0, 0.0)  # not three days and 10 s
    mono[0] += 3601.0  # an hour on: both are older than max_age_s
    assert box.peek(10) == [] and box.dropped_expired == 2
    box.close()


def test_entries_of_an_earlier_boot_age_from_their_wall_clock_age(tmp_path: Path) -> None:
    """After a reboot the monotonic clock starts again: created_ts is the only age there is,
    read once; from then on a wall-clock step does not count."""
    now, mono = [1_000_000.0], [5.0]
    path = tmp_path / "outbox.sqlite"
    box = Outbox(path, 100, 3600, clock=lambda: now[0], monotonic=lambda: mono[0], boot="one")
    box.put("t", b"heard", now[0] - 2.0)
    box.put("t", b"long ago", now[0] - 3590.0)
    box.close()
    now[0] += 30.0
    mono[0] = 1.0  # the new boot's monotonic clock
    box = Outbox(path, 100, 3600, clock=lambda: now[0], monotonic=lambda: mono[0], boot="two")
    (entry,) = box.peek(10)  # "long ago" is 3620 s old
    assert entry.payload == b"heard" and box.age_s(entry) == 32.0
    now[0] += 3 * 86400.0  # NTP's first sync, a second later
    mono[0] += 1.0
    assert box.peek(10) == [entry] and box.age_s(entry) == 33.0
    box.close()


def test_a_restart_keeps_the_age_a_command_had_across_a_clock_step(tmp_path: Path) -> None:
    """A Pi heard a command while its clock still read the last shutdown (three days behind)
    and the broker was down; the daemon restarted, and NTP then set the clock. The command is
    33 s old, not three days: in the same boot the monotonic clock goes on across processes,
    so it is still delivered (max_age_s is an hour here)."""
    now, mono = [1_000_000.0], [500.0]
    path = tmp_path / "outbox.sqlite"
    box = Outbox(path, 100, 3600, clock=lambda: now[0], monotonic=lambda: mono[0], boot="b")
    box.put("t", b"heard", now[0] - 2.0)
    box.close()
    mono[0] += 30.0  # the restart
    box = Outbox(path, 100, 3600, clock=lambda: now[0], monotonic=lambda: mono[0], boot="b")
    now[0] += 3 * 86400.0  # NTP steps the clock, a second later
    mono[0] += 1.0
    (entry,) = box.peek(10)
    assert entry.payload == b"heard" and box.age_s(entry) == 33.0
    box.close()
    box = Outbox(path, 100, 3600, clock=lambda: now[0], monotonic=lambda: mono[0], boot="b")
    mono[0] += 3600.0  # and it does expire an hour after it was heard
    assert box.peek(10) == [] and box.dropped_expired == 1
    box.close()


def test_the_boot_id_comes_from_the_environment_before_proc(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    proc = Path("/proc/sys/kernel/random/boot_id")
    if not proc.exists():
        pytest.skip("no /proc/sys/kernel/random/boot_id here")
    from_proc = this_boot()
    assert from_proc is not None and len(from_proc) == 32
    # systemd's %b is the same id without dashes: the same boot however the daemon started
    monkeypatch.setenv("EDGE_ASR_BOOT_ID", proc.read_text().strip().replace("-", ""))
    assert this_boot() == from_proc
    monkeypatch.setenv("EDGE_ASR_BOOT_ID", "0123456789ABCDEF0123456789abcdef")
    assert this_boot() == "0123456789abcdef0123456789abcdef"


def test_an_outbox_written_by_an_older_version_is_read_and_extended(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite"
    db = sqlite3.connect(path)
    with db:
        db.execute(
            "CREATE TABLE outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, topic TEXT NOT NULL,"
            " payload BLOB NOT NULL, created_ts REAL NOT NULL)"
        )
        db.execute("INSERT INTO outbox (topic, payload, created_ts) VALUES ('t', X'61', ?)", (1e9,))
    db.close()
    now, mono = [1e9 + 10.0], [50.0]
    box = Outbox(path, 100, 3600, clock=lambda: now[0], monotonic=lambda: mono[0], boot="b")
    box.put("t", b"b", now[0])
    first, second = box.peek(10)
    assert (first.payload, second.payload) == (b"a", b"b")
    assert (box.age_s(first), box.age_s(second)) == (10.0, 0.0)
    box.close()


def test_unwritable_path_degrades_to_memory(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A state_dir under a regular file cannot be created, even by root (ENOTDIR)."""
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    with caplog.at_level(logging.ERROR, logger="edge_asr.outbox"):
        box = Outbox(blocker / "state" / "outbox.sqlite", max_messages=3, max_age_s=3600)
        for i in range(5):
            box.put("t", f"m{i}".encode(), time.time())
    assert box.degraded and box.degraded_reason and "not-a-dir" in box.degraded_reason
    assert [e.payload for e in box.peek(10)] == [b"m2", b"m3", b"m4"]
    box.ack(box.peek(1)[0].seq)
    assert len(box) == 2
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "degraded" in errors[0].getMessage()
    box.close()


_DISK_FULL = """
import json, logging, resource, signal, sys, time
from pathlib import Path
from edge_asr.outbox import Outbox, this_boot
errors = []
class Count(logging.Handler):
    def emit(self, record):
        if record.levelno >= logging.ERROR:
            errors.append(record.getMessage())
logging.getLogger("edge_asr.outbox").addHandler(Count())
path = Path(sys.argv[1])
box = Outbox(path, max_messages=10000, max_age_s=3600)
for i in range(5):
    box.put("t", b"m%d" % i, time.time())
# The disk is now "full": no file of this process may grow past its current size.
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
limit = max(p.stat().st_size for p in path.parent.iterdir()) + 1
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
for i in range(5, 200):
    box.put("t", b"m%d" % i + b"." * 4000, time.time())
entries = box.peek(1000)
print(json.dumps({"degraded": box.degraded, "reason": box.degraded_reason, "errors": errors,
                  "payloads": [e.payload[:8].rstrip(b".").decode() for e in entries],
                  "len": len(box)}))
"""


def test_disk_full_mid_run_degrades_without_losing_commands(tmp_path: Path) -> None:
    """RLIMIT_FSIZE makes writes fail with EFBIG like a full disk, and binds root too."""
    child = _child(_DISK_FULL, str(tmp_path / "outbox.sqlite"))
    out, _ = child.communicate(timeout=60)
    assert child.returncode == 0, out
    result = json.loads(out)
    assert result["degraded"] is True and result["reason"]
    assert len(result["errors"]) == 1
    assert result["payloads"] == [f"m{i}" for i in range(200)] and result["len"] == 200


def test_corrupt_database_is_moved_aside_and_recreated(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite"
    path.write_bytes(b"this is not an sqlite database\n" * 200)
    box = Outbox(path, max_messages=10, max_age_s=3600)
    assert not box.degraded and len(box) == 0
    aside = list(tmp_path.glob("outbox.sqlite.corrupt-*"))
    assert len(aside) == 1 and aside[0].read_bytes().startswith(b"this is not")
    box.put("t", b"m0", time.time())
    box.close()
    assert [e.payload for e in Outbox(path, 10, 3600).peek(10)] == [b"m0"]


def test_no_path_means_memory_only(tmp_path: Path) -> None:
    box = Outbox(None, max_messages=10, max_age_s=3600)
    box.put("t", b"a", time.time())
    box.put("t", b"b", time.time())
    assert [e.payload for e in box.peek(10)] == [b"a", b"b"] and not box.degraded
    box.close()


_RECOVER = """
import json, resource, signal, sys, time
from pathlib import Path
from edge_asr.outbox import Outbox, this_boot
path, pending_at_close = Path(sys.argv[1]), int(sys.argv[2])
box = Outbox(path, max_messages=10000, max_age_s=3600, retry_s=0.0)
for i in range(5):
    box.put("t", b"m%d" % i, time.time())
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
limit = max(p.stat().st_size for p in path.parent.iterdir()) + 1
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))  # the disk is "full"
for i in range(5, 60):
    box.put("t", b"m%d" % i + b"." * 4000, time.time())
def deliver(n):
    for e in box.peek(n):
        box.ack(e.seq)
deliver(60 - pending_at_close)
still_full = {"degraded": box.degraded, "len": len(box)}
resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))  # space again
box.peek(0)
back = {"degraded": box.degraded, "len": len(box)}
seqs = [e.seq for e in box.peek(1000)]
box.put("t", b"after", time.time())
seqs.append(box.peek(1000)[-1].seq)
box.close()
print(json.dumps({"still_full": still_full, "back": back, "seqs": seqs}))
"""


def _recover(tmp_path: Path, pending_at_close: int) -> dict[str, object]:
    child = _child(_RECOVER, str(tmp_path / "outbox.sqlite"), str(pending_at_close))
    out, _ = child.communicate(timeout=60)
    assert child.returncode == 0, out
    return dict(json.loads(out))


def test_outbox_returns_to_disk_once_empty_and_forgets_what_was_delivered(
    tmp_path: Path,
) -> None:
    """Delivered while degraded must not come back after a restart (the old rows were re-sent)."""
    result = _recover(tmp_path, pending_at_close=0)
    assert result["still_full"] == {"degraded": True, "len": 0}  # a retry on a full disk fails
    assert result["back"] == {"degraded": False, "len": 0}
    assert result["seqs"][-1] > 60  # seqs keep growing past those used in memory
    reopened = Outbox(tmp_path / "outbox.sqlite", 100, 3600)
    assert [e.payload for e in reopened.peek(100)] == [b"after"]
    reopened.close()


def test_degraded_outbox_with_pending_commands_writes_them_back_at_close(
    tmp_path: Path,
) -> None:
    """Pending at close: both those rescued from disk and those only memory held survive."""
    result = _recover(tmp_path, pending_at_close=57)  # m0..m2 delivered, m3..m59 pending
    assert result["back"] == {"degraded": True, "len": 57}  # not while commands are pending
    reopened = Outbox(tmp_path / "outbox.sqlite", 100, 3600)
    payloads = [e.payload.rstrip(b".") for e in reopened.peek(100)]
    assert payloads == [b"m%d" % i for i in range(3, 60)] + [b"after"]
    reopened.close()


def test_rows_never_read_are_kept_and_renumbered_when_the_disk_comes_back(
    tmp_path: Path,
) -> None:
    """The state dir was unusable at start; later the old database shows up with its rows."""
    old = tmp_path / "old" / "outbox.sqlite"
    first = Outbox(old, 100, 3600)
    for name in (b"old0", b"old1"):
        first.put("t", name, time.time())
    first.close()
    blocker = tmp_path / "state"
    blocker.write_text("x")  # state_dir under a file: ENOTDIR
    box = Outbox(blocker / "outbox.sqlite", 100, 3600, retry_s=0.0)
    assert box.degraded
    used = 0
    for name in (b"new0", b"new1", b"new2"):
        box.put("t", name, time.time())
        used = box.peek(1)[0].seq
        box.ack(used)  # delivered
    blocker.unlink()
    (tmp_path / "old").rename(blocker)
    entries = box.peek(10)
    assert not box.degraded
    assert [e.payload for e in entries] == [b"old0", b"old1"]
    assert min(e.seq for e in entries) > used
    box.close()
