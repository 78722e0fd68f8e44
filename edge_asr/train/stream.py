"""A long command-free recording (speech, music, noise, silence) for false-accepts-per-hour."""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from edge_asr.train import vocab
from edge_asr.train.augment import NoiseBank, coloured_noise, load_music, to_int16
from edge_asr.train.tts import DEFAULT_CACHE_DIR, SAMPLE_RATE_HZ, TtsCache, VoiceSpec

logger = logging.getLogger(__name__)

SEGMENT_KINDS = ("speech", "music", "noise", "silence")
SEGMENT_WEIGHTS = (0.6, 0.13, 0.12, 0.15)
# Part of every stream's key: bump it when the writer below changes what a plan sounds like.
WRITER_VERSION = 1


def _stream_voices(
    cache: TtsCache, rng: np.random.Generator, only: Collection[str] | None = None
) -> list[VoiceSpec]:
    """Voices of every engine (or those named "engine:voice" in `only`), a few speaking rates
    each (festival kept to few batches)."""
    specs: list[VoiceSpec] = []
    for name, engine in cache.engines.items():
        for voice in engine.voices():
            if only is not None and f"{name}:{voice}" not in only:
                continue
            rates = (0.9, 1.0, 1.1)
            if name == "espeak":
                variants = ["", "m3", "f2", "f4", "klatt", "m7"]
                specs += [
                    VoiceSpec(
                        name,
                        voice,
                        str(v),
                        float(rng.choice(rates)),
                        round(float(rng.uniform(0.7, 1.4)), 2),
                    )
                    for v in variants
                ]
            else:
                specs += [VoiceSpec(name, voice, rate=r) for r in rates]
    return specs


