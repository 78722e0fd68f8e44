"""Builds train/val/test feature sets from synthetic speech, with splits that test generalisation.

Split design: the holdout engine (festival by default, all its voices) is heard only in `test`;
two espeak-ng accents and one flite voice are heard only in `val`; everything else trains.
Music tracks and babble talkers are split the same way, so no noise recording is shared.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from edge_asr.frontend import FrontendParams
from edge_asr.train import vocab
from edge_asr.train.augment import (
    VOICE_CONVERSION_FIELDS,
    AugmentConfig,
    Augmenter,
    NoiseBank,
    build_rir_bank,
    load_music,
    make_babble,
)
from edge_asr.train.cachekey import stable_dict
from edge_asr.train.enroll import ENGINE as ENROLL_ENGINE
from edge_asr.train.enroll import ENROLL_COPIES, enrollment_rows
from edge_asr.train.enroll import summary as enroll_summary
from edge_asr.train.stream import make_negative_stream
from edge_asr.train.tts import (
    DEFAULT_CACHE_DIR,
    PIPER_CACHE_VERSION,
    TtsCache,
    VoiceSpec,
    available_engines,
)
from edge_asr.train.windows import (
    EVAL_SNRS_DB,
    SILENCE,
    UNKNOWN,
    Row,
    run_tasks,
    split_counts,
    write_split,
)

logger = logging.getLogger(__name__)

__all__ = ["SIZES", "DatasetInfo", "SizePreset", "build_dataset", "make_negative_stream"]

SPLITS = ("train", "val", "test")
VAL_ESPEAK_VOICES = ("en-gb-x-gbcwmd", "en-029")
VAL_FLITE_VOICE = "rms"
RECIPE_VERSION = 3  # 2: running-speech negatives in train (small preset); 3: Praat seeded


@dataclass(frozen=True)
class SizePreset:
    """How much data: styles (speaker variations) per voice, per engine and label kind."""

    espeak_styles: int
    espeak_unknown_styles: int
    flite_styles: int
    flite_unknown_styles: int
    piper_styles: int
    piper_unknown_styles: int
    holdout_styles: int
    holdout_unknown_styles: int
    val_styles: int
    val_unknown_styles: int
    n_unknown: int
    train_copies: int
    silence_ratio: float  # silence windows per split = ratio x mean windows of one command
    n_rirs: int
    babble_sentences: int
    # Running-speech negatives: sentences (no command words) per training voice, each heard as
    # random 1 s crops labelled _unknown_. Isolated unknown words alone do not teach the model
    # what the middle of a conversation sounds like, which is where false accepts come from.
    train_sentences: int = 0
    max_voices: int = 0  # 0: every voice of every engine
    # Voice shift: resample then time-stretch back, so pitch AND formants move by up to
    # +-pitch_range (a different vocal tract), on p_pitch of the training copies.
    p_pitch: float = 0.3
    pitch_range: float = 0.10
    # Near-miss words of the commands ("free" for "three") heard in at least this many styles
    # per training voice, like the commands themselves are, instead of *_unknown_styles.
    near_miss_styles: int = 0
    # Voice conversion (augment.convert_voice) on this share of the training copies.
    p_voice: float = 0.0
    # Validation and test speak only the first eval_unknown of the n_unknown words (0: all), so a
    # wide training vocabulary does not flood them: with 450 words there, 58 % of validation
    # windows were unknown words and picking epochs by window top-1 favoured rejecting.
    eval_unknown: int = 0
    # Partial words: each training copy of a command is joined, with this probability, by a
    # window of only its first or last 30-60 % labelled _unknown_ (augment.partial_word).
    p_partial: float = 0.0


# Fields added after recipe version 2: in the recipe hash only when set away from the default.
_LATER_FIELDS = (
    "p_pitch",
    "pitch_range",
    "near_miss_styles",
    "p_voice",
    "eval_unknown",
    "p_partial",
)
_LATER_AUGMENT_FIELDS = VOICE_CONVERSION_FIELDS


# fmt: off
SIZES: dict[str, SizePreset] = {
    "tiny": SizePreset(
        espeak_styles=1, espeak_unknown_styles=1, flite_styles=1, flite_unknown_styles=0,
        piper_styles=1, piper_unknown_styles=0, holdout_styles=1, holdout_unknown_styles=1,
        val_styles=1, val_unknown_styles=1, n_unknown=4, train_copies=2, silence_ratio=1.0,
        n_rirs=8, babble_sentences=4, train_sentences=2, max_voices=1),
    "small": SizePreset(
        espeak_styles=24, espeak_unknown_styles=1, flite_styles=8, flite_unknown_styles=1,
        piper_styles=30, piper_unknown_styles=1, holdout_styles=2, holdout_unknown_styles=1,
        val_styles=8, val_unknown_styles=1, n_unknown=60, train_copies=4, silence_ratio=1.5,
        n_rirs=50, babble_sentences=40, train_sentences=40),
    "full": SizePreset(
        espeak_styles=40, espeak_unknown_styles=1, flite_styles=12, flite_unknown_styles=1,
        piper_styles=60, piper_unknown_styles=1, holdout_styles=4, holdout_unknown_styles=1,
        val_styles=15, val_unknown_styles=1, n_unknown=450, train_copies=4, silence_ratio=2.0,
        # train_sentences: measured with 150 per voice, not adopted (false accepts fell only
        # below the calibrated threshold; build/results/ablation-sentence-negatives.json).
        # p_voice: adopted in 1.2.0 (build/results/ablation-voice-conversion.json).
        # n_unknown 450 spoken once per training voice, instead of 150 by three styles of each
        # espeak and Piper voice: 1.5.0 (build/results/ablation-wide-vocabulary.json).
        # p_partial: measured, not adopted, here and in small (ablation-partial-words.json).
        n_rirs=200, babble_sentences=150, train_sentences=0, p_voice=0.5, eval_unknown=150),
}
# fmt: on


@dataclass
class DatasetInfo:
    """What build_dataset wrote: where, labels, counts per split and how long it took."""

    out_dir: Path
    labels: list[str]
    counts: dict[str, Any]
    recipe_hash: str
    seconds: float
    stage_seconds: dict[str, float] = field(default_factory=dict)


def _styles(engine: str, voice: str, n: int, seed: int, variants: Sequence[str]) -> list[VoiceSpec]:
    """n speaker styles of one voice; the first is the engine's unmodified voice."""
    if n <= 0:
        return []
    digest = int(hashlib.sha1(f"{seed}|{engine}|{voice}".encode()).hexdigest()[:8], 16)
    rng = np.random.default_rng(digest)
    out = [VoiceSpec(engine, voice)]
    while len(out) < n:
        rate = round(float(rng.uniform(0.8, 1.25)), 2)
        if engine == "espeak":
            variant = str(rng.choice(list(variants))) if variants else ""
            pitch = round(float(rng.uniform(0.6, 1.5)), 2)
            spec = VoiceSpec(engine, voice, variant, rate, pitch)
        elif engine == "piper":
            spec = VoiceSpec(engine, voice, rate=rate, noise=round(float(rng.uniform(0.3, 1.0)), 2))
        else:
            spec = VoiceSpec(engine, voice, rate=round(float(rng.uniform(0.85, 1.2)), 2))
        if spec not in out:
            out.append(spec)
    return out


