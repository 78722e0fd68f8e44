"""Durable FIFO of messages not yet acknowledged by the broker (sqlite, in-memory fallback).

Durability choice: WAL with synchronous=FULL. NORMAL already survives a killed process (a
committed WAL frame is in the kernel's page cache), but on a Raspberry Pi the common crash is a
pulled power plug, and only FULL (fsync of the WAL on every commit) keeps the last commands
through that. Commands arrive a few per minute at most, so one fsync each costs nothing that
matters, as long as the listener does not wait for it: an SD card can hold an fsync for a
second, so the publisher puts commands here from a thread of its own (outbox_writer.py).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

log = logging.getLogger(__name__)

DROP_LOG_INTERVAL_S = 60.0
RESTORE_RETRY_S = 60.0  # how often a degraded outbox tries its database again
BOOT_ID_ENV = "EDGE_ASR_BOOT_ID"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    created_ts REAL NOT NULL,
    boot TEXT,
    born_mono REAL
)
"""
# Added after the first release: an outbox written by an older edge-asr gets them on open.
_LATER_COLUMNS = {"boot": "TEXT", "born_mono": "REAL"}


def this_boot() -> str | None:
    """The kernel's id of this boot (Linux), under which monotonic times of other processes
    compare with ours; None where there is none. From EDGE_ASR_BOOT_ID where that is set: the
    systemd unit passes it (%b) because its ProcSubset=pid hides /proc/sys."""
    given = os.environ.get(BOOT_ID_ENV, "")
    if not given.strip():
        try:
            given = Path("/proc/sys/kernel/random/boot_id").read_text()
        except OSError:
            return None
    # %b has no dashes, /proc's has: one boot, one id, however the daemon was started.
    return given.strip().replace("-", "").lower() or None


_BOOT = this_boot()


class Entry(NamedTuple):
    """One queued message; seq grows strictly with insertion order."""

    seq: int
    topic: str
    payload: bytes
    created_ts: float


