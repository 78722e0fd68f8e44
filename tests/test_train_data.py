"""Training data: the tiny synthetic set builds with honest splits and the daemon's features."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from edge_asr.frontend import FrontendParams, log_mel
from edge_asr.train import vocab
from edge_asr.train.augment import (
    AugmentConfig,
    Augmenter,
    NoiseBank,
    coloured_noise,
    convert_voice,
    partial_word,
)
from edge_asr.train.dataset import (
    SIZES,
    DatasetInfo,
    SizePreset,
    build_dataset,
    plan_rows,
    recipe_for,
)
from edge_asr.train.evaluate import heldout_clips, human_clips
from edge_asr.train.frequent_words import FREQUENT_WORDS
from edge_asr.train.stream import make_negative_stream
from edge_asr.train.tts import ENGINE_TYPES, OPTIONAL_ENGINE_TYPES, TtsCache, VoiceSpec
from edge_asr.train.windows import UNKNOWN

COMMANDS = ["yes", "no", "lights on"]
BINARIES = {"espeak": "espeak-ng", "flite": "flite", "festival": "festival"}
ALL_ENGINES = {**ENGINE_TYPES, **OPTIONAL_ENGINE_TYPES}
# The optional engines come from Debian's contrib and non-free sections, which setup does not add.
OPTIONAL_PACKAGES = {
    "mbrola": "mbrola mbrola-us1 mbrola-us2 mbrola-us3 mbrola-en1",
    "pico": "libttspico-utils",
}


def _need_binaries(*names: str) -> None:
    for name in names:
        if shutil.which(name) is None:
            pytest.skip(f"{name} binary not installed")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> DatasetInfo:
    _need_binaries("espeak-ng", "festival")
    root = tmp_path_factory.mktemp("data")
    return build_dataset(
        COMMANDS, root / "ds", size="tiny", seed=3, progress=False, cache_dir=root / "cache"
    )


def _rebuild(tiny: DatasetInfo) -> DatasetInfo:
    """build_dataset again over the tiny fixture's folder, with the fixture's arguments."""
    return build_dataset(
        COMMANDS,
        tiny.out_dir,
        size="tiny",
        seed=3,
        progress=False,
        cache_dir=tiny.out_dir.parent / "cache",
    )


def _load(info: DatasetInfo, split: str) -> dict[str, np.ndarray]:
    with np.load(info.out_dir / f"{split}.npz") as data:
        return {k: data[k] for k in data.files}


def test_tiny_dataset_has_labels_and_fixed_window_features(tiny: DatasetInfo) -> None:
    labels = json.loads((tiny.out_dir / "labels.json").read_text())["labels"]
    assert labels == ["_silence_", "_unknown_", *COMMANDS]
    frames = FrontendParams().frames_in(16000)
    for split in ("train", "val", "test"):
        d = _load(tiny, split)
        n = d["y"].shape[0]
        assert d["x"].shape == (n, frames, 40) and d["x"].dtype == np.float32
        assert d["y"].dtype == np.int16
        assert set(d["y"].tolist()) == set(range(len(labels))), split
        assert d["snr_db"].shape == d["engine"].shape == d["voice"].shape == d["text"].shape
        assert np.isfinite(d["x"]).all()
    meta = json.loads((tiny.out_dir / "dataset.json").read_text())
    assert meta["counts"]["train"]["total"] == _load(tiny, "train")["y"].size


def test_holdout_engine_and_val_voices_never_train(tiny: DatasetInfo) -> None:
    train, val, test = (_load(tiny, s) for s in ("train", "val", "test"))
    assert "festival" not in set(train["engine"]) | set(val["engine"])
    assert set(test["engine"]) <= {"festival", "none"}

    def voices(d: dict[str, np.ndarray]) -> set[str]:
        speech = d["engine"] != "none"
        return {
            f"{e}:{v.split('_r')[0].split('+')[0]}"
            for e, v in zip(d["engine"][speech], d["voice"][speech], strict=True)
        }

    assert voices(train) and voices(val) and not voices(train) & voices(val)


def test_eval_splits_have_clean_and_fixed_snr_copies(tiny: DatasetInfo) -> None:
    for split in ("val", "test"):
        snr = _load(tiny, split)["snr_db"]
        values = {("clean" if np.isnan(v) else float(v)) for v in snr.tolist()}
        assert values == {"clean", 20.0, 10.0, 0.0}


def test_features_equal_log_mel_of_stored_test_wav(tiny: DatasetInfo) -> None:
    test = _load(tiny, "test")
    i = int(np.flatnonzero(test["wav"] != "")[0])
    audio, rate = sf.read(tiny.out_dir / str(test["wav"][i]), dtype="int16")
    assert rate == 16000 and audio.shape == (16000,)
    np.testing.assert_array_equal(test["x"][i], log_mel(audio, FrontendParams()))


def test_rebuild_with_same_recipe_reuses_outputs(tiny: DatasetInfo) -> None:
    before = (tiny.out_dir / "train.npz").stat().st_mtime_ns
    again = _rebuild(tiny)
    assert again.recipe_hash == tiny.recipe_hash
    assert (tiny.out_dir / "train.npz").stat().st_mtime_ns == before


def test_a_negative_stream_being_read_survives_a_rebuild(tiny: DatasetInfo, tmp_path: Path) -> None:
    """Two trainings on one cache (another --train-seed) rebuild the same streams: a run that
    has a stream open must keep reading the file it opened, never a half-written one."""
    out, cache = tmp_path / "val.wav", tiny.out_dir.parent / "cache"
    make_negative_stream(out, 0.05, 1, commands=COMMANDS, cache_dir=cache, progress=False)
    with sf.SoundFile(out) as reader:
        make_negative_stream(out, 0.05, 2, commands=COMMANDS, cache_dir=cache, progress=False)
        kept = reader.read(dtype="int16")
    rebuilt, _ = sf.read(out, dtype="int16")
    assert kept.size == rebuilt.size == 0.05 * 60 * 16000
    assert not np.array_equal(kept, rebuilt)  # the reader still has seed 1's stream
    assert json.loads(out.with_suffix(".json").read_text())["seed"] == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["val.json", "val.wav"]


def test_a_current_negative_stream_is_kept_and_a_changed_one_rewritten(
    tiny: DatasetInfo, tmp_path: Path
) -> None:
    """Every evaluation asks for its streams; one written whole from the same plan is kept
    (a 3-hour stream takes ~30 s to write), anything else is written again, and files left by a
    killed writer are removed."""
    out, cache = tmp_path / "val.wav", tiny.out_dir.parent / "cache"

    def stream(seed: int) -> tuple[int, bytes]:
        make_negative_stream(out, 0.05, seed, commands=COMMANDS, cache_dir=cache, progress=False)
        return out.stat().st_mtime_ns, out.read_bytes()

    first = stream(1)
    killed = [tmp_path / ".val.wav.999999999.part", tmp_path / ".val.wav.999999999.json"]
    for path in killed:
        path.write_bytes(b"half")
    assert stream(1) == first
    assert not any(p.exists() for p in killed)
    meta = out.with_suffix(".json")
    meta.write_text(
        json.dumps({k: v for k, v in json.loads(meta.read_text()).items() if k != "key"})
    )
    again = stream(1)  # a stream from before keys, or one whose JSON was lost: rewritten
    assert again[0] != first[0] and again[1] == first[1]
    other = stream(2)
    assert other[1] != first[1]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["val.json", "val.wav"]


def test_clean_val_and_test_windows_are_kept_as_wav_and_rebuilt_when_lost(
    tiny: DatasetInfo,
) -> None:
    """val_wav/ and test_wav/ feed the streaming evaluation: one WAV per clean window (and per
    silence window), rebuilt if the folder is lost, with no clip of an older build left in."""

    def wavs(split: str) -> list[Path]:
        return sorted((tiny.out_dir / f"{split}_wav").glob("*/*.wav"))

    for split in ("val", "test"):
        assert len(wavs(split)) == int(np.isnan(_load(tiny, split)["snr_db"]).sum()), split
    val_npz = (tiny.out_dir / "val.npz").read_bytes()
    shutil.rmtree(tiny.out_dir / "val_wav")
    stale = tiny.out_dir / "test_wav" / "_unknown_" / "older-build.wav"
    stale.write_bytes(b"")
    (tiny.out_dir / ".test.recipe").unlink()
    _rebuild(tiny)
    assert (tiny.out_dir / "val.npz").read_bytes() == val_npz  # training caches stay valid
    assert len(wavs("val")) == int(np.isnan(_load(tiny, "val")["snr_db"]).sum())
    assert not stale.exists()


def test_heldout_clips_carry_the_model_labels_including_phrases(tiny: DatasetInfo) -> None:
    clips = heldout_clips(tiny.out_dir, tiny.labels)
    labels = {label for _, label in clips}
    assert "lights on" in labels  # stored as test_wav/lights_on/, scored as "lights on"
    assert labels <= set(tiny.labels)


def test_human_evaluation_clips_are_found_after_setup() -> None:
    """build/setup installs Asterisk's prompts without apt's recommends, which leaves out the
    `sounds/en` link; the card's only human figure must not vanish with it."""
    clips = human_clips(list(vocab.DEFAULT_COMMANDS))
    assert sorted(label for _, label in clips if label != UNKNOWN) == sorted(
        ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
    )
    assert sum(label == UNKNOWN for _, label in clips) >= 10  # "ten" ... "ninety"