def augment_config(preset: SizePreset, window_s: float) -> AugmentConfig:
    return AugmentConfig(
        window_s=window_s,
        p_pitch=preset.p_pitch,
        pitch_range=preset.pitch_range,
        p_voice=preset.p_voice,
    )


def plan_voices(preset: SizePreset, holdout_engine: str, seed: int) -> dict[str, list[str]]:
    """Which voices of which engine go to which split, as 'engine:voice' strings."""
    engines = available_engines()
    plan: dict[str, list[str]] = {s: [] for s in SPLITS}
    for name, engine in engines.items():
        voices = engine.voices()
        if preset.max_voices:
            wanted = [v for v in voices if v in (*VAL_ESPEAK_VOICES, VAL_FLITE_VOICE)]
            voices = (
                wanted[: preset.max_voices]
                + [v for v in voices if v not in wanted][: preset.max_voices]
            )
        for v in voices:
            if name == holdout_engine:
                split = "test"
            elif (name == "espeak" and v in VAL_ESPEAK_VOICES) or (
                name == "flite" and v == VAL_FLITE_VOICE
            ):
                split = "val"
            else:
                split = "train"
            plan[split].append(f"{name}:{v}")
    if not plan["test"]:
        raise RuntimeError(f"holdout engine {holdout_engine!r} is not available")
    return plan


