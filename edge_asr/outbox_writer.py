"""Puts commands into the durable outbox on a thread of its own, so the listener never waits on
the disk.

The outbox commits each command with an fsync (synchronous=FULL, see outbox.py). An SD card
busy with its own housekeeping can hold one for a second; done on the listening thread, that
stall outlasts the device's buffer and the audio right after a command, often the next
command, is lost. `OutboxWriter.put` only appends to a queue; the writer thread makes each
entry durable, in order, and tells the sender.

A disk that stops answering altogether still stops the systemd watchdog, as it did when the
listener hung in the commit: the daemon's status report counts the outbox, whose lock the
stuck commit holds.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable

from .libc import name_this_thread
from .outbox import Outbox

log = logging.getLogger(__name__)

RETRY_S = 1.0  # after an unexpected error storing an entry (the outbox itself degrades to memory)


class OutboxWriter:
    """Between `start()` and `stop()` entries are stored by the writer thread; before and after,
    `put` stores them at once in the caller's thread, after anything still queued."""

    def __init__(self, outbox: Outbox, stored: Callable[[], None]) -> None:
        self._outbox = outbox
        self._stored = stored  # called after each entry is in the outbox
        self._queue: deque[tuple[str, bytes, float]] = deque()
        self._lock = threading.Lock()  # the queue and _running; never held while storing
        self._order = threading.Lock()  # held while storing: one entry at a time, oldest first
        self._ready = threading.Event()
        self._running = False
        self._thread: threading.Thread | None = None

    def __len__(self) -> int:
        """Entries queued and not yet in the outbox (one being stored counts in both)."""
        return len(self._queue)

    def start(self) -> None:
        with self._lock:
            self._running = True
        self._thread = threading.Thread(target=self._run, name="outbox-writer", daemon=True)
        self._thread.start()

    def put(self, topic: str, payload: bytes, created_ts: float) -> None:
        with self._lock:
            if self._running:
                self._queue.append((topic, payload, created_ts))
                self._ready.set()
                return
        with self._order:  # no writer thread: stored now
            self._store_queued()
            self._store(topic, payload, created_ts)

    def stop(self) -> None:
        """Store everything queued (waiting on the disk), then end the thread."""
        with self._lock:
            self._running = False
        self._ready.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def _run(self) -> None:
        name_this_thread("edge-asr-outbox")
        while True:
            self._ready.wait()
            self._ready.clear()
            with self._order:
                self._store_queued()
            with self._lock:
                if not self._running and not self._queue:
                    return

    def _store_queued(self) -> None:
        while True:
            with self._lock:
                if not self._queue:
                    return
                entry = self._queue[0]
            try:
                self._store(*entry)
            except Exception:  # a bug, not the disk (the outbox keeps entries in memory then)
                log.exception("cannot store a command in the outbox; retrying in %.0f s", RETRY_S)
                time.sleep(RETRY_S)
                continue
            with self._lock:
                self._queue.popleft()

    def _store(self, topic: str, payload: bytes, created_ts: float) -> None:
        self._outbox.put(topic, payload, created_ts)
        self._stored()