def test_training_hears_running_speech_as_unknown(tiny: DatasetInfo) -> None:
    train = _load(tiny, "train")
    unknown = train["text"][train["y"] == tiny.labels.index(UNKNOWN)]
    sentences = [t for t in unknown.tolist() if len(t.split()) >= 4]
    assert sentences, "no sentence crops among the _unknown_ windows"
    words = {w for t in sentences for w in t.split()}
    assert not words & {"yes", "no", "lights", "on"}


def test_a_partial_word_is_the_start_or_the_end_of_the_speech_faded_at_the_cut() -> None:
    speech = (np.sin(np.arange(8000) * 0.3) * 8000).astype(np.int16)  # 0.5 s of "speech"
    clip = np.r_[np.zeros(4000, np.int16), speech, np.zeros(4000, np.int16)]
    rng = np.random.default_rng(0)
    starts = 0
    for _ in range(40):
        part = partial_word(clip, rng)
        assert part is not None and 0.3 * 8000 - 160 <= part.size <= 0.6 * 8000 + 160
        head = np.array_equal(part[:400], speech[:400])
        tail = np.array_equal(part[-400:], speech[-400:])
        assert head != tail  # one end of the word, kept as it was
        assert abs(int(part[-1 if head else 0])) < 400  # faded where it was cut
        starts += head
    assert 10 <= starts <= 30  # both ends are drawn
    short = np.r_[np.zeros(4000, np.int16), speech[:3000], np.zeros(4000, np.int16)]
    assert partial_word(short, rng) is None  # 0.19 s of speech: no part of >= 0.12 s