def plan_rows(
    commands: Sequence[str],
    unknowns: Sequence[str],
    preset: SizePreset,
    voice_plan: dict[str, list[str]],
    holdout_engine: str,
    seed: int,
) -> list[Row]:
    """Every (split, label, text, voice style) clip to synthesise."""
    espeak = available_engines().get("espeak")
    variants = espeak.variants() if espeak is not None and hasattr(espeak, "variants") else []
    variants = [v for v in variants if v not in ("fast",)]
    near = set(vocab.near_miss_words(commands)) if preset.near_miss_styles else set()
    rows: list[Row] = []
    n_sentences = preset.train_sentences * len(voice_plan.get("train", []))
    # A seed of its own: the negative streams draw their sentences from seed + 1. Skipped when
    # none are wanted: building the vocabulary asks espeak-ng for phonemes (~0.4 s).
    sentences = iter(vocab.sentences(commands, n_sentences, seed + 23) if n_sentences else [])
    for split, voices in voice_plan.items():
        for ev in voices:
            engine, voice = ev.split(":", 1)
            if split == "test":
                n_cmd, n_unk = preset.holdout_styles, preset.holdout_unknown_styles
            elif split == "val":
                n_cmd, n_unk = preset.val_styles, preset.val_unknown_styles
            else:
                n_cmd, n_unk = {
                    "espeak": (preset.espeak_styles, preset.espeak_unknown_styles),
                    "flite": (preset.flite_styles, preset.flite_unknown_styles),
                    "piper": (preset.piper_styles, preset.piper_unknown_styles),
                }.get(engine, (preset.flite_styles, preset.flite_unknown_styles))
            n_near = max(n_unk, preset.near_miss_styles) if split == "train" else n_unk
            words = unknowns if split == "train" else unknowns[: preset.eval_unknown or None]
            styles = _styles(engine, voice, max(n_cmd, n_near), seed, variants)
            for style in styles[:n_cmd]:
                rows += [Row(split, c, c, style) for c in commands]
            for i, word in enumerate(words):
                # Spread unknown words over styles so each word meets several speakers.
                for k in range(n_near if word in near else n_unk):
                    style = styles[(i + k * 7) % len(styles)]
                    rows.append(Row(split, UNKNOWN, word, style))
            if split == "train":
                for i in range(preset.train_sentences):
                    rows.append(Row(split, UNKNOWN, next(sentences), styles[i % len(styles)]))
    return list(dict.fromkeys(rows))


def _noise_banks(
    voice_plan: dict[str, list[str]],
    commands: Sequence[str],
    preset: SizePreset,
    cache: TtsCache,
    seed: int,
    progress: bool,
) -> dict[str, NoiseBank]:
    """Babble from the split's own TTS voices (test reuses val's), music tracks split by file."""
    banks: dict[str, NoiseBank] = {}
    texts = vocab.sentences(commands, preset.babble_sentences, seed + 17)
    for split_id, split in enumerate(SPLITS):
        source_split = "val" if split == "test" else split
        voices = [ev for ev in voice_plan[source_split] if not ev.startswith("festival:")]
        specs = [VoiceSpec(*ev.split(":", 1)) for ev in voices]
        items = [(t, specs[i % len(specs)]) for i, t in enumerate(texts)] if specs else []
        cache.fill(items, progress=progress, desc=f"tts babble {split}")
        clips = [cache.get(t, v) for t, v in items]
        rng = np.random.default_rng([seed, split_id, 99])
        babble = make_babble(clips, 4, 12.0, rng) if clips else []
        banks[split] = NoiseBank(babble=babble, music=load_music(split_id))
    return banks


