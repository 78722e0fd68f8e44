"""Benchmarks: real-time factor per stage, CPU while idle and busy, peak memory, start-up."""

from __future__ import annotations

import argparse

from .config import Settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--minutes", type=float, default=10.0, help="length of the test stream")


def run_bench(settings: Settings, args: argparse.Namespace) -> int:
    raise NotImplementedError("benchmark not written yet")