def test_partial_words_join_the_training_windows_as_unknown_and_change_no_other(
    tiny: DatasetInfo, monkeypatch: pytest.MonkeyPatch
) -> None:
    from edge_asr.train import dataset

    monkeypatch.setitem(dataset.SIZES, "tiny", replace(SIZES["tiny"], p_partial=1.0))
    parts = build_dataset(
        COMMANDS,
        tiny.out_dir.parent / "ds-partial",
        size="tiny",
        seed=3,
        progress=False,
        cache_dir=tiny.out_dir.parent / "cache",
    )
    plain, with_parts = _load(tiny, "train"), _load(parts, "train")
    added = np.char.endswith(with_parts["text"].astype(str), " (part)")
    assert added.any()
    assert (with_parts["y"][added] == parts.labels.index(UNKNOWN)).all()
    assert {t.removesuffix(" (part)") for t in with_parts["text"][added].tolist()} <= set(COMMANDS)
    np.testing.assert_array_equal(plain["x"], with_parts["x"][~added])
    np.testing.assert_array_equal(_load(tiny, "val")["x"], _load(parts, "val")["x"])


def test_augmentation_is_deterministic_given_the_seed() -> None:
    rng = np.random.default_rng(0)
    clip = (coloured_noise("pink", 8000, rng) * 3000).astype(np.int16)
    bank = NoiseBank(babble=[coloured_noise("white", 32000, rng)])
    aug = Augmenter(AugmentConfig(), bank, [np.r_[1.0, np.zeros(99), 0.3].astype(np.float32)])
    a = [aug.train_window(clip, np.random.default_rng(7))[0] for _ in range(2)]
    b = aug.train_window(clip, np.random.default_rng(8))[0]
    np.testing.assert_array_equal(a[0], a[1])
    assert a[0].shape == (16000,) and a[0].dtype == np.int16
    assert not np.array_equal(a[0], b)


