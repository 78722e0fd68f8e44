"""Hard-negative mining: the windows it scans are the recognizer's, and it keeps exactly the
ones the model scores as a command."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

pytest.importorskip("torch", reason="training needs the [train] extra")

import torch
from torch import nn

from edge_asr.frontend import FrontendParams, log_mel
from edge_asr.train import fit, mining

LABELS = ["_silence_", "_unknown_", "yes", "no"]


def test_stream_windows_are_the_windows_the_recognizer_classifies(tmp_path: Path) -> None:
    params = FrontendParams()
    rng = np.random.default_rng(0)
    audio = (rng.normal(0, 3000, params.sample_rate_hz * 25)).astype(np.int16)  # 3 blocks
    wav = tmp_path / "stream.wav"
    sf.write(wav, audio, params.sample_rate_hz, subtype="PCM_16")
    stream = mining.StreamWindows(wav, params, frames=49, every=5)
    windows = torch.cat(list(stream.batches(size=7)))  # batches that do not divide the count
    feats = log_mel(audio, params)
    starts = range(0, feats.shape[0] - 49 + 1, 5)
    assert windows.shape == (len(starts), 49, params.n_mels) and len(stream) == len(starts)
    # The stream is read in blocks, so the frontend's BLAS batches differ from log_mel's: float32
    # sums in a batch-size-dependent order (last bits differ on some CPUs, as in test_frontend).
    # A window one hop off differs by far more than this (the check below).
    for i, s in enumerate(starts):
        np.testing.assert_allclose(windows[i].numpy(), feats[s : s + 49], atol=1e-4)
    assert np.abs(windows[1].numpy() - feats[starts[1] + 1 : starts[1] + 50]).max() > 0.1


class FirstFrameLogits(nn.Module):
    """A FAKE classifier for this test only: a window's logits are its first frame's first
    len(LABELS) values, so the test decides each window's posteriors."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, 0, : len(LABELS)]


def test_mining_keeps_the_windows_scored_as_a_command() -> None:
    windows = torch.zeros(4, 49, 40)
    windows[0, 0, :4] = torch.tensor([0.0, 9.0, 0.0, 0.0])  # unknown: not a hard negative
    windows[1, 0, :4] = torch.tensor([0.0, 0.0, 9.0, 0.0])  # "yes" with p ~ 1: hard
    windows[2, 0, :4] = torch.tensor([9.0, 0.0, 0.0, 0.0])  # silence: not hard
    windows[3, 0, :4] = torch.tensor([0.0, 0.0, 0.0, 0.5])  # "no" with p ~ 0.36: hard at 0.3
    hard = mining.mine(FirstFrameLogits(), [windows[:3], windows[3:]], LABELS, threshold=0.3)
    assert torch.equal(hard, windows[[1, 3]])
    assert mining.mine(FirstFrameLogits(), [windows], LABELS, threshold=0.5).shape[0] == 1


def test_hard_negatives_join_training_as_clean_unknown_windows() -> None:
    train = fit.Split(
        torch.zeros(3, 49, 40), torch.tensor([2, 3, 0]), np.array([np.nan, 10.0, np.nan])
    )
    tuned = mining.with_negatives(train, torch.ones(2, 49, 40), LABELS.index("_unknown_"))
    assert len(tuned) == 5
    assert tuned.y.tolist() == [2, 3, 0, 1, 1]
    assert torch.equal(tuned.x[3:], torch.ones(2, 49, 40))
    assert np.isnan(tuned.snr_db[3:]).all() and tuned.snr_db[1] == 10.0
