"""A second core for the factory: stages that need nothing from each other run side by side.

Training is single-threaded, so on a 2-core machine one core idles through most of a build. A
side worker (one spawned process) takes independent work: the student without distillation while
the teacher trains, the negative streams while the students train, every other stream to trace
during calibration, the TFLite evaluation beside the ONNX one. Each piece is seeded on its own
and runs single-threaded wherever it runs, so the files are the same byte for byte as with
`--jobs 1` (test_train_smoke builds both ways).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")

log = logging.getLogger(__name__)


def default_jobs() -> int:
    """2 where the process may use two cores or more, else 1."""
    return 2 if len(os.sched_getaffinity(0)) >= 2 else 1


def _init_worker() -> None:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(name)s [side]: %(message)s", force=True
    )


@contextmanager
def side_worker(jobs: int) -> Iterator[ProcessPoolExecutor | None]:
    """One spawned worker process when jobs >= 2 (spawn, not fork: torch's thread pools do not
    survive a fork), else None: callers then run everything in this process."""
    if jobs < 2:
        yield None
        return
    pool = ProcessPoolExecutor(
        1, mp_context=multiprocessing.get_context("spawn"), initializer=_init_worker
    )
    try:
        yield pool
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def submit(
    pool: ProcessPoolExecutor | None, fn: Callable[..., R], *args: Any, **kwargs: Any
) -> Callable[[], R]:
    """fn(*args) on the side worker, or later in this process without one; call the result to
    get fn's value (waiting for the worker if it is still busy)."""
    if pool is None:
        return lambda: fn(*args, **kwargs)
    future: Future[R] = pool.submit(fn, *args, **kwargs)
    return future.result


def map_shared(
    pool: ProcessPoolExecutor | None, fn: Callable[[T], R], items: Sequence[T]
) -> list[R]:
    """[fn(item) for item in items], shared between this process and the side worker: each takes
    the next item when it is free (the worker from the front, this process from the back)."""
    results: dict[int, R] = {}
    todo = list(range(len(items)))
    running: tuple[int, Future[R]] | None = None
    while todo or running is not None:
        if pool is not None and running is None and todo:
            i = todo.pop(0)
            running = (i, pool.submit(fn, items[i]))
        if todo:
            i = todo.pop()
            results[i] = fn(items[i])
        if running is not None and (running[1].done() or not todo):
            results[running[0]] = running[1].result()
            running = None
    return [results[i] for i in range(len(items))]
