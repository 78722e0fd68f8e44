#!/usr/bin/env python3
"""Probe (not part of the product): does a speech embedding pretrained on real human speech
carry the factory's synthetic training data to unheard voices better than the shipped student?

usage: pretrained-embedding.py OUT_JSON [TTS_CACHE]

The embedding is openWakeWord's (Google's speech_embedding: a 32-band mel frontend and a 96-d
embedding every 80 ms; TFLite files in the pyopen-wakeword package, `pip install .[bench]`). A
small head is trained on it from the full preset's training rows, each augmented 4 times by the
factory's own Augmenter on 1.5 s windows (rooms, noise, music, babble, voice conversion, speed,
gain, telephone; seed 0), plus silence windows: the data build/model trains the student on, in
1.5 s instead of 1 s windows. Both are then scored on the same clean and noisy (10, 0 dB)
windows of the validation voices and of the held-out engine (festival), and on Asterisk's human
digits (evaluation only): the head on the whole window, the shipped student (model.onnx) on its
centred 1 s. Figures: argmax top-1, and the share of commands heard (top command right, score
above the threshold) where 5 % and 10 % of the unknown-word clips pass as a command.

TTS_CACHE defaults to ~/.cache/edge-asr/tts (every clip must be there: run
`build/experiments/wide-vocabulary.py narrow` first, 1.4.0's recipe, which the probe used).
About 6 minutes on 2 cores.
"""

from __future__ import annotations

import json
import sys
import time
from multiprocessing import Pool
from pathlib import Path

import numpy as np
from _recipes import pin_1_4_0
from _usage import arguments

ARGS = arguments(__doc__, 1, 2)

import pyopen_wakeword  # noqa: E402
import torch  # noqa: E402
from tflite_runtime.interpreter import Interpreter  # noqa: E402

from edge_asr.backends import load_backend  # noqa: E402
from edge_asr.frontend import log_mel  # noqa: E402
from edge_asr.model import default_model_dir, load_spec  # noqa: E402
from edge_asr.train import dataset, humans, tts, vocab  # noqa: E402
from edge_asr.train.augment import NOISE_KINDS, Augmenter, build_rir_bank  # noqa: E402
from edge_asr.train.windows import SILENCE, UNKNOWN  # noqa: E402

RATE = 16000
CANVAS = 24000  # 1.5 s: 9 embeddings of 775 ms, 80 ms apart
EPOCHS, WORKERS = 30, 2
MODELS = Path(pyopen_wakeword.__file__).parent / "models"


class Embedder:
    """openWakeWord's two TFLite stages on a whole canvas at once."""

    def __init__(self) -> None:
        self.mel = Interpreter(str(MODELS / "melspectrogram.tflite"), num_threads=1)
        self.mel.resize_tensor_input(0, [1, CANVAS])
        self.mel.allocate_tensors()
        self.emb = Interpreter(str(MODELS / "embedding_model.tflite"), num_threads=1)
        self.batch = 0

    def __call__(self, audio: np.ndarray) -> np.ndarray:
        self.mel.set_tensor(self.mel.get_input_details()[0]["index"], audio[None])
        self.mel.invoke()
        mels = self.mel.get_tensor(self.mel.get_output_details()[0]["index"]).reshape(-1, 32)
        mels = mels / 10.0 + 2.0  # openWakeWord's scaling in front of the embedding
        starts = range(0, mels.shape[0] - 76 + 1, 8)
        stack = np.stack([mels[s : s + 76] for s in starts])[..., None].astype(np.float32)
        if self.batch != stack.shape[0]:
            self.emb.resize_tensor_input(0, list(stack.shape))
            self.emb.allocate_tensors()
            self.batch = stack.shape[0]
        self.emb.set_tensor(self.emb.get_input_details()[0]["index"], stack)
        self.emb.invoke()
        return self.emb.get_tensor(self.emb.get_output_details()[0]["index"]).reshape(-1)


def on_canvas(audio: np.ndarray, rng: np.random.Generator | None) -> np.ndarray:
    """The clip centred on a 1.5 s canvas (shifted up to +-150 ms when rng is given); a longer
    clip (a sentence) gives a random 1.5 s crop."""
    audio = audio.astype(np.float32)
    if audio.shape[0] >= CANVAS:
        start = int(rng.integers(0, audio.shape[0] - CANVAS + 1)) if rng else 0
        return audio[start : start + CANVAS]
    out = np.zeros(CANVAS, dtype=np.float32)
    start = (CANVAS - audio.shape[0]) // 2
    if rng is not None:
        start = int(np.clip(start + rng.integers(-2400, 2401), 0, CANVAS - audio.shape[0]))
    out[start : start + audio.shape[0]] = audio
    return out