def test_near_misses_can_be_heard_in_as_many_styles_as_commands() -> None:
    _need_binaries("espeak-ng")
    commands, unknowns = ["three", "stop"], ["free", "stock", "window"]
    plan = {"train": ["espeak:en-us"], "val": ["espeak:en-029"], "test": ["espeak:en-gb"]}
    base = replace(SIZES["tiny"], espeak_styles=6, espeak_unknown_styles=1)

    def styles(preset: SizePreset, split: str, word: str) -> int:
        rows = plan_rows(commands, unknowns, preset, plan, "none", seed=0)
        return sum(1 for r in rows if r.split == split and r.text == word)

    emphasised = replace(base, near_miss_styles=6)
    assert styles(base, "train", "free") == 1
    assert styles(emphasised, "train", "free") == styles(emphasised, "train", "three") == 6
    assert styles(emphasised, "train", "window") == 1  # not a near-miss of a command
    assert styles(emphasised, "val", "free") == 1  # evaluation splits keep their recipe


def test_a_wide_training_vocabulary_leaves_the_evaluation_words_as_they_were() -> None:
    _need_binaries("espeak-ng")
    commands, unknowns = ["three", "stop"], ["free", "stock", "window", "table", "river"]
    plan = {"train": ["espeak:en-us"], "val": ["espeak:en-029"], "test": ["espeak:en-gb"]}
    wide = replace(SIZES["tiny"], espeak_styles=3, train_sentences=0, eval_unknown=2)
    rows = plan_rows(commands, unknowns, wide, plan, "none", seed=0)

    def spoken(split: str) -> list[str]:
        return list(dict.fromkeys(r.text for r in rows if r.split == split and r.label == UNKNOWN))

    assert spoken("train") == unknowns
    assert spoken("val") == spoken("test") == unknowns[:2]
    narrow = plan_rows(commands, unknowns[:2], replace(wide, eval_unknown=0), plan, "none", 0)
    assert [r for r in rows if r.split != "train"] == [r for r in narrow if r.split != "train"]
    recipe = recipe_for(commands, unknowns, wide, 0, 1.0, "none", FrontendParams(), plan)
    assert recipe["preset"]["eval_unknown"] == 2


def test_recipe_names_only_the_preset_fields_that_changed_from_their_defaults() -> None:
    def recipe(preset: SizePreset) -> dict[str, object]:
        return recipe_for(["yes"], ["yet"], preset, 0, 1.0, "festival", FrontendParams(), {})

    plain = recipe(SIZES["tiny"])
    assert "near_miss_styles" not in plain["preset"]  # so existing dataset caches stay valid
    assert "eval_unknown" not in plain["preset"]
    shifted = recipe(replace(SIZES["tiny"], pitch_range=0.2, near_miss_styles=4))
    assert shifted["preset"]["near_miss_styles"] == 4
    assert shifted["augment"]["pitch_range"] == 0.2
    assert "p_voice" not in plain["preset"] and "p_voice" not in plain["augment"]
    assert "p_partial" not in plain["preset"]
    converted = recipe(replace(SIZES["tiny"], p_voice=0.5))
    assert converted["preset"]["p_voice"] == converted["augment"]["p_voice"] == 0.5
    # model.json still records the full settings, defaults included.
    from edge_asr.train.recipe import _voice_conversion

    assert _voice_conversion(plain["augment"]) == {}
    assert _voice_conversion(converted["augment"]) == {
        "p_voice": 0.5,
        "voice_pitch_hz": AugmentConfig.voice_pitch_hz,
        "voice_formant_ratio": AugmentConfig.voice_formant_ratio,
    }


