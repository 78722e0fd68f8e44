"""The factory's side worker: a real spawned process shares independent work with this one."""

from __future__ import annotations

import os
import time

import pytest

from edge_asr.train.side import map_shared, side_worker, submit


def _square_and_pid(x: int) -> tuple[int, int]:
    time.sleep(0.2)  # long enough that both processes take items
    return x * x, os.getpid()


def _fail(_: int) -> int:
    raise ValueError("stage failed")


def test_map_shared_keeps_the_order_and_uses_both_processes() -> None:
    with side_worker(2) as side:
        assert side is not None
        out = map_shared(side, _square_and_pid, list(range(6)))
    assert [square for square, _ in out] == [x * x for x in range(6)]
    pids = {pid for _, pid in out}
    assert os.getpid() in pids and len(pids) == 2


def test_one_job_runs_everything_here_and_later() -> None:
    with side_worker(1) as side:
        assert side is None
        later = submit(side, _square_and_pid, 3)
        assert map_shared(side, _square_and_pid, [1, 2]) == [(1, os.getpid()), (4, os.getpid())]
    assert later() == (9, os.getpid())  # run when asked for, in this process


def test_a_failure_on_the_side_worker_reaches_the_caller() -> None:
    with side_worker(2) as side:
        failed = submit(side, _fail, 0)
        with pytest.raises(ValueError, match="stage failed"):
            failed()
        assert submit(side, _square_and_pid, 2)()[0] == 4  # the worker is still usable