def read_wav(path: Path) -> np.ndarray:
    """int16 samples at 16 kHz, like the TTS cache's clips (resampled with soxr as the figures
    in probe-pretrained-embedding.json were; edge_asr.audio.read_wav resamples otherwise)."""
    audio, rate = tts.parse_wav_bytes(path.read_bytes())
    audio = tts.resample(audio, rate) if rate != RATE else audio
    return np.clip(np.round(audio * 32768.0), -32768, 32767).astype(np.int16)


def augmenters(commands: list[str], cache: tts.TtsCache) -> tuple[dict, list, dict]:
    """The full preset's rows by split and its augmenters, on 1.5 s windows: the same rooms,
    noise, music, babble and voice conversion as build/model, drawn by the same rules (1.4.0's
    preset, the one the probe was measured on)."""
    pin_1_4_0()
    preset = dataset.SIZES["full"]
    unknowns = vocab.unknown_words(commands, preset.n_unknown, 0)
    plan = dataset.plan_voices(preset, "festival", 0)
    rows = dataset.plan_rows(commands, unknowns, preset, plan, "festival", 0)
    banks = dataset._noise_banks(plan, commands, preset, cache, 0, progress=False)
    rirs = build_rir_bank(preset.n_rirs, 0, cache.root.parent / "rirs")
    cfg = dataset.augment_config(preset, CANVAS / RATE)
    augs = {s: Augmenter(cfg, banks[s], rirs) for s in dataset.SPLITS}
    by_split = {s: [r for r in rows if r.split == s] for s in dataset.SPLITS}
    return by_split, augs, {"copies": preset.train_copies, "silence_ratio": preset.silence_ratio}


def _train_items(task: tuple[int, object]) -> list[tuple[np.ndarray, str]]:
    """(embedding, label) for each augmented copy of one row (None: a silence window)."""
    index, row = task
    rng = np.random.default_rng([0, 0, index])
    aug = _W["augs"]["train"]
    if row is None:
        window, _ = aug.silence_window(rng)
        return [(_W["embed"](window.astype(np.float32)), SILENCE)]
    clip = _W["cache"].get(row.text, row.voice)
    windows = [aug.train_window(clip, rng)[0] for _ in range(_W["copies"])]
    return [(_W["embed"](w.astype(np.float32)), row.label) for w in windows]


def _eval_items(task: tuple[int, str, object, float | None]) -> tuple[np.ndarray, np.ndarray]:
    index, split, row, snr = task
    aug = _W["augs"][split]
    clip = _W["cache"].get(row.text, row.voice)
    if snr is None:
        return _pair(aug.clean_window(clip)[0])
    rng = np.random.default_rng([0, 1, index])
    kind = NOISE_KINDS[int(rng.integers(len(NOISE_KINDS)))]
    return _pair(aug.noisy_window(clip, snr, kind, rng)[0])


