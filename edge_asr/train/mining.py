"""Hard negatives: windows of command-free running speech that a trained model mistakes for a
command, fed back to it as `_unknown_`.

The streaming recognizer's false accepts come from words inside sentences that sound like a
command ("stock", "free", "kicks"); isolated unknown words do not teach those. The stream is
made of the training split's voices and music only, so held-out figures stay held out.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..audio import read_wav
from ..frontend import FrontendParams, log_mel
from ..model import is_internal
from . import fit

log = logging.getLogger(__name__)


def stream_windows(wav: Path, params: FrontendParams, frames: int, every: int) -> torch.Tensor:
    """Feature windows (N, frames, n_mels) of a long recording, one every `every` frames: the
    windows the recognizer classifies when it infers every `every` hops."""
    feats = log_mel(read_wav(wav, params.sample_rate_hz), params)
    starts = np.arange(0, feats.shape[0] - frames + 1, every)
    view = np.lib.stride_tricks.sliding_window_view(feats, frames, axis=0)[starts]
    return torch.from_numpy(np.ascontiguousarray(view.transpose(0, 2, 1)))


def mine(
    model: torch.nn.Module, windows: torch.Tensor, labels: Sequence[str], threshold: float
) -> torch.Tensor:
    """The windows whose highest command posterior reaches `threshold`."""
    commands = torch.tensor([not is_internal(label) for label in labels])
    with torch.no_grad():
        posteriors = torch.softmax(fit.predict_logits(model, windows), dim=1)
    score = posteriors[:, commands].max(dim=1).values
    hard = windows[score >= threshold]
    log.info(
        "hard negatives: %d of %d stream windows score >= %.2f for a command",
        hard.shape[0],
        windows.shape[0],
        threshold,
    )
    return hard


def with_negatives(train: fit.Split, negatives: torch.Tensor, label: int) -> fit.Split:
    """The training split plus `negatives`, all labelled `label`, counted as clean."""
    n = negatives.shape[0]
    return fit.Split(
        torch.cat([train.x, negatives]),
        torch.cat([train.y, torch.full((n,), label, dtype=torch.int64)]),
        np.concatenate([train.snr_db, np.full(n, np.nan, np.float32)]),
    )


def fine_tune(
    model: torch.nn.Module,
    windows: torch.Tensor,
    labels: Sequence[str],
    threshold: float,
    train: fit.Split,
    val: fit.Split,
    cfg: fit.TrainConfig,
    *,
    progress: bool = True,
) -> dict[str, Any]:
    """Mine `windows` with `model`, then train it further (in place) on train + the negatives;
    returns the stage record the recipe caches."""
    hard = mine(model, windows, labels, threshold)
    tuned = with_negatives(train, hard, list(labels).index("_unknown_"))
    result = fit.fit(model, tuned, val, cfg, name="student-mined", progress=progress)
    return {
        "state": model.state_dict(),
        "result": asdict(result),
        "epochs": cfg.epochs,
        "probe_samples_per_s": result.samples_per_s,
        "hard_negatives": int(hard.shape[0]),
        "stream_windows": int(windows.shape[0]),
    }
