"""The window stage: clip rows -> augmented 1 s windows -> log-mel features -> <split>.npz."""

from __future__ import annotations

import logging
import shutil
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from edge_asr.frontend import FrontendParams, log_mel
from edge_asr.train.augment import NOISE_KINDS, Augmenter, partial_word
from edge_asr.train.tts import TtsCache, VoiceSpec

logger = logging.getLogger(__name__)

SILENCE, UNKNOWN = "_silence_", "_unknown_"
PARTIAL_STREAM = 1  # seeds the partial-word windows' generator apart from the clip's own
USER_ENGINE = "user"  # a Row whose clip is one of the user's recordings (train --enroll)
EVAL_SNRS_DB = (20.0, 10.0, 0.0)


@dataclass(frozen=True)
class Row:
    split: str
    label: str
    text: str
    voice: VoiceSpec


# Per-process state for the window stage (set once per worker by _init_worker).
_STATE: dict[str, Any] = {}


def _init_worker(state: dict[str, Any]) -> None:
    _STATE.clear()
    _STATE.update(state)
    _STATE["cache"] = TtsCache(state["cache_dir"], engines={})


def _windows(task: tuple[str, int, int, Row | None]) -> list[tuple[np.ndarray, dict[str, Any]]]:
    """Feature windows for one clip row (or one silence window when row is None)."""
    split, split_id, index, row = task
    aug: Augmenter = _STATE["augmenters"][split]
    params: FrontendParams = _STATE["params"]
    rng = np.random.default_rng([_STATE["seed"], split_id, index])
    out = []
    if row is None:
        window, kind = aug.silence_window(rng)
        meta = {
            "split": split,
            "label": SILENCE,
            "engine": "none",
            "voice": kind,
            "text": "",
            "snr_db": np.nan,
            "noise": kind,
            "cut": False,
        }
        return [(window, meta)]
    clip = _STATE["cache"].get(row.text, row.voice)
    base = {
        "split": split,
        "label": row.label,
        "engine": row.voice.engine,
        "voice": row.voice.name,
        "text": row.text,
    }
    if split == "train":
        # A user's recording (train --enroll) is one of a speaker's few: more
        # copies, so a handful of them weighs about as much as a synthetic voice.
        copies = _STATE["train_copies"] * (
            _STATE["enroll_copies"] if row.voice.engine == USER_ENGINE else 1
        )
        for _ in range(copies):
            window, cut = aug.train_window(clip, rng)
            out.append((window, {**base, "snr_db": np.nan, "noise": "aug", "cut": cut}))
        if _STATE.get("p_partial", 0.0) > 0 and row.label != UNKNOWN:
            out += _partial_windows(clip, copies, base, aug, [_STATE["seed"], split_id, index])
    else:
        window, cut = aug.clean_window(clip)
        out.append((window, {**base, "snr_db": np.nan, "noise": "clean", "cut": cut}))
        for snr in EVAL_SNRS_DB:
            kind = NOISE_KINDS[int(rng.integers(len(NOISE_KINDS)))]
            window, cut = aug.noisy_window(clip, snr, kind, rng)
            out.append((window, {**base, "snr_db": snr, "noise": kind, "cut": cut}))
    del params
    return out


def _partial_windows(
    clip: np.ndarray, copies: int, base: dict[str, Any], aug: Augmenter, key: list[int]
) -> list[tuple[np.ndarray, dict[str, Any]]]:
    """Each training copy of a command is joined, with probability p_partial, by a window of a
    part of it labelled unknown (augment.partial_word). A generator of its own, so the whole
    words' windows are the same with or without."""
    rng = np.random.default_rng([*key, PARTIAL_STREAM])
    out = []
    meta = {**base, "label": UNKNOWN, "text": f"{base['text']} (part)", "snr_db": np.nan}
    for _ in range(copies):
        if rng.random() >= _STATE["p_partial"]:
            continue
        part = partial_word(clip, rng)
        if part is not None:
            window, cut = aug.train_window(part, rng)
            out.append((window, {**meta, "noise": "aug", "cut": cut}))
    return out


def _featurise(
    windows: list[tuple[np.ndarray, dict[str, Any]]],
) -> list[tuple[np.ndarray, np.ndarray, dict[str, Any]]]:
    params: FrontendParams = _STATE["params"]
    # Only the windows written back as WAV keep their audio; that keeps memory ~5x lower.
    return [(w if _as_wav(m) else w[:0], log_mel(w, params), m) for w, m in windows]


