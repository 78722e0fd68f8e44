"""Hard negatives: windows of command-free running speech that a trained model mistakes for a
command, fed back to it as `_unknown_`.

The streaming recognizer's false accepts come from words inside sentences that sound like a
command ("stock", "free", "kicks"); isolated unknown words do not teach those. The stream is
made of the training split's voices and music only, so held-out figures stay held out.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..audio import iter_wav
from ..frontend import FrontendParams, LogMel
from ..model import is_internal
from . import fit

log = logging.getLogger(__name__)


class StreamWindows:
    """The feature windows (frames x n_mels) the recognizer classifies in a long recording when
    it infers every `every` hops, made a batch at a time: a 3-hour stream is 86 MB of features
    but 850 MB as 108k overlapping windows, so only the hard ones are ever copied out."""

    def __init__(self, wav: Path, params: FrontendParams, frames: int, every: int) -> None:
        frontend = LogMel(params, max_frames_per_batch=256)
        rows = [
            mel.copy()
            for block in iter_wav(wav, params.sample_rate_hz)
            for mel, _ in frontend.stream(block)
        ]
        self.features = np.concatenate(rows) if rows else np.zeros((0, params.n_mels), np.float32)
        self.params = params
        self.frames = frames
        self.starts = np.arange(0, self.features.shape[0] - frames + 1, every)

    def __len__(self) -> int:
        return int(self.starts.size)

    def batches(self, size: int = 4096) -> Iterator[torch.Tensor]:
        """(n, frames, n_mels) tensors in stream order, `size` windows at most each."""
        view = np.lib.stride_tricks.sliding_window_view(self.features, self.frames, axis=0)
        for i in range(0, len(self), size):
            batch = view[self.starts[i : i + size]].transpose(0, 2, 1)
            yield torch.from_numpy(np.ascontiguousarray(batch))


def mine(
    model: torch.nn.Module,
    batches: Iterable[torch.Tensor],
    labels: Sequence[str],
    threshold: float,
) -> torch.Tensor:
    """The windows whose highest command posterior reaches `threshold`."""
    commands = torch.tensor([not is_internal(label) for label in labels])
    hard, seen = [], 0
    for windows in batches:
        with torch.no_grad():
            posteriors = torch.softmax(fit.predict_logits(model, windows), dim=1)
        hard.append(windows[posteriors[:, commands].max(dim=1).values >= threshold])
        seen += windows.shape[0]
    found = torch.cat(hard)
    log.info(
        "hard negatives: %d of %d stream windows score >= %.2f for a command",
        found.shape[0],
        seen,
        threshold,
    )
    return found


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
    windows: StreamWindows,
    labels: Sequence[str],
    threshold: float,
    train: fit.Split,
    val: fit.Split,
    cfg: fit.TrainConfig,
    *,
    progress: bool = True,
    kd_targets: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> dict[str, Any]:
    """Mine `windows` with `model`, then train it further (in place) on train + the negatives;
    returns the stage record the recipe caches. With cfg.kd_alpha > 0, `kd_targets` gives the
    teacher logits for the training windows and then the hard negatives found (passed to it)."""
    hard = mine(model, windows.batches(), labels, threshold)
    tuned = with_negatives(train, hard, list(labels).index("_unknown_"))
    result = fit.fit(
        model, tuned, val, cfg, name="student-mined", frontend=windows.params, progress=progress,
        teacher_logits=kd_targets(hard) if kd_targets is not None else None,
    )  # fmt: skip
    return {
        "state": model.state_dict(),
        "result": asdict(result),
        "epochs": cfg.epochs,
        "hard_negatives": int(hard.shape[0]),
        "stream_windows": len(windows),
    }