def test_voice_conversion_moves_pitch_and_formants_as_asked() -> None:
    """Measured with Praat's own trackers on flite's kal (a ~100 Hz male voice): asked for a
    210 Hz voice with a 20 % shorter vocal tract, or a 95 Hz one with a 10 % longer one."""
    _need_binaries("flite")
    parselmouth = pytest.importorskip("parselmouth")
    from parselmouth.praat import call

    def measure(x: np.ndarray) -> tuple[float, float]:
        sound = parselmouth.Sound(x.astype(np.float64), sampling_frequency=16000)
        f0 = call(sound.to_pitch(), "Get quantile", 0, 0, 0.5, "Hertz")
        f1 = call(sound.to_formant_burg(), "Get quantile", 1, 0, 0, "hertz", 0.5)
        return f0, f1

    voice = ENGINE_TYPES["flite"]().synthesize("nine seven", VoiceSpec("flite", "kal"))
    voice = voice.astype(np.float32)
    f0_in, f1_in = measure(voice)
    assert 85 < f0_in < 120, f0_in
    for ratio, pitch in ((1.2, 210.0), (0.9, 95.0)):
        converted = convert_voice(voice, formant_ratio=ratio, pitch_hz=pitch)
        f0_out, f1_out = measure(converted)
        assert converted.shape == voice.shape
        assert abs(f0_out - pitch) < 0.05 * pitch, (ratio, pitch, f0_out)
        assert abs(f1_out / f1_in - ratio) < 0.08, (ratio, f1_in, f1_out)
    silence = np.zeros(800, np.float32)  # nothing voiced to analyse: returned as it was
    np.testing.assert_array_equal(convert_voice(silence, 1.2, 210.0), silence)
    # The same copy in every build: Praat's pulses for voiceless stretches are random.
    again = convert_voice(voice, formant_ratio=0.9, pitch_hz=95.0)
    convert_voice(voice, formant_ratio=1.2, pitch_hz=210.0)
    np.testing.assert_array_equal(convert_voice(voice, formant_ratio=0.9, pitch_hz=95.0), again)


def test_augmentation_converts_voices_only_when_asked() -> None:
    pytest.importorskip("parselmouth")
    _need_binaries("flite")
    clip = ENGINE_TYPES["flite"]().synthesize("seven", VoiceSpec("flite", "kal"))
    bank = NoiseBank()
    quiet = replace(AugmentConfig(), p_speed=0, p_pitch=0, p_reverb=0, p_noise=0, p_telephone=0)
    windows = {
        p: Augmenter(replace(quiet, p_voice=p), bank).train_window(clip, np.random.default_rng(3))
        for p in (0.0, 1.0)
    }
    assert not np.array_equal(windows[0.0][0], windows[1.0][0])


def test_unknown_words_skip_homophones_and_split_phrases() -> None:
    _need_binaries("espeak-ng")
    words = vocab.unknown_words(["no", "lights off"], n=40)
    assert "know" not in words and "no" not in words
    assert "lights" in words and "off" in words


def test_frequent_words_widen_the_vocabulary_after_the_hand_made_ones() -> None:
    _need_binaries("espeak-ng")
    commands = list(vocab.DEFAULT_COMMANDS)
    words = vocab.unknown_words(commands, n=450)
    assert len(words) == len(set(words)) == 450
    assert words[:150] == vocab.unknown_words(commands, n=150)  # what validation and test speak
    hand_made = set(vocab.COMMON_WORDS) | set(vocab.SPEECH_COMMANDS_AUX)
    hand_made |= {m for near in vocab.NEAR_MISSES.values() for m in near}
    frequent = [w for w in words if w not in hand_made]
    assert frequent == [w for w in FREQUENT_WORDS if w in frequent]  # in frequency order
    assert words.index(frequent[0]) > max(words.index(w) for w in words if w in hand_made)
    assert not vocab.forbidden_words(commands, words)  # none is, or sounds like, a command
    assert "to" not in words and "know" not in words  # "two" and "no" to espeak-ng