def _as_wav(meta: dict[str, Any]) -> bool:
    """Clean val and test windows (and their silence) are also written as WAV, for evaluation
    through the streaming recognizer."""
    return meta["split"] in ("val", "test") and (
        meta["noise"] == "clean" or meta["label"] == SILENCE
    )


def _task_batch(
    tasks: list[tuple[str, int, int, Row | None]],
) -> list[tuple[np.ndarray, np.ndarray, dict[str, Any]]]:
    out = []
    for task in tasks:
        out += _featurise(_windows(task))
    return out


def run_tasks(
    tasks: list[tuple[str, int, int, Row | None]],
    state: dict[str, Any],
    workers: int,
    progress: bool,
    desc: str,
) -> list[tuple[np.ndarray, np.ndarray, dict[str, Any]]]:
    from tqdm import tqdm

    chunk = 64
    batches = [tasks[i : i + chunk] for i in range(0, len(tasks), chunk)]
    results: list[tuple[np.ndarray, np.ndarray, dict[str, Any]]] = []
    bar = tqdm(total=len(tasks), desc=desc, disable=not progress, unit="clip")
    if workers <= 1:
        _init_worker(state)
        for batch in batches:
            results += _task_batch(batch)
            bar.update(len(batch))
    else:
        with ProcessPoolExecutor(workers, initializer=_init_worker, initargs=(state,)) as pool:
            for batch, res in zip(batches, pool.map(_task_batch, batches), strict=True):
                results += res
                bar.update(len(batch))
    bar.close()
    return results


def split_counts(
    y: np.ndarray, engine: np.ndarray, snr: np.ndarray, labels: list[str]
) -> dict[str, Any]:
    snr_names = [("clean" if np.isnan(v) else f"{v:g}dB") for v in snr.tolist()]
    return {
        "total": int(y.size),
        "label": {labels[k]: int(v) for k, v in sorted(Counter(y.tolist()).items())},
        "engine": dict(sorted(Counter(engine.tolist()).items())),
        "snr": dict(sorted(Counter(snr_names).items())),
    }


def write_split(
    out_dir: Path,
    split: str,
    results: list[tuple[np.ndarray, np.ndarray, dict[str, Any]]],
    labels: list[str],
    params: FrontendParams,
    window_s: float,
) -> dict[str, Any]:
    frames = params.frames_in(round(window_s * params.sample_rate_hz))
    index = {name: i for i, name in enumerate(labels)}
    x = np.zeros((len(results), frames, params.n_mels), dtype=np.float32)
    cols: dict[str, list[Any]] = {k: [] for k in ("engine", "voice", "text", "noise", "wav")}
    y = np.zeros(len(results), dtype=np.int16)
    snr = np.zeros(len(results), dtype=np.float32)
    n_cut = 0
    seen: Counter[tuple[str, str, str]] = Counter()
    shutil.rmtree(out_dir / f"{split}_wav", ignore_errors=True)  # no clip of an older recipe
    for i, (window, feats, meta) in enumerate(results):
        assert feats.shape == (frames, params.n_mels), feats.shape
        x[i] = feats
        y[i] = index[meta["label"]]
        snr[i] = meta["snr_db"]
        n_cut += bool(meta["cut"]) and meta["label"] != UNKNOWN  # sentences are cut by design
        for k in ("engine", "voice", "text", "noise"):
            cols[k].append(meta[k])
        wav = ""
        if _as_wav(meta):
            key = (meta["label"], meta["engine"], meta["voice"])
            seen[key] += 1
            label_dir = meta["label"].replace(" ", "_")
            wav = f"{split}_wav/{label_dir}/{meta['engine']}-{meta['voice']}-{seen[key]}.wav"
            (out_dir / wav).parent.mkdir(parents=True, exist_ok=True)
            sf.write(out_dir / wav, window, params.sample_rate_hz, subtype="PCM_16")
        # Only test rows name their file: val.npz stays as it was before val_wav/ existed, and
        # the training stages' cache keys hash it.
        cols["wav"].append(wav if split == "test" else "")
    if n_cut:
        logger.warning(
            "%s: %d command clips longer than the %.2f s window were cut", split, n_cut, window_s
        )
    arrays = {k: np.array(v, dtype=str) for k, v in cols.items()}
    tmp = out_dir / f".{split}.tmp.npz"
    np.savez(tmp, x=x, y=y, snr_db=snr, **arrays)
    tmp.replace(out_dir / f"{split}.npz")
    counts = split_counts(y, arrays["engine"], snr, labels)
    counts["cut"] = n_cut
    return counts
