"""Words that are not commands: near-misses, filler vocabulary and command-free sentences.

Choices (documented here because they decide what the model learns to reject):
- A pool word whose espeak-ng phonemes equal those of a command ("know" for "no", "to" for
  "two", "ate" for "eight") is dropped: TTS says them identically, so labelling one
  `_unknown_` and the other a command would teach the model a contradiction.
- Multi-word commands ("lights off"): each single word and each shorter contiguous part that is
  not itself a command becomes `_unknown_` ("lights", "off"), so the model must hear the whole
  phrase; a user who says only "off" should not switch the lights off.
- Words that merely contain a command ("someone", "eighteen") stay in as hard negatives.
- Beyond the hand-made lists come the most frequent English words (frequent_words.py), in
  frequency order: a wide vocabulary teaches `_unknown_` better than a narrow one spoken by more
  voices (build/results/ablation-wide-vocabulary.json).
"""

from __future__ import annotations

import functools
import logging
import re
import shutil
import subprocess
from collections.abc import Sequence

import numpy as np

from edge_asr.train.frequent_words import FREQUENT_WORDS
from edge_asr.train.word_zipf import WORD_ZIPF

logger = logging.getLogger(__name__)

# fmt: off
DEFAULT_COMMANDS: tuple[str, ...] = (
    "yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go",
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
)

# Speech Commands' auxiliary words plus hand-picked rhymes/onsets of the default commands.
NEAR_MISSES: dict[str, tuple[str, ...]] = {
    "yes": ("yet", "yeah", "less", "mess", "guess", "chess", "yesterday"),
    "no": ("know", "nose", "note", "snow", "now", "new", "know"),
    "up": ("cup", "pup", "upper", "app", "hop"),
    "down": ("town", "gown", "brown", "dawn", "clown", "done"),
    "left": ("lift", "loft", "theft", "lest", "laughed"),
    "right": ("light", "bright", "white", "ride", "write", "rice"),
    "on": ("own", "gone", "in", "an", "upon"),
    "off": ("of", "cough", "if", "often", "half"),
    "stop": ("shop", "top", "step", "stock", "stomp"),
    "go": ("goat", "grow", "gold", "toe", "ago"),
    "zero": ("hero", "zebra", "arrow", "sierra", "xerox"),
    "one": ("won", "fun", "sun", "run", "none", "want"),
    "two": ("tooth", "tune", "do", "true", "tomb", "to", "too"),
    "three": ("free", "tree", "trees", "thread", "throw"),
    "four": ("floor", "door", "fourth", "fork", "for", "forward"),
    "five": ("fire", "hive", "dive", "fife", "fight"),
    "six": ("sticks", "fix", "mix", "kicks", "sits"),
    "seven": ("heaven", "eleven", "severe", "sever", "several"),
    "eight": ("ate", "eighty", "late", "gate", "eighteen", "wait"),
    "nine": ("night", "line", "mine", "fine", "wine", "nineteen", "ninety"),
}
SPEECH_COMMANDS_AUX: tuple[str, ...] = (
    "bed", "bird", "cat", "dog", "happy", "house", "marvin", "sheila", "tree", "wow",
    "learn", "follow", "forward", "visual", "backward",
)
COMMON_WORDS: tuple[str, ...] = (
    "the", "and", "that", "have", "with", "this", "from", "they", "will", "would", "there",
    "their", "what", "about", "which", "when", "make", "like", "time", "just", "him", "take",
    "people", "into", "year", "your", "good", "some", "could", "them", "see", "other", "than",
    "then", "look", "only", "come", "its", "over", "think", "also", "back", "after", "use",
    "work", "first", "well", "way", "even", "because", "any", "these", "give", "day", "most",
    "water", "table", "window", "kitchen", "garden", "music", "play", "pause", "volume",
    "light", "lamp", "door", "open", "close", "morning", "evening", "weather", "coffee",
    "computer", "phone", "hello", "thanks", "please", "sorry", "maybe", "never", "always",
    "orange", "purple", "green", "yellow", "blue", "red", "black", "silver", "paper", "pencil",
    "chair", "sofa", "window", "carpet", "blanket", "pillow", "bottle", "glass", "spoon",
    "apple", "banana", "bread", "butter", "cheese", "chicken", "dinner", "lunch", "breakfast",
    "river", "mountain", "ocean", "island", "forest", "desert", "city", "village", "street",
    "yellow", "button", "system", "number", "question", "answer", "problem", "little", "big",
    "small", "large", "quiet", "loud", "slow", "fast", "early", "later", "today", "tomorrow",
    "monday", "friday", "summer", "winter", "spring", "autumn", "doctor", "teacher", "market",
)
FILLER_WORDS: tuple[str, ...] = (
    "a", "the", "is", "was", "it", "we", "you", "they", "he", "she", "my", "our", "this",
    "that", "and", "but", "or", "with", "at", "by", "from", "in", "of", "very", "really",
    "not", "can", "will", "should", "might", "has", "had", "are", "were", "be",
)
# fmt: on


def normalise(text: str) -> str:
    return " ".join(re.sub(r"[^a-z' ]", " ", text.lower()).split())


@functools.lru_cache(maxsize=8)
def _phonemes_batch(words: tuple[str, ...], voice: str) -> tuple[str, ...]:
    if shutil.which("espeak-ng") is None:
        logger.warning("espeak-ng missing: homophone filtering falls back to spelling")
        return words
    # One word per line, each ending a clause, gives one phoneme line per word.
    text = "\n".join(f"{w}." for w in words)
    proc = subprocess.run(
        ["espeak-ng", "-q", "-x", "-v", voice],
        input=text.encode(),
        capture_output=True,
        check=True,
        timeout=60,
    )
    lines = [ln.strip() for ln in proc.stdout.decode().splitlines() if ln.strip()]
    if len(lines) != len(words):
        return tuple(_phonemes_one(w, voice) for w in words)
    return tuple(lines)


