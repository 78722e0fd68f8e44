"""The recipe's teacher fine-tuned on its own hard negatives (teacher-capacity.py,
mined-teacher-kd.py; they run as files, so this sits beside them)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from _screen import NAME

from edge_asr.model import DECODER_DEFAULTS
from edge_asr.train import mining, recipe


def teacher(s: Any, runs: Path) -> tuple[dict[str, Any], torch.nn.Module]:
    """The recipe's teacher stage (trained if not cached) and the network it holds."""
    ck = recipe._stage(runs, s.t_key, lambda: s.run_teacher(progress=False))
    net = s.new_teacher()
    net.load_state_dict(ck["state"])
    return ck, net


def fine_tune_on_hard_negatives(s: Any, net: torch.nn.Module, runs: Path, cache: Path) -> Any:
    """The recipe's mining stage with the teacher in the student's place (cached by its key):
    `long` preset's mine_threshold and mine_tune, on the recipe's 180-minute mining stream of
    training voices, CACHE/streams/speech-commands-20/mine-180min.wav."""
    p = s.preset
    stream = cache / "streams" / NAME / f"mine-{p.mine_minutes:g}min.wav"
    cfg = replace(p.mine_tune, seed=s.seed)
    key = "teacher-mined-" + recipe._hash(
        {
            **s.base,
            "parent": s.t_key,
            "stream": recipe._file_digest([stream]),
            "threshold": p.mine_threshold,
            "cfg": recipe._cfg_key(cfg),
        }
    )
    every = max(1, round(DECODER_DEFAULTS["infer_every_ms"] / s.frontend.hop_ms))

    def run() -> dict[str, Any]:
        windows = mining.StreamWindows(stream, s.frontend, s.input_frames, every)
        return mining.fine_tune(
            net, windows, s.labels, p.mine_threshold, s.train, s.val, cfg, progress=False
        )

    return recipe._stage(runs, key, run)