def test_natural_streams_speak_near_misses_as_rarely_as_english_does() -> None:
    _need_binaries("espeak-ng")
    commands = list(vocab.DEFAULT_COMMANDS)
    near = {m for c in commands for m in vocab.NEAR_MISSES.get(c, ())}
    stress = " ".join(vocab.sentences(commands, 2000, 7)).split()
    natural = " ".join(vocab.sentences(commands, 2000, 7, natural=True)).split()
    assert natural == " ".join(vocab.sentences(commands, 2000, 7, natural=True)).split()
    for words in (stress, natural):
        assert not {"seven", "two", "to", "know", "no", "won"} & set(words)
    # The stress mix says a rare near-miss a sixth as often as "the"; English, 10^4.6 times less.
    assert stress.count("sever") > 0.1 * stress.count("the")
    assert natural.count("sever") < 0.01 * natural.count("the")
    assert sum(w in near for w in stress) > 0.2 * len(stress)
    # Common near-misses stay: "of" and "in" are among English's most frequent words.
    assert natural.count("of") > 0.02 * len(natural) and "in" in natural


def _engine(engine: str) -> type:
    if engine in BINARIES:
        _need_binaries(BINARIES[engine])
    cls = ALL_ENGINES[engine]
    if not cls.available() and engine in OPTIONAL_PACKAGES:
        pytest.skip(f"{engine} not installed (apt-get install {OPTIONAL_PACKAGES[engine]})")
    if not cls.available():
        pytest.skip(f"{engine} not installed (pip install edge-asr[train])")
    return cls


@pytest.mark.parametrize("engine", sorted(ALL_ENGINES))
def test_each_engine_speaks_16k_int16(engine: str, tmp_path: Path) -> None:
    cls = _engine(engine)
    instance = cls()
    cache = TtsCache(tmp_path, engines={engine: instance})
    audio = cache.get("seven", VoiceSpec(engine, instance.voices()[0], rate=1.1))
    assert audio.dtype == np.int16 and 1600 < audio.size < 24000
    assert cache.path("seven", VoiceSpec(engine, instance.voices()[0], rate=1.1)).exists()


@pytest.mark.parametrize("engine", sorted(ALL_ENGINES))
def test_each_engine_speaks_a_clip_the_same_in_every_build(engine: str) -> None:
    """A rebuild must synthesise the very clips of the last build, whatever came before them
    (Piper drew its generator noise unseeded, so every build had other clips)."""
    cls = _engine(engine)
    first, second = cls(), cls()
    voice = VoiceSpec(engine, first.voices()[0], rate=0.9, noise=0.8)
    first.synthesize("stop", voice)
    clip = first.synthesize("seven", voice)
    assert np.array_equal(clip, second.synthesize("seven", voice))
    if engine == "piper":  # the noise is still there: another style is another clip
        other = second.synthesize("seven", replace(voice, noise=0.5))
        assert not np.array_equal(clip[: other.size], other[: clip.size])


@pytest.mark.parametrize("engine", sorted(OPTIONAL_ENGINE_TYPES))
def test_an_optional_engine_speaks_every_voice_and_follows_the_rate(engine: str) -> None:
    cls = _engine(engine)
    instance = cls()
    assert instance.voices() == list(cls.KNOWN_VOICES)
    for voice in instance.voices():
        slow = instance.synthesize("seven", VoiceSpec(engine, voice, rate=0.85))
        fast = instance.synthesize("seven", VoiceSpec(engine, voice, rate=1.2))
        assert 1.2 < slow.size / fast.size < 1.6, voice
        assert np.abs(fast.astype(np.int32)).max() > 8000, voice  # speech, normalised


def test_no_recipe_trains_with_the_optional_engines() -> None:
    """Their voices would change every dataset's plan (and hash) where they are installed."""
    assert not set(OPTIONAL_ENGINE_TYPES) & set(ENGINE_TYPES)
    assert set(ENGINE_TYPES) == {"espeak", "flite", "festival", "piper"}