class Outbox:
    """Bounded, ordered, durable queue. Thread-safe.

    `path=None` keeps everything in memory (nothing survives a restart; not "degraded").
    When the database cannot be opened or written, the outbox moves what it holds to memory,
    sets `degraded` and `degraded_reason`, logs one ERROR and keeps working. It goes back to
    the database once it can (tried every `retry_s` while memory is empty, and at close),
    deleting there what was delivered meanwhile, so a restart neither re-sends delivered
    commands nor forgets pending ones.

    Age: messages age by the monotonic clock, so a step of the wall clock (NTP's first sync on
    a Raspberry Pi, which has no RTC) neither expires nor rejuvenates them. Each row keeps the
    monotonic time it was created at and the boot it was created in: a later process of the
    same boot (a restart) goes on from there. A row of an earlier boot starts from its
    wall-clock age (now - created_ts) when this process reads it, the only age there is.
    """

    def __init__(
        self,
        path: Path | None,
        max_messages: int,
        max_age_s: float,
        *,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        retry_s: float = RESTORE_RETRY_S,
        boot: str | None = _BOOT,
    ) -> None:
        if max_messages < 1:
            raise ValueError("max_messages must be >= 1")
        self.path = path
        self.max_messages = max_messages
        self.max_age_s = max_age_s
        self.dropped_overflow = 0
        self.dropped_expired = 0
        self.degraded = False
        self.degraded_reason: str | None = None
        self._clock = clock
        self._mono = monotonic
        self._boot = boot
        self._retry_s = retry_s
        self._last_try = monotonic()
        # Every pending message: seq -> the monotonic time it expires.
        self._deadline: dict[int, float] = {}
        self._rescued: set[int] = set()  # seqs read back from the database when it failed
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        self._memory: deque[Entry] = deque()
        self._next_seq = 1
        self._count = 0
        self._unlogged_overflow = 0
        self._last_overflow_log = -DROP_LOG_INTERVAL_S
        if path is not None:
            self._open(path)

    # -- public API ---------------------------------------------------------------------------

    def put(self, topic: str, payload: bytes, created_ts: float) -> None:
        """Append a message; beyond max_messages the oldest are dropped."""
        with self._lock:
            born = self._mono() - (self._clock() - created_ts)  # as old as it says when put
            deadline = born + self.max_age_s
            if self._db is not None:
                try:
                    seq = self._db_put(self._db, topic, payload, created_ts, born)
                    self._deadline[seq] = deadline
                    return
                except sqlite3.Error as exc:
                    self._degrade(f"cannot write {self.path}: {exc}")
            self._memory.append(Entry(self._next_seq, topic, payload, created_ts))
            self._deadline[self._next_seq] = deadline
            self._next_seq += 1
            overflow = len(self._memory) - self.max_messages
            for _ in range(max(0, overflow)):
                self._deadline.pop(self._memory.popleft().seq, None)
            self._count = len(self._memory)
            self._note_overflow(max(0, overflow))

    def peek(self, limit: int) -> list[Entry]:
        """Up to `limit` oldest entries, first expiring those older than max_age_s."""
        with self._lock:
            self._maybe_restore()
            now = self._mono()
            expired = [seq for seq, deadline in self._deadline.items() if deadline < now]
            for seq in expired:
                del self._deadline[seq]
            if self._db is not None:
                try:
                    return self._db_peek(self._db, expired, limit)
                except sqlite3.Error as exc:
                    self._degrade(f"cannot read/write {self.path}: {exc}")
            gone = set(expired)
            for e in self._memory:  # rows read back from a failing database when it failed
                if e.seq not in self._deadline and e.seq not in gone:
                    deadline = self._wall_deadline(e.created_ts)
                    if deadline < now:
                        gone.add(e.seq)
                    else:
                        self._deadline[e.seq] = deadline
            kept = [e for e in self._memory if e.seq not in gone]
            dropped = len(self._memory) - len(kept)
            if dropped:
                self._memory = deque(kept)
            self._count = len(self._memory)
            self._note_expired(dropped)
            return [self._memory[i] for i in range(min(limit, len(self._memory)))]

    def age_s(self, entry: Entry) -> float:
        """How old an entry is, by the monotonic clock (see the class)."""
        with self._lock:
            deadline = self._deadline.get(entry.seq)
            if deadline is None:
                return self._clock() - entry.created_ts
            return self.max_age_s - (deadline - self._mono())

    def ack(self, seq: int) -> None:
        """Delete a delivered entry; unknown seqs are ignored."""
        with self._lock:
            self._deadline.pop(seq, None)
            if self._db is not None:
                try:
                    with self._db:
                        deleted = self._db.execute("DELETE FROM outbox WHERE seq = ?", (seq,))
                    self._count -= max(0, deleted.rowcount)
                    return
                except sqlite3.Error as exc:
                    self._degrade(f"cannot write {self.path}: {exc}")
            if self._memory and self._memory[0].seq == seq:
                self._memory.popleft()
            else:
                self._memory = deque(e for e in self._memory if e.seq != seq)
            self._count = len(self._memory)

    def __len__(self) -> int:
        with self._lock:
            return self._count

    def close(self) -> None:
        """Close the database; a degraded outbox first writes its state back if it can."""
        with self._lock:
            unsaved = self._db is None and self.degraded and self.path is not None
            if unsaved and not self._restore() and self._memory:
                log.error(
                    "outbox: %d undelivered message(s) could not be written to %s and are"
                    " lost with this process",
                    len(self._memory),
                    self.path,
                )
            if self._db is not None:
                try:
                    self._db.close()
                except sqlite3.Error as exc:
                    log.warning("closing %s: %s", self.path, exc)
                self._db = None

    # -- sqlite -------------------------------------------------------------------------------

    def _open(self, path: Path) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = self._connect(path)
        except sqlite3.DatabaseError as exc:
            if not _looks_corrupt(exc):
                self._degrade(f"cannot open {path}: {exc}")
                return
            aside = path.with_name(f"{path.name}.corrupt-{int(time.time())}")
            log.error("outbox %s is corrupt (%s); moved aside to %s", path, exc, aside.name)
            try:
                path.rename(aside)
                for suffix in ("-wal", "-shm"):
                    side = path.with_name(path.name + suffix)
                    if side.exists():
                        side.rename(aside.with_name(aside.name + suffix))
                self._db = self._connect(path)
            except (OSError, sqlite3.Error) as again:
                self._degrade(f"cannot recreate {path}: {again}")
                return
        except OSError as exc:
            self._degrade(f"cannot open {path}: {exc}")
            return
        try:
            self._load(self._db)
        except sqlite3.Error as exc:
            self._degrade(f"cannot read {path}: {exc}")

    def _wall_deadline(self, created_ts: float) -> float:
        """Deadline of a row whose only age is its wall-clock one, as of now."""
        return self._mono() + self.max_age_s - (self._clock() - created_ts)

    def _load(self, db: sqlite3.Connection) -> None:
        row = db.execute("SELECT COUNT(*), COALESCE(MAX(seq), 0) FROM outbox").fetchone()
        self._count, last_seq = int(row[0]), int(row[1])
        self._next_seq = last_seq + 1
        if self._count > self.max_messages:  # the limit was lowered since the last run
            excess = self._count - self.max_messages
            with db:
                db.execute(
                    "DELETE FROM outbox WHERE seq IN (SELECT seq FROM outbox ORDER BY seq LIMIT ?)",
                    (excess,),
                )
            self._count = self.max_messages
            self._note_overflow(excess)
        now = self._mono()
        for seq, created_ts, boot, born in db.execute(
            "SELECT seq, created_ts, boot, born_mono FROM outbox"
        ):
            same_boot = self._boot is not None and boot == self._boot and born is not None
            if same_boot and born <= now:  # (a later time: not a clock to trust after all)
                self._deadline[int(seq)] = float(born) + self.max_age_s
            else:
                self._deadline[int(seq)] = self._wall_deadline(float(created_ts))
        if self._count:
            log.info("outbox %s: %d undelivered message(s) from before", self.path, self._count)

    @staticmethod
    def _connect(path: Path) -> sqlite3.Connection:
        # Default isolation: DML opens a transaction, `with db:` commits it (one per put/ack).
        db = sqlite3.connect(path, check_same_thread=False, timeout=5.0)
        try:
            mode = db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise sqlite3.OperationalError(f"cannot enable WAL (journal_mode={mode})")
            db.execute("PRAGMA synchronous=FULL")
            check = db.execute("PRAGMA quick_check").fetchone()[0]
            if check != "ok":
                raise sqlite3.DatabaseError(f"quick_check: {check}")
            with db:
                db.execute(_SCHEMA)
                have = {row[1] for row in db.execute("PRAGMA table_info(outbox)")}
                for column, kind in _LATER_COLUMNS.items():
                    if column not in have:
                        db.execute(f"ALTER TABLE outbox ADD COLUMN {column} {kind}")
        except sqlite3.Error:
            db.close()
            raise
        return db

    def _db_put(
        self, db: sqlite3.Connection, topic: str, payload: bytes, ts: float, born: float
    ) -> int:
        """Insert a row (dropping the oldest beyond max_messages); its seq."""
        with db:
            seq = db.execute(
                "INSERT INTO outbox (topic, payload, created_ts, boot, born_mono)"
                " VALUES (?, ?, ?, ?, ?)",
                (topic, payload, ts, self._boot, born),
            ).lastrowid
            assert seq is not None
            overflow = self._count + 1 - self.max_messages
            if overflow > 0:
                db.execute(
                    "DELETE FROM outbox WHERE seq IN (SELECT seq FROM outbox ORDER BY seq LIMIT ?)",
                    (overflow,),
                )
        self._count = min(self._count + 1, self.max_messages)
        self._next_seq = max(self._next_seq, seq + 1)
        self._note_overflow(max(0, overflow))
        return seq

    def _db_peek(self, db: sqlite3.Connection, expired_seqs: list[int], limit: int) -> list[Entry]:
        expired = 0
        with db:
            for seq in expired_seqs:
                expired += db.execute("DELETE FROM outbox WHERE seq = ?", (seq,)).rowcount
        if expired > 0:
            self._count -= expired
            self._note_expired(expired)
        rows = db.execute(
            "SELECT seq, topic, payload, created_ts FROM outbox ORDER BY seq LIMIT ?", (limit,)
        ).fetchall()
        return [Entry(int(s), str(t), bytes(p), float(c)) for s, t, p, c in rows]

    def _maybe_restore(self) -> None:
        """While degraded and empty, try the database again every retry_s."""
        if self._db is not None or self.path is None or not self.degraded or self._memory:
            return
        if self._mono() - self._last_try >= self._retry_s:
            self._restore()

    def _restore(self) -> bool:
        """Make the database hold exactly what is pending, then use it again.

        Rows rescued from it when it failed and gone from memory since (delivered, expired or
        dropped) are deleted; rows it held that were never read (it could not be opened) are
        kept, before the messages only memory holds. Remaining rows are renumbered above every
        seq this process has used, so seqs keep growing for the publisher.
        """
        assert self.path is not None
        self._last_try = self._mono()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = self._connect(self.path)
        except (OSError, sqlite3.Error) as exc:
            log.debug("outbox: %s still unusable: %s", self.path, exc)
            return False
        pending = {e.seq for e in self._memory}
        try:
            with db:
                gone = [(seq,) for seq in self._rescued - pending]
                db.executemany("DELETE FROM outbox WHERE seq = ?", gone)
                top = int(db.execute("SELECT COALESCE(MAX(seq), 0) FROM outbox").fetchone()[0])
                shift = max(self._next_seq, top)
                db.execute("UPDATE outbox SET seq = seq + ?", (shift,))
                floor = shift + top
                if not db.execute(
                    "UPDATE sqlite_sequence SET seq = MAX(seq, ?) WHERE name = 'outbox'", (floor,)
                ).rowcount:
                    db.execute(
                        "INSERT INTO sqlite_sequence (name, seq) VALUES ('outbox', ?)", (floor,)
                    )
                db.executemany(
                    "INSERT INTO outbox (topic, payload, created_ts, boot, born_mono)"
                    " VALUES (?, ?, ?, ?, ?)",
                    [
                        (e.topic, e.payload, e.created_ts, self._boot, self._born(e))
                        for e in self._memory
                        if e.seq not in self._rescued
                    ],
                )
        except sqlite3.Error as exc:
            log.debug("outbox: %s still unusable: %s", self.path, exc)
            with contextlib.suppress(sqlite3.Error):
                db.close()
            return False
        moved = len(self._memory)
        self._db, self._memory, self._rescued = db, deque(), set()
        next_seq = self._next_seq
        self._count = 0
        self._deadline.clear()  # renumbered: read back with the rows
        self._load(db)
        self._next_seq = max(self._next_seq, next_seq)
        log.warning(
            "outbox back on %s (%d message(s) written back) after: %s",
            self.path,
            moved,
            self.degraded_reason,
        )
        self.degraded, self.degraded_reason = False, None
        return True

    def _born(self, entry: Entry) -> float:
        """The monotonic time an entry was created at (its deadline less max_age_s)."""
        deadline = self._deadline.get(entry.seq)
        if deadline is None:
            deadline = self._wall_deadline(entry.created_ts)
        return deadline - self.max_age_s

    def _degrade(self, reason: str) -> None:
        """Switch to memory for the rest of this process, keeping whatever can still be read."""
        db, self._db = self._db, None
        rescued: list[Entry] = []
        if db is not None:
            try:
                rows = db.execute(
                    "SELECT seq, topic, payload, created_ts FROM outbox ORDER BY seq"
                ).fetchall()
                rescued = [Entry(int(s), str(t), bytes(p), float(c)) for s, t, p, c in rows]
            except sqlite3.Error as exc:
                log.warning("outbox: could not read back queued messages: %s", exc)
            with contextlib.suppress(sqlite3.Error):
                db.close()
        self._memory = deque(rescued[-self.max_messages :])
        self._rescued = {e.seq for e in rescued}
        if rescued:
            self._next_seq = max(self._next_seq, rescued[-1].seq + 1)
        self._count = len(self._memory)
        if not self.degraded:
            self.degraded = True
            self.degraded_reason = reason
            log.error("outbox degraded to memory (commands will not survive a restart): %s", reason)

    # -- drop accounting ----------------------------------------------------------------------

    def _note_overflow(self, dropped: int) -> None:
        if dropped <= 0:
            return
        self.dropped_overflow += dropped
        self._unlogged_overflow += dropped
        now = time.monotonic()
        if now - self._last_overflow_log >= DROP_LOG_INTERVAL_S:
            log.warning(
                "outbox full (%d messages): dropped %d oldest (%d in total)",
                self.max_messages,
                self._unlogged_overflow,
                self.dropped_overflow,
            )
            self._unlogged_overflow = 0
            self._last_overflow_log = now

    def _note_expired(self, dropped: int) -> None:
        if dropped <= 0:
            return
        self.dropped_expired += dropped
        log.warning(
            "outbox: dropped %d message(s) older than %.0f s (%d in total)",
            dropped,
            self.max_age_s,
            self.dropped_expired,
        )


def _looks_corrupt(exc: sqlite3.Error) -> bool:
    text = str(exc).lower()
    return "not a database" in text or "malformed" in text or "quick_check" in text