def _pair(window: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The canvas's embedding, and the student's log-mel of its centred 1 s."""
    spec = _W["spec"]
    n = round(spec.window_s * RATE)
    s = (window.shape[0] - n) // 2
    feats = log_mel(window[s : s + n], spec.frontend)[: spec.input_frames]
    return _W["embed"](window.astype(np.float32)), feats


_W: dict = {}


def _init(cache_root: str) -> None:
    cache = tts.TtsCache(Path(cache_root), engines={})
    _, augs, preset = augmenters(list(vocab.DEFAULT_COMMANDS), cache)
    _W.update(
        cache=cache,
        augs=augs,
        copies=preset["copies"],
        embed=Embedder(),
        spec=load_spec(default_model_dir()),
    )


def train_head(x: np.ndarray, y: np.ndarray, n_out: int, seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    head = torch.nn.Sequential(
        torch.nn.Linear(x.shape[1], 256),
        torch.nn.ReLU(),
        torch.nn.Dropout(0.3),
        torch.nn.Linear(256, n_out),
    )
    opt = torch.optim.AdamW(head.parameters(), lr=1e-3, weight_decay=1e-2)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    for _ in range(EPOCHS):
        order = torch.randperm(len(xt))
        for i in range(0, len(xt), 128):
            b = order[i : i + 128]
            loss = torch.nn.functional.cross_entropy(head(xt[b]), yt[b], label_smoothing=0.1)
            opt.zero_grad()
            loss.backward()
            opt.step()
    return head.eval()


def score(probs: np.ndarray, labels: list[str], truth: np.ndarray) -> dict:
    """Argmax figures, and commands heard (first-ranked command right, its score over the
    threshold) at the thresholds where 5 % and 10 % of unknown words pass as a command."""
    commands = [c for c in labels if c not in (SILENCE, UNKNOWN)]
    cols = [labels.index(c) for c in commands]
    pred = np.array(labels)[probs.argmax(1)]
    best, which = probs[:, cols].max(1), np.array(commands)[probs[:, cols].argmax(1)]
    cmd, unk = np.isin(truth, commands), truth == UNKNOWN
    out = {
        "command_clips": int(cmd.sum()),
        "argmax_top1": round(float((pred[cmd] == truth[cmd]).mean()), 4),
        "unknown_clips": int(unk.sum()),
        "unknown_argmax_a_command": round(float(np.isin(pred[unk], commands).mean()), 4),
    }
    if unk.sum() >= 100:
        for rate in (0.05, 0.10):
            t = float(np.quantile(best[unk], 1 - rate))
            out[f"heard_at_{round(rate * 100)}pct_unknown_accepted"] = round(
                float(((which[cmd] == truth[cmd]) & (best[cmd] > t)).mean()), 4
            )
    return out


def main() -> int:
    out_json = Path(ARGS[0])
    cache_root = Path(ARGS[1]) if len(ARGS) > 1 else Path.home() / ".cache/edge-asr/tts"
    commands = list(vocab.DEFAULT_COMMANDS)
    spec = load_spec(default_model_dir())
    labels = list(spec.labels)
    started = time.monotonic()
    by_split, _, preset = augmenters(commands, tts.TtsCache(cache_root))
    train_rows = by_split["train"]
    per_cmd = sum(r.label != UNKNOWN for r in train_rows) / len(commands) * preset["copies"]
    tasks = list(enumerate(train_rows)) + [
        (len(train_rows) + i, None) for i in range(round(preset["silence_ratio"] * per_cmd))
    ]
    with Pool(WORKERS, _init, (str(cache_root),)) as pool:
        items = [it for chunk in pool.imap(_train_items, tasks, chunksize=16) for it in chunk]
        print(
            f"{len(items)} augmented training windows in {time.monotonic() - started:.0f} s",
            file=sys.stderr,
        )
        x = np.stack([e for e, _ in items])
        y = np.array([labels.index(label) for _, label in items])
        del items
        head = train_head(x, y, len(labels))
        print(f"head trained at {time.monotonic() - started:.0f} s", file=sys.stderr)
        student = load_backend(spec, "onnx")
        report: dict = {
            "command": "build/experiments/pretrained-embedding.py " + " ".join(ARGS),
            "embedding": "openWakeWord melspectrogram.tflite + embedding_model.tflite "
            "(pyopen-wakeword 1.1.0), 9 x 96-d over a 1.5 s window",
            "head": f"Linear(864, 256) ReLU Dropout(0.3) Linear(256, 22), AdamW 1e-3, {EPOCHS} "
            "epochs, label smoothing 0.1",
            "training_windows": len(x),
            "training_data": "the full preset's training rows, each as 4 copies augmented by "
            "build/model's Augmenter (rooms, noise, music, babble, voice conversion, speed, "
            "gain, telephone) on 1.5 s windows, plus silence windows; seed 0",
            "student": f"{spec.name} {spec.version} model.onnx on the centred 1 s of the same "
            "windows (the shipped network, trained on build/model's 1 s windows of these rows)",
            "sets": {},
        }
        for split, name in (("val", "validation voices"), ("test", "held-out engine (festival)")):
            rows = by_split[split]
            truth = np.array([r.label for r in rows])
            for snr in (None, 10.0, 0.0):
                pairs = pool.map(_eval_items, [(i, split, r, snr) for i, r in enumerate(rows)])
                report["sets"][f"{name}, {'clean' if snr is None else f'{snr:g} dB'}"] = {
                    "embedding_head": score(
                        _head_probs(head, [e for e, _ in pairs]), labels, truth
                    ),
                    "student": score(
                        np.stack([student.infer(f[None]).copy() for _, f in pairs]), labels, truth
                    ),
                }
                print(split, snr, json.dumps(list(report["sets"].values())[-1]), file=sys.stderr)
    human = humans.human_clips(commands)
    _W.update(embed=Embedder(), spec=spec)  # _pair here needs no augmenters
    pairs = [_pair(on_canvas(read_wav(p), None).astype(np.int16)) for p, _ in human]
    truth = np.array([label for _, label in human])
    report["sets"]["human digits (Asterisk, evaluation only)"] = {
        "embedding_head": score(_head_probs(head, [e for e, _ in pairs]), labels, truth),
        "student": score(
            np.stack([student.infer(f[None]).copy() for _, f in pairs]), labels, truth
        ),
    }
    report["seconds"] = round(time.monotonic() - started)
    out_json.write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps(report, indent=1))
    return 0


def _head_probs(head: torch.nn.Module, embeddings: list[np.ndarray]) -> np.ndarray:
    with torch.no_grad():
        return torch.softmax(head(torch.from_numpy(np.stack(embeddings))), 1).numpy()


if __name__ == "__main__":
    raise SystemExit(main())
