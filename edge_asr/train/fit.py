"""Training loops on feature npz splits: teacher (CE), students with and without distillation."""

from __future__ import annotations

import copy
import logging
import math
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from edge_asr.frontend import FrontendParams, mel_centres_hz

log = logging.getLogger(__name__)


@dataclass
class Split:
    """One split of the dataset builder's output, features kept in memory as a torch tensor."""

    x: torch.Tensor  # float32 (N, T, F) log-mel
    y: torch.Tensor  # int64 (N,)
    snr_db: npt.NDArray[np.float32]  # NaN = clean
    # int64 (N,): which word each window holds, for TrainConfig.word_aux: a command or silence
    # as in y, each unknown word its own class from len(labels) up. None: not known.
    word: torch.Tensor | None = None

    def __len__(self) -> int:
        return int(self.y.shape[0])


def load_split(dataset_dir: Path, split: str) -> Split:
    with np.load(dataset_dir / f"{split}.npz", allow_pickle=False) as data:
        x = np.ascontiguousarray(data["x"], dtype=np.float32)
        y = data["y"].astype(np.int64)
        snr = (
            data["snr_db"].astype(np.float32)
            if "snr_db" in data
            else np.full(len(y), np.nan, np.float32)
        )
    return Split(torch.from_numpy(x), torch.from_numpy(y), snr)


@dataclass
class TrainConfig:
    """One training stage's recipe; every field goes into the recipe hash and model.json."""

    epochs: int = 10
    batch_size: int = 128
    lr: float = 3e-3
    weight_decay: float = 1e-2
    label_smoothing: float = 0.1
    mixup_alpha: float = 0.0  # 0 disables mixup
    time_masks: int = 2
    time_mask_frames: int = 8
    freq_masks: int = 2
    freq_mask_bins: int = 6
    # Vocal tract length perturbation: each training window's spectrum stretched by a factor
    # drawn from [1 - warp, 1 + warp] (9 steps), as a shorter or longer vocal tract would; 0 off.
    warp: float = 0.0
    # Random equalisation (FilterAugment, Nam et al. 2022): each training window's log-mel
    # spectrum gets a smooth random gain curve across the mel bands, at most eq_db dB either
    # way, fresh every batch, as another microphone, room or vocal tract would colour it; 0 off.
    eq_db: float = 0.0
    # Auxiliary word identity: weight of a second cross-entropy, on which word a window holds
    # (every unknown word its own class; Split.word), from the features the head reads, through
    # a linear layer that exists only during training; the trained network is unchanged. 0 off.
    word_aux: float = 0.0
    # Focal loss (Lin et al. 2017): each window's cross-entropy scaled by (1 - p)^focal_gamma,
    # p the probability the network gives its (smoothed) target, so windows it already gets
    # right count less and the hard ones (near-miss words, unusual voices) more; 0 off.
    focal_gamma: float = 0.0
    balance_power: float = 0.5  # class weight (1/count)**power: 0 none, 1 fully balanced
    patience: int = 4  # epochs without val improvement before stopping
    # Which validation figure picks the best epoch: "top1", or "balanced" (mean per-class
    # recall) when unknown windows outnumber each command's so far that top-1 rewards silence.
    select_on: str = "top1"
    kd_alpha: float = 0.0  # weight of the distillation term; 0 = plain CE
    kd_temperature: float = 4.0
    seed: int = 0


@dataclass
class FitResult:
    best_epoch: int
    epochs_run: int
    best_val_top1: float
    seconds: float
    samples_per_s: float
    history: list[dict[str, float]] = field(default_factory=list)