def make_negative_stream(
    out_path: Path | None = None,
    minutes: float = 60.0,
    seed: int = 0,
    *,
    commands: Sequence[str] = vocab.DEFAULT_COMMANDS,
    cache_dir: Path | None = None,
    progress: bool = True,
    voices: Collection[str] | None = None,
    music_split: int = 2,
    natural: bool = False,
) -> Path:
    """Write a 16 kHz mono 16-bit WAV with no command words, plus a JSON list of its segments.

    Sentences come from every engine and voice (the evaluation wants many speakers); music is
    the held-out test track; levels vary from near-silence to loud. A stream for training
    (hard-negative mining) names the training split's voices and takes the training music
    (`voices`, `music_split=0`). `natural` speaks words as often as English does instead of
    the near-miss-heavy mix (vocab.sentences).
    """
    root = Path(cache_dir or DEFAULT_CACHE_DIR)
    out = Path(out_path or root / f"negative-stream-{minutes:g}min-seed{seed}.wav")
    cache = TtsCache(root / "tts")
    rng = np.random.default_rng([seed, 4242])
    total = int(minutes * 60 * SAMPLE_RATE_HZ)
    speakers = _stream_voices(cache, rng, voices)
    if not speakers:
        raise ValueError(f"no TTS voice available among {sorted(voices or [])}")
    # Plan first, so all TTS (festival in batches) happens in one pass.
    plan: list[dict[str, Any]] = []
    planned = 0
    n_sentences = 0
    while planned < total:
        kind = SEGMENT_KINDS[int(rng.choice(len(SEGMENT_KINDS), p=SEGMENT_WEIGHTS))]
        if kind == "speech":
            voice = speakers[int(rng.integers(len(speakers)))]
            plan.append({"kind": kind, "voice": voice})
            planned += int(1.5 * SAMPLE_RATE_HZ)  # an underestimate; the writer stops at `total`
            n_sentences += 1
        else:
            seconds = float(rng.uniform(2.0, 20.0))
            plan.append({"kind": kind, "seconds": seconds})
            planned += int(seconds * SAMPLE_RATE_HZ)
    texts = iter(vocab.sentences(commands, n_sentences + 1, seed + 1, natural=natural))
    for seg in plan:
        if seg["kind"] == "speech":
            seg["text"] = next(texts)
    _remove_stale_parts(out)
    key = _stream_key(plan, total, seed, music_split)
    if _is_current(out, key):
        logger.info("negative stream %s: up to date, kept", out)
        return out
    cache.fill(
        [(s["text"], s["voice"]) for s in plan if s["kind"] == "speech"],
        progress=progress,
        desc="tts negative stream",
    )
    music = NoiseBank(music=load_music(music_split))  # 2: the test track, never trained on
    out.parent.mkdir(parents=True, exist_ok=True)
    segments: list[dict[str, Any]] = []
    written = 0
    # Written aside and renamed: a run reading this stream (another seed's evaluation, on the
    # same cache) keeps its complete file while this one is rewritten.
    part = out.with_name(f".{out.name}.{os.getpid()}.part")
    with sf.SoundFile(part, "w", SAMPLE_RATE_HZ, 1, subtype="PCM_16", format="WAV") as wav:
        for seg in plan:
            if written >= total:
                break
            if seg["kind"] == "speech":
                clip = cache.get(seg["text"], seg["voice"]).astype(np.float32)
                gain = 10 ** (rng.uniform(-20.0, 0.0) / 20)
                gap = np.zeros(int(rng.uniform(0.2, 2.0) * SAMPLE_RATE_HZ), np.float32)
                audio = np.concatenate([clip * np.float32(gain), gap])
                if rng.random() < 0.3:  # a little room tone under some sentences
                    audio += coloured_noise("pink", audio.size, rng) * np.float32(
                        32768 * 10 ** (rng.uniform(-70, -45) / 20)
                    )
                desc = {"text": seg["text"], "voice": f"{seg['voice'].engine}:{seg['voice'].name}"}
            else:
                n = int(seg["seconds"] * SAMPLE_RATE_HZ)
                if seg["kind"] == "silence":
                    level = float(rng.uniform(-90, -55))
                    audio = coloured_noise("pink", n, rng)
                elif seg["kind"] == "music":
                    level = float(rng.uniform(-45, -10))
                    audio = music.segment("music", n, rng)
                else:
                    level = float(rng.uniform(-55, -15))
                    audio = coloured_noise(str(rng.choice(["white", "pink", "brown"])), n, rng)
                audio = audio * np.float32(32768 * 10 ** (level / 20))
                desc = {"level_dbfs": round(level, 1)}
            audio = audio[: total - written]
            wav.write(to_int16(audio))
            segments.append(
                {
                    "kind": seg["kind"],
                    "start_s": round(written / SAMPLE_RATE_HZ, 3),
                    "end_s": round((written + audio.size) / SAMPLE_RATE_HZ, 3),
                    **desc,
                }
            )
            written += audio.size
    meta = {
        "seconds": written / SAMPLE_RATE_HZ,
        "seed": seed,
        "commands": list(commands),
        "key": key,
        "segments": segments,
    }
    part.with_suffix(".json").write_text(json.dumps(meta, indent=1) + "\n")
    # The old JSON goes first and the new one last: a key in the JSON vouches for the WAV.
    out.with_suffix(".json").unlink(missing_ok=True)
    part.replace(out)
    part.with_suffix(".json").replace(out.with_suffix(".json"))
    speech_s = sum(s["end_s"] - s["start_s"] for s in segments if s["kind"] == "speech")
    logger.info(
        "negative stream %s: %.1f min, %.1f min of speech", out, written / 960000, speech_s / 60
    )
    return out


def _stream_key(plan: list[dict[str, Any]], total: int, seed: int, music_split: int) -> str:
    """What decides the stream's samples: the plan (texts, voices, segment lengths), its
    length, the seed the writer draws levels from, the music track and the writer's version."""
    spec = [{k: repr(v) if k == "voice" else v for k, v in seg.items()} for seg in plan]
    blob = json.dumps([WRITER_VERSION, total, seed, music_split, spec], sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _is_current(out: Path, key: str) -> bool:
    """True when `out` was written whole from the same key: the WAV is renamed into place
    before its JSON, so a JSON with the key means the WAV beside it was written with it."""
    try:
        return out.is_file() and json.loads(out.with_suffix(".json").read_text())["key"] == key
    except (OSError, ValueError, KeyError):
        return False


def _remove_stale_parts(out: Path) -> None:
    """Delete `.NAME.PID.part` files (and their JSON) left by writers that were killed."""
    for part in out.parent.glob(f".{out.name}.*"):
        pid = part.name[len(out.name) + 2 :].split(".")[0]
        if pid.isdigit() and not _alive(int(pid)):
            part.unlink(missing_ok=True)
            logger.info("removed %s, left by an interrupted run", part)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