def recipe_for(
    commands: Sequence[str],
    unknowns: Sequence[str],
    preset: SizePreset,
    seed: int,
    window_s: float,
    holdout_engine: str,
    params: FrontendParams,
    voice_plan: dict[str, list[str]],
) -> dict[str, Any]:
    return {
        "version": RECIPE_VERSION,
        "commands": list(commands),
        "unknown_words": list(unknowns),
        "preset": stable_dict(preset, _LATER_FIELDS),
        "seed": seed,
        "window_s": window_s,
        "holdout_engine": holdout_engine,
        "frontend": params.to_dict(),
        "voices": voice_plan,
        "augment": stable_dict(augment_config(preset, window_s), _LATER_AUGMENT_FIELDS),
        "eval_snrs_db": EVAL_SNRS_DB,
        "piper_clips": PIPER_CACHE_VERSION,  # the clips changed, so must the split files
    }


def build_dataset(
    commands: list[str],
    out_dir: Path,
    *,
    seed: int = 0,
    size: str = "full",
    per_voice_variants: int | None = None,
    window_s: float = 1.0,
    unknown_words: list[str] | None = None,
    holdout_engine: str = "festival",
    train_copies: int | None = None,
    workers: int = 1,
    progress: bool = True,
    cache_dir: Path | None = None,
    params: FrontendParams | None = None,
    enroll: Path | None = None,
) -> DatasetInfo:
    """Synthesise, augment and featurise; write <split>.npz, labels.json, dataset.json, and the
    clean val and test windows as WAV (val_wav/, test_wav/). `enroll` is a folder of the user's
    own recordings (`<command>/*.wav`), added to the training split (train/enroll.py).

    Resumable: TTS clips are cached, and a split whose recipe hash is unchanged is not rebuilt.
    """
    started = time.monotonic()
    params = params or FrontendParams()
    preset = SIZES[size]
    if per_voice_variants is not None:
        preset = replace(preset, espeak_styles=per_voice_variants)
    if train_copies is not None:
        preset = replace(preset, train_copies=train_copies)
    commands = [vocab.normalise(c) for c in commands]
    labels = [SILENCE, UNKNOWN, *commands]
    unknowns = unknown_words or vocab.unknown_words(commands, preset.n_unknown, seed)
    cache_root = Path(cache_dir or DEFAULT_CACHE_DIR)
    cache = TtsCache(cache_root / "tts")
    voice_plan = plan_voices(preset, holdout_engine, seed)
    recipe = recipe_for(
        commands, unknowns, preset, seed, window_s, holdout_engine, params, voice_plan
    )
    user_rows = enrollment_rows(enroll, commands, cache) if enroll is not None else []
    if user_rows:  # only then in the recipe, so datasets without recordings keep their hash
        recipe["enroll"] = {
            "copies": ENROLL_COPIES,
            "recordings": sorted(f"{r.label}|{r.voice.voice}" for r in user_rows),
        }
    digest = hashlib.sha1(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:16]
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "labels.json").write_text(json.dumps({"labels": labels}, indent=2) + "\n")
    rows = plan_rows(commands, unknowns, preset, voice_plan, holdout_engine, seed) + user_rows
    stage_s: dict[str, float] = {}
    aug_cfg = augment_config(preset, window_s)
    state: dict[str, Any] = {
        "seed": seed,
        "params": params,
        "cache_dir": cache.root,
        "train_copies": preset.train_copies,
        "enroll_copies": ENROLL_COPIES,
        "p_partial": preset.p_partial,
    }
    counts: dict[str, Any] = {}
    for split_id, split in enumerate(SPLITS):
        npz, stamp = out_dir / f"{split}.npz", out_dir / f".{split}.recipe"
        wavs = split == "train" or (out_dir / f"{split}_wav").is_dir()
        if npz.exists() and stamp.exists() and stamp.read_text().strip() == digest and wavs:
            logger.info("%s: up to date (recipe %s), kept", split, digest)
            with np.load(npz) as data:
                counts[split] = split_counts(data["y"], data["engine"], data["snr_db"], labels)
            continue
        t0 = time.monotonic()
        split_rows = [r for r in rows if r.split == split]
        cache.fill([(r.text, r.voice) for r in split_rows], progress=progress, desc=f"tts {split}")
        stage_s[f"tts_{split}"] = time.monotonic() - t0
        t0 = time.monotonic()
        if "augmenters" not in state:
            banks = _noise_banks(voice_plan, commands, preset, cache, seed, progress)
            rirs = build_rir_bank(preset.n_rirs, seed, cache_root / "rirs")
            state["augmenters"] = {s: Augmenter(aug_cfg, banks[s], rirs) for s in SPLITS}
            stage_s["noise_banks"] = time.monotonic() - t0
            t0 = time.monotonic()
        synthetic = [r for r in split_rows if r.voice.engine != ENROLL_ENGINE]
        per_cmd = sum(1 for r in synthetic if r.label != UNKNOWN) / max(1, len(commands))
        per_cmd *= preset.train_copies if split == "train" else 1 + len(EVAL_SNRS_DB)
        n_sil = max(1, round(preset.silence_ratio * per_cmd))
        tasks: list[tuple[str, int, int, Row | None]] = [
            (split, split_id, i, r) for i, r in enumerate(synthetic)
        ]
        tasks += [(split, split_id, len(synthetic) + i, None) for i in range(n_sil)]
        # The user's recordings last, so every other window is drawn as without them.
        first = len(tasks)
        users = [r for r in split_rows if r.voice.engine == ENROLL_ENGINE]
        tasks += [(split, split_id, first + i, r) for i, r in enumerate(users)]
        results = run_tasks(tasks, state, workers, progress, f"augment {split}")
        stage_s[f"augment_{split}"] = time.monotonic() - t0
        counts[split] = write_split(out_dir, split, results, labels, params, window_s)
        stamp.write_text(digest + "\n")
    info = DatasetInfo(out_dir, labels, counts, digest, time.monotonic() - started, stage_s)
    meta = {
        "labels": labels,
        "counts": counts,
        "recipe_hash": digest,
        "recipe": recipe,
        "seconds": round(info.seconds, 1),
        "stage_seconds": stage_s,
        "n_tts_clips": len(rows) - len(user_rows),
        "enrolled": enroll_summary(user_rows),
        "input_frames": params.frames_in(round(window_s * 16000)),
    }
    (out_dir / "dataset.json").write_text(json.dumps(meta, indent=2, default=str) + "\n")
    return info


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--commands",
        default=",".join(vocab.DEFAULT_COMMANDS),
        help="comma-separated commands (phrases allowed)",
    )
    parser.add_argument("--out", type=Path, help="output directory of the dataset")
    parser.add_argument("--size", choices=sorted(SIZES), default="full")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--window-s", type=float, default=1.0)
    parser.add_argument("--holdout-engine", default="festival")
    parser.add_argument("--train-copies", type=int)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--cache-dir", type=Path, help="default ~/.cache/edge-asr")
    parser.add_argument(
        "--negative-stream",
        type=Path,
        nargs="?",
        const=Path("-"),
        help="write a command-free WAV for false-accept tests instead",
    )
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    commands = [c.strip() for c in args.commands.split(",") if c.strip()]
    if args.negative_stream is not None:
        out = None if str(args.negative_stream) == "-" else args.negative_stream
        t0 = time.monotonic()
        path = make_negative_stream(
            out,
            args.minutes,
            args.seed,
            commands=commands,
            cache_dir=args.cache_dir,
            progress=not args.no_progress,
        )
        print(f"negative stream: {path} ({args.minutes} min) in {time.monotonic() - t0:.0f} s")
        return 0
    if args.out is None:
        parser.error("--out is required")
    info = build_dataset(
        commands,
        args.out,
        seed=args.seed,
        size=args.size,
        window_s=args.window_s,
        holdout_engine=args.holdout_engine,
        train_copies=args.train_copies,
        workers=args.workers,
        progress=not args.no_progress,
        cache_dir=args.cache_dir,
    )
    for split, c in info.counts.items():
        print(
            f"{split}: {c['total']} windows; labels {c['label']}; engines {c['engine']}; "
            f"snr {c['snr']}"
        )
    print(f"labels: {info.labels}")
    print(
        f"wrote {info.out_dir} in {info.seconds:.0f} s (recipe {info.recipe_hash}); "
        f"stages {json.dumps({k: round(v, 1) for k, v in info.stage_seconds.items()})}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