def set_seed(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def class_weights(y: torch.Tensor, n_labels: int, power: float) -> torch.Tensor:
    """Per-class loss weights, mean 1 over samples, so the large unknown class does not dominate."""
    counts = torch.bincount(y, minlength=n_labels).float().clamp_min(1.0)
    w = counts.pow(-power)
    return w / (w[y].mean())


def spec_augment(
    x: torch.Tensor, cfg: TrainConfig, fill: torch.Tensor, gen: torch.Generator
) -> torch.Tensor:
    """SpecAugment time and frequency masks, vectorised over the batch.

    Masked cells take the training mean (`fill`, broadcast over F) so after the net's input
    normalisation they are ~0 rather than a loud or silent value.
    """
    b, t, f = x.shape
    keep = torch.ones(b, t, f, dtype=torch.bool)
    for count, width, size, axis in (
        (cfg.time_masks, cfg.time_mask_frames, t, 1),
        (cfg.freq_masks, cfg.freq_mask_bins, f, 2),
    ):
        pos = torch.arange(size)
        for _ in range(count):
            w = torch.randint(0, width + 1, (b, 1), generator=gen)
            start = (torch.rand(b, 1, generator=gen) * (size - w + 1)).long()
            hit = (pos >= start) & (pos < start + w)  # (b, size)
            keep &= ~(hit.unsqueeze(2) if axis == 1 else hit.unsqueeze(1))
    return torch.where(keep, x, fill.expand_as(x))


EQ_TERMS = 3  # cosines over the mel axis: slow tilts and bumps, not single-band notches
_DB_TO_LOG_POWER = float(np.log(10.0) / 10.0)


def random_eq(x: torch.Tensor, eq_db: float, floor: float, gen: torch.Generator) -> torch.Tensor:
    """x (b, t, f) log-mel windows, each with its own gain curve added across f: a sum of
    EQ_TERMS cosines (half periods 1..EQ_TERMS over the band range) whose amplitudes are drawn
    from +-eq_db / EQ_TERMS, so a curve never exceeds eq_db dB. Cells stay >= floor, the
    frontend's log floor, which no audio can go below."""
    b, _, f = x.shape
    k = torch.arange(1, EQ_TERMS + 1, dtype=torch.float32)
    basis = torch.cos(torch.pi * k[:, None] * (torch.arange(f) + 0.5) / f)  # (terms, f)
    amp = (torch.rand(b, EQ_TERMS, generator=gen) * 2 - 1) * (eq_db / EQ_TERMS)
    gain = (amp @ basis) * _DB_TO_LOG_POWER  # (b, f), natural log of power like the features
    return torch.clamp_min(x + gain[:, None, :], floor)


WARP_STEPS = 9


def warp_bank(frontend: FrontendParams, warp: float, steps: int = WARP_STEPS) -> torch.Tensor:
    """(steps, F, F) matrices for factors alpha = linspace(1 - warp, 1 + warp, steps): a log-mel
    frame @ bank[i] is the frame of a speaker whose spectrum is stretched by alpha (VTLP, Jaitly
    and Hinton 2013: formants at alpha times their frequency). Each filter reads the frame at
    its centre frequency / alpha, interpolated between neighbouring filters' centres; beyond
    the outer filters it takes the outer filter's value."""
    centres = mel_centres_hz(frontend)
    n = len(centres)
    cols = np.arange(n)
    bank = np.zeros((steps, n, n), np.float32)
    for i, alpha in enumerate(np.linspace(1.0 - warp, 1.0 + warp, steps)):
        pos = np.interp(centres / alpha, centres, cols)  # fractional source filter
        lo = np.floor(pos).astype(np.int64)
        hi = np.minimum(lo + 1, n - 1)
        frac = (pos - lo).astype(np.float32)
        bank[i, lo, cols] += 1.0 - frac
        bank[i, hi, cols] += frac
    return torch.from_numpy(bank)


def predict_logits(model: nn.Module, x: torch.Tensor, batch: int = 512) -> torch.Tensor:
    model.eval()
    with torch.no_grad():
        return torch.cat([model(x[i : i + batch]) for i in range(0, len(x), batch)])


def _bucket(snr: float) -> str:
    return "clean" if math.isnan(snr) else f"{snr:g}"


def accuracy_report(
    pred: npt.NDArray[Any], y: npt.NDArray[Any], snr_db: npt.NDArray[np.float32]
) -> dict[str, Any]:
    """Top-1 overall, mean per-class recall, and top-1 on clean windows and per SNR.

    SNRs are grouped by their value when the builder uses a few discrete levels, otherwise in
    5 dB bins, so the table stays short.
    """
    correct = pred == y
    recalls = [float(correct[y == c].mean()) for c in np.unique(y)]
    finite = snr_db[np.isfinite(snr_db)]
    if len(np.unique(np.round(finite, 1))) <= 12:
        keys = np.array([_bucket(float(v)) for v in np.round(snr_db, 1)])
    else:
        binned = np.floor(snr_db / 5.0) * 5.0
        keys = np.array(
            ["clean" if math.isnan(v) else f"{v:g}..{v + 5:g}" for v in binned.astype(float)]
        )
    per_snr: dict[str, dict[str, float]] = {}
    order = sorted(
        set(keys.tolist()),
        key=lambda k: (k != "clean", float(k.split("..")[0]) if k != "clean" else 0.0),
    )
    for key in order:
        mask = keys == key
        per_snr[key] = {"top1": float(correct[mask].mean()), "n": int(mask.sum())}
    return {
        "top1": float(correct.mean()) if len(y) else float("nan"),
        "balanced": float(np.mean(recalls)) if recalls else float("nan"),
        "n": len(y),
        "by_snr_db": per_snr,
    }


def evaluate(model: nn.Module, split: Split) -> dict[str, Any]:
    pred = predict_logits(model, split.x).argmax(1).numpy()
    return accuracy_report(pred, split.y.numpy(), split.snr_db)


def _loss(
    logits: torch.Tensor,
    target: torch.Tensor,
    sample_w: torch.Tensor,
    teacher_prob: torch.Tensor | None,
    cfg: TrainConfig,
) -> torch.Tensor:
    """Weighted soft-target CE, plus alpha * T^2 * KL(teacher_T || student_T) when distilling."""
    log_p = F.log_softmax(logits, dim=1)
    ce = -(target * log_p).sum(1)
    if cfg.focal_gamma > 0:  # (1 - p of the target)^gamma: easy windows count less
        ce = ce * (1 - (target * log_p.exp()).sum(1)).clamp_min(0).pow(cfg.focal_gamma)
    loss = (sample_w * ce).sum() / sample_w.sum()
    if teacher_prob is None or cfg.kd_alpha <= 0.0:
        return loss
    t = cfg.kd_temperature
    log_student = F.log_softmax(logits / t, dim=1)
    kl = (teacher_prob * (teacher_prob.clamp_min(1e-8).log() - log_student)).sum(1)
    # T^2 keeps the gradient scale of the soft term comparable to CE as T changes (Hinton 2015).
    kd = (sample_w * kl).sum() / sample_w.sum() * (t * t)
    return cfg.kd_alpha * kd + (1.0 - cfg.kd_alpha) * loss


class _WordHead(nn.Module):
    """Training-only linear layer that reads what the model's `head` reads (caught by a hook)
    and predicts Split.word; its loss is added to the model's (TrainConfig.word_aux)."""

    def __init__(self, model: nn.Module, train: Split, cfg: TrainConfig, name: str) -> None:
        super().__init__()
        head = getattr(model, "head", None)
        if train.word is None or not isinstance(head, nn.Linear):
            raise ValueError(f"{name}: word_aux {cfg.word_aux} needs Split.word and a Linear head")
        if cfg.mixup_alpha > 0:
            raise ValueError(f"{name}: word_aux and mixup together are not supported")
        self.word = train.word
        self.layer = nn.Linear(head.in_features, int(train.word.max()) + 1)
        self.seen: torch.Tensor | None = None
        self._hook = head.register_forward_pre_hook(self._catch)

    def _catch(self, _mod: nn.Module, inputs: tuple[torch.Tensor, ...]) -> None:
        self.seen = inputs[0]

    def loss(self, idx: torch.Tensor, sample_w: torch.Tensor, smoothing: float) -> torch.Tensor:
        assert self.seen is not None
        ce = F.cross_entropy(
            self.layer(self.seen), self.word[idx], reduction="none", label_smoothing=smoothing
        )
        return (sample_w * ce).sum() / sample_w.sum()

    def close(self) -> None:
        self._hook.remove()


def epochs_for_samples(n_train: int, budget_samples: int, max_epochs: int) -> int:
    """Whole epochs of n_train windows within a budget of training samples (at least one)."""
    return max(1, min(max_epochs, budget_samples // max(1, n_train)))


def fit(
    model: nn.Module,
    train: Split,
    val: Split,
    cfg: TrainConfig,
    *,
    name: str,
    teacher_logits: torch.Tensor | None = None,
    teacher: nn.Module | None = None,
    frontend: FrontendParams | None = None,
    progress: bool = True,
) -> FitResult:
    """Train in place with AdamW + OneCycle; keeps the weights of the best val top-1 epoch.

    Distillation (cfg.kd_alpha > 0) matches `teacher_logits`, the teacher's outputs on the
    clean training windows, or with `teacher` the teacher's outputs on each batch as the
    student sees it (masked, mixed): the same view for both, at a teacher forward per step
    (`teacher` is switched to eval mode and channels-last in place). `cfg.warp` needs the
    `frontend` that made the features (the mel filters' frequencies).
    """
    bank = None
    if cfg.warp > 0:
        if frontend is None:
            raise ValueError(f"{name}: warp {cfg.warp} needs the frontend the features came from")
        bank = warp_bank(frontend, cfg.warp)
    log_floor = float(np.log((frontend or FrontendParams()).log_floor))
    set_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    model.eval()
    with torch.no_grad():  # eval: a probe batch must not touch the BN running statistics
        n_labels = int(model(train.x[:2]).shape[1])
    # channels_last roughly doubles CPU conv speed for these nets (measured, 1 thread).
    model.to(memory_format=torch.channels_last)
    weights = class_weights(train.y, n_labels, cfg.balance_power)
    fill = train.x.mean(dim=(0, 1))
    steps = max(1, len(train) // cfg.batch_size)  # drop the ragged last batch
    words = _WordHead(model, train, cfg, name) if cfg.word_aux > 0 else None
    params = list(model.parameters()) + (list(words.parameters()) if words is not None else [])
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=cfg.lr, total_steps=cfg.epochs * steps, pct_start=0.15
    )
    live = teacher if cfg.kd_alpha > 0 else None  # asked about every batch
    teacher_prob = (
        F.softmax(teacher_logits / cfg.kd_temperature, dim=1)
        if teacher_logits is not None and cfg.kd_alpha > 0 and live is None
        else None
    )
    if live is not None:
        live.eval().to(memory_format=torch.channels_last)  # in place: the caller's module
    beta = (
        torch.distributions.Beta(cfg.mixup_alpha, cfg.mixup_alpha) if cfg.mixup_alpha > 0 else None
    )
    best_state = copy.deepcopy(model.state_dict())
    best_score, best_top1, best_epoch, stale = -1.0, -1.0, 0, 0
    history: list[dict[str, float]] = []
    started = time.perf_counter()
    seen = 0
    epoch = 0
    for epoch in range(1, cfg.epochs + 1):
        model.train()
        order = torch.randperm(len(train), generator=gen)
        bar = tqdm(
            range(steps),
            desc=f"{name} {epoch}/{cfg.epochs}",
            leave=False,
            disable=not progress,
            unit="batch",
        )
        total = 0.0
        for step in bar:
            idx = order[step * cfg.batch_size : (step + 1) * cfg.batch_size]
            x = train.x[idx]
            if bank is not None:  # draws from gen only when on: warp 0 trains as before
                x = torch.bmm(x, bank[torch.randint(0, len(bank), (len(idx),), generator=gen)])
            if cfg.eq_db > 0:  # likewise
                x = random_eq(x, cfg.eq_db, log_floor, gen)
            x = spec_augment(x, cfg, fill, gen)
            y = train.y[idx]
            hard = F.one_hot(y, n_labels).float()
            target = hard * (1 - cfg.label_smoothing) + cfg.label_smoothing / n_labels
            sample_w = weights[y]
            soft = teacher_prob[idx] if teacher_prob is not None else None
            if beta is not None:
                lam = float(beta.sample())
                perm = torch.randperm(len(idx), generator=gen)
                x = lam * x + (1 - lam) * x[perm]
                target = lam * target + (1 - lam) * target[perm]
                sample_w = lam * sample_w + (1 - lam) * sample_w[perm]
                if soft is not None:
                    soft = lam * soft + (1 - lam) * soft[perm]
            if live is not None:
                with torch.no_grad():
                    soft = F.softmax(live(x) / cfg.kd_temperature, dim=1)
            loss = _loss(model(x), target, sample_w, soft, cfg)
            if words is not None:
                loss = loss + cfg.word_aux * words.loss(idx, sample_w, cfg.label_smoothing)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item()
            seen += len(idx)
            if step % 20 == 0:
                bar.set_postfix(loss=f"{total / (step + 1):.3f}")
        report = evaluate(model, val)
        history.append(
            {
                "epoch": epoch,
                "loss": total / steps,
                "val_top1": report["top1"],
                "val_balanced": report["balanced"],
            }
        )
        log.info(
            "%s epoch %d/%d: loss %.4f, val top-1 %.4f (balanced %.4f)",
            name,
            epoch,
            cfg.epochs,
            total / steps,
            report["top1"],
            report["balanced"],
        )
        if report[cfg.select_on] > best_score:
            best_score, best_top1 = report[cfg.select_on], report["top1"]
            best_epoch, stale = epoch, 0
            best_state = copy.deepcopy(model.state_dict())
        else:
            stale += 1
            if stale >= cfg.patience:
                log.info("%s: early stop after epoch %d (best %d)", name, epoch, best_epoch)
                break
    seconds = time.perf_counter() - started
    if words is not None:
        words.close()
    model.load_state_dict(best_state)
    model.to(memory_format=torch.contiguous_format).eval()
    return FitResult(
        best_epoch=best_epoch,
        epochs_run=epoch,
        best_val_top1=best_top1,
        seconds=seconds,
        samples_per_s=seen / max(seconds, 1e-9),
        history=history,
    )


def config_dict(cfg: TrainConfig) -> dict[str, Any]:
    return asdict(cfg)