def _phonemes_one(word: str, voice: str) -> str:
    proc = subprocess.run(
        ["espeak-ng", "-q", "-x", "-v", voice, word], capture_output=True, check=True, timeout=30
    )
    return " ".join(proc.stdout.decode().split())


def phonemes(words: Sequence[str], voice: str = "en-us") -> dict[str, str]:
    """espeak-ng phoneme strings without stress marks, per word or phrase."""
    raw = _phonemes_batch(tuple(words), voice)
    return {w: re.sub(r"[',_: ]", "", p) for w, p in zip(words, raw, strict=True)}


def _edit_distance(a: str, b: str) -> int:
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def forbidden_words(commands: Sequence[str], candidates: Sequence[str]) -> set[str]:
    """Candidates that are a command or sound exactly like one (in en-us and en-gb)."""
    cmds = [normalise(c) for c in commands]
    bad = {c for c in candidates if normalise(c) in cmds}
    for voice in ("en-us", "en-gb"):
        cmd_ph = set(phonemes(cmds, voice).values())
        cand_ph = phonemes(list(candidates), voice)
        bad |= {w for w, p in cand_ph.items() if p in cmd_ph}
    return bad


def phrase_parts(command: str) -> list[str]:
    """Single words and shorter contiguous sub-phrases of a multi-word command."""
    words = normalise(command).split()
    parts = []
    for n in range(len(words) - 1, 0, -1):
        for i in range(len(words) - n + 1):
            parts.append(" ".join(words[i : i + n]))
    return parts


def near_miss_words(commands: Sequence[str]) -> list[str]:
    """The hand-picked near-misses of every command word (NEAR_MISSES), in order."""
    words = [w for c in commands for w in normalise(c).split()]
    return list(dict.fromkeys(m for w in words for m in NEAR_MISSES.get(w, ())))


def unknown_words(
    commands: Sequence[str], n: int = 150, seed: int = 0, extra: Sequence[str] = ()
) -> list[str]:
    """~n non-command words: phrase parts, near-misses first, then common words (seeded), then
    frequent English words in frequency order. The order is fixed by (commands, seed, extra), so
    the first n of a longer list are the list for n."""
    cmds = [normalise(c) for c in commands]
    cmd_set = set(cmds)
    priority: list[str] = [p for c in cmds for p in phrase_parts(c) if p not in cmd_set]
    priority += [normalise(w) for w in extra]
    priority += near_miss_words(cmds)
    priority += SPEECH_COMMANDS_AUX
    pool = [w for w in dict.fromkeys(COMMON_WORDS) if w not in priority]
    # Custom commands get near-misses by phoneme edit distance from the common pool.
    cmd_ph = phonemes(cmds)
    pool_ph = phonemes(pool)
    for c in cmds:
        if all(w in NEAR_MISSES for w in c.split()):
            continue
        ranked = sorted(pool, key=lambda w, c=c: _edit_distance(pool_ph[w], cmd_ph[c]))
        priority += ranked[:4]
    ordered = list(dict.fromkeys(priority))
    rng = np.random.default_rng(seed)
    rest = [w for w in pool if w not in ordered]
    ordered += [rest[i] for i in rng.permutation(len(rest))]
    ordered += [w for w in FREQUENT_WORDS if w not in ordered]
    bad = forbidden_words(cmds, ordered)
    dropped = sorted(bad & set(ordered))
    if dropped:
        logger.info("not used as unknown (same sound as a command): %s", ", ".join(dropped))
    keep = [w for w in ordered if w not in bad]
    n_phrase = sum(1 for w in keep if " " in w)
    return keep[: max(n, n_phrase)]


def sentences(
    commands: Sequence[str],
    count: int,
    seed: int,
    min_words: int = 4,
    max_words: int = 12,
    natural: bool = False,
) -> list[str]:
    """Random word sequences that never contain a command or its homophones.

    By default every word of the lists (commands' near-misses included) is as likely as any
    other, with a third of the words fillers: about a quarter of the words are near-misses, a
    stress test. `natural` draws from the lists and frequent_words in proportion to each
    word's frequency in English (word_zipf), so near-misses come as often as in real talk.
    """
    vocab = list(dict.fromkeys(COMMON_WORDS + SPEECH_COMMANDS_AUX + FILLER_WORDS))
    if natural:
        vocab = list(dict.fromkeys(vocab + list(FREQUENT_WORDS)))
    for c in commands:
        for w in normalise(c).split():
            vocab += [m for m in NEAR_MISSES.get(w, ())]
    vocab = list(dict.fromkeys(vocab))
    cmd_words = {w for c in commands for w in normalise(c).split()}
    bad = forbidden_words(list(commands) + sorted(cmd_words), vocab)
    vocab = [w for w in vocab if w not in bad and w not in cmd_words]
    rng = np.random.default_rng(seed)
    if natural:
        weights = np.array([10.0 ** WORD_ZIPF.get(w, 1.0) for w in vocab])
        return [
            " ".join(
                vocab[i]
                for i in rng.choice(
                    len(vocab),
                    int(rng.integers(min_words, max_words + 1)),
                    p=weights / weights.sum(),
                )
            )
            for _ in range(count)
        ]
    fillers = [w for w in FILLER_WORDS if w in vocab]
    out = []
    for _ in range(count):
        n = int(rng.integers(min_words, max_words + 1))
        words = [
            fillers[rng.integers(len(fillers))]
            if rng.random() < 0.35
            else vocab[rng.integers(len(vocab))]
            for _ in range(n)
        ]
        out.append(" ".join(words))
    return out
