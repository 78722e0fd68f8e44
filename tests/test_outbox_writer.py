"""The outbox's writer thread: commands are queued at once and stored in order, off the caller's
thread, with a real sqlite outbox (held up by another connection's write lock, as a slow disk
holds up a commit)."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

from edge_asr.outbox import Outbox
from edge_asr.outbox_writer import OutboxWriter


def _payloads(outbox: Outbox) -> list[bytes]:
    return [entry.payload for entry in outbox.peek(100)]


def test_put_returns_while_the_database_is_held_and_stop_stores_everything_in_order(
    tmp_path: Path,
) -> None:
    outbox = Outbox(tmp_path / "outbox.sqlite", 100, 3600)
    stored = threading.Event()
    writer = OutboxWriter(outbox, stored=stored.set)
    writer.start()
    blocker = sqlite3.connect(tmp_path / "outbox.sqlite")
    blocker.execute("BEGIN IMMEDIATE")  # the write lock: the writer's INSERT waits for it
    try:
        for n in range(3):
            writer.put("t", b"%d" % n, time.time())
        # put() came back with nothing stored: the caller did not wait for the database.
        assert not stored.is_set()
        assert len(outbox) == 0 and len(writer) == 3
    finally:
        time.sleep(0.3)  # the writer is now waiting on the lock
        blocker.rollback()
        blocker.close()
    writer.stop()  # returns once everything queued is in the outbox
    assert stored.is_set()
    assert len(writer) == 0
    assert _payloads(outbox) == [b"0", b"1", b"2"]
    assert not outbox.degraded
    outbox.close()
    reopened = Outbox(tmp_path / "outbox.sqlite", 100, 3600)  # durable: a restart finds them
    assert _payloads(reopened) == [b"0", b"1", b"2"]
    reopened.close()


def test_without_the_thread_put_stores_at_once_after_what_is_queued(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.sqlite", 100, 3600)
    calls: list[int] = []
    writer = OutboxWriter(outbox, stored=lambda: calls.append(len(outbox)))
    writer.put("t", b"before start", time.time())
    assert _payloads(outbox) == [b"before start"] and calls == [1]
    writer.start()
    writer.put("t", b"while running", time.time())
    writer.stop()
    writer.put("t", b"after stop", time.time())  # a listener that outlived the publisher
    assert _payloads(outbox) == [b"before start", b"while running", b"after stop"]
    assert calls == [1, 2, 3]
    outbox.close()
