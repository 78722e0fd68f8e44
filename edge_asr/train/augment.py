"""Seeded augmentation: place a clip in a fixed window, perturb, reverberate, add noise/music."""

from __future__ import annotations

import hashlib
import logging
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

from edge_asr.audio import speech_span
from edge_asr.train.tts import SAMPLE_RATE_HZ, resample

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float32]
Int16Array = npt.NDArray[np.int16]
MUSIC_DIRS = ("/usr/share/asterisk/moh",)
NOISE_KINDS = ("white", "pink", "brown", "babble", "music")


@dataclass(frozen=True)
class AugmentConfig:
    """Probabilities and ranges of each perturbation (train copies)."""

    window_s: float = 1.0
    p_speed: float = 0.5
    speed_range: float = 0.10
    p_pitch: float = 0.3
    pitch_range: float = 0.10
    gain_db: tuple[float, float] = (-20.0, 6.0)
    p_reverb: float = 0.5
    p_noise: float = 0.8
    snr_db: tuple[float, float] = (0.0, 30.0)
    noise_weights: tuple[float, ...] = (0.15, 0.2, 0.15, 0.25, 0.25)  # order of NOISE_KINDS
    p_telephone: float = 0.1
    # Voice conversion (Praat's "Change gender": PSOLA pitch + formant shift) on p_voice of the
    # train copies: each converted copy gets a new pitch median (log-uniform in voice_pitch_hz)
    # and vocal-tract length (formants x voice_formant_ratio), drawn independently, so a few
    # TTS speakers become many men, women and children.
    p_voice: float = 0.0
    voice_pitch_hz: tuple[float, float] = (90.0, 290.0)
    voice_formant_ratio: tuple[float, float] = (0.88, 1.25)

    @property
    def window_samples(self) -> int:
        return round(self.window_s * SAMPLE_RATE_HZ)


VOICE_CONVERSION_FIELDS = ("p_voice", "voice_pitch_hz", "voice_formant_ratio")


def coloured_noise(kind: str, n: int, rng: np.random.Generator) -> FloatArray:
    """Unit-RMS white, pink (1/f) or brown (1/f^2) noise shaped in the frequency domain."""
    white = rng.standard_normal(n)
    if kind != "white":
        alpha = {"pink": 1.0, "brown": 2.0}[kind]
        spec = np.fft.rfft(white)
        f = np.fft.rfftfreq(n, 1.0 / SAMPLE_RATE_HZ)
        f[0] = f[1]
        spec *= (f / 20.0) ** (-alpha / 2)  # 20 Hz knee keeps brown noise from being all DC
        spec[0] = 0.0
        white = np.fft.irfft(spec, n)
    return (white / (np.sqrt(np.mean(white**2)) + 1e-12)).astype(np.float32)


def load_music(split_index: int, n_splits: int = 3) -> list[FloatArray]:
    """Music-on-hold tracks (8 kHz) at 16 kHz; track i belongs to split i % n_splits.

    train gets the first tracks, val and test one unseen track each (when 5 are installed).
    """
    import soundfile as sf

    files = sorted(p for d in MUSIC_DIRS for p in Path(d).glob("*.wav")) if MUSIC_DIRS else []
    if not files:
        logger.warning("no music-on-hold WAVs (asterisk-moh-opsound-wav): music noise disabled")
        return []
    # With 5 tracks: train 0,1,2; val 3; test 4 — never the same music in two splits.
    owner = [min(i, n_splits - 1) if i < n_splits else 0 for i in range(len(files))]
    if len(files) >= n_splits + 2:
        owner = [0] * (len(files) - 2) + [1, 2]
    tracks = []
    for path, who in zip(files, owner, strict=True):
        if who != split_index:
            continue
        audio, rate = sf.read(path, dtype="float32", always_2d=True)
        x = resample(audio.mean(axis=1), rate)
        tracks.append((x / (np.sqrt(np.mean(x**2)) + 1e-9)).astype(np.float32))
    return tracks


def build_rir_bank(
    n: int, seed: int, cache_dir: Path, rt60_s: tuple[float, float] = (0.1, 0.8)
) -> list[FloatArray]:
    """n shoebox RIRs (image method for early reflections + exponential late tail), cached."""
    path = cache_dir / f"rirs-n{n}-seed{seed}-rt{rt60_s[0]}-{rt60_s[1]}-v1.npz"
    if path.exists():
        with np.load(path) as data:
            return [data[f"r{i}"] for i in range(n)]
    import pyroomacoustics as pra

    rng = np.random.default_rng(seed)
    rirs: list[FloatArray] = []
    for _ in range(n):
        dims = np.array([rng.uniform(3, 10), rng.uniform(2.5, 8), rng.uniform(2.4, 4)])
        rt60 = float(rng.uniform(*rt60_s))
        while True:
            try:
                absorption, order = pra.inverse_sabine(rt60, dims.tolist())
                break
            except ValueError:  # too big a room for so short an RT60: shrink it
                dims = np.maximum(dims * 0.8, 2.0)
                if dims.max() <= 2.0:
                    rt60 = max(rt60, 0.2)
        room = pra.ShoeBox(
            dims.tolist(),
            fs=SAMPLE_RATE_HZ,
            materials=pra.Material(absorption),
            max_order=min(order, 12),
        )
        src = rng.uniform(0.5, dims - 0.5)
        mic = rng.uniform(0.5, dims - 0.5)
        room.add_source(src.tolist())
        room.add_microphone(mic.tolist())
        room.compute_rir()
        early = np.asarray(room.rir[0][0], dtype=np.float64)
        # Order-12 images stop long before RT60: continue with a decaying noise tail whose
        # level matches the image-method response just after the direct sound.
        length = int(rt60 * 1.1 * SAMPLE_RATE_HZ) + early.size
        direct = int(np.argmax(np.abs(early)))
        t = np.arange(length - direct) / SAMPLE_RATE_HZ
        tail = rng.standard_normal(t.size) * np.exp(-6.9078 * t / rt60)
        ref = slice(direct + 320, direct + 800)  # 20-50 ms after the direct path
        e_early = np.sqrt(np.mean(early[ref] ** 2)) if early.size > ref.stop else 0.0
        e_tail = np.sqrt(np.mean(tail[320:800] ** 2))
        tail *= (e_early / (e_tail + 1e-12)) if e_early > 0 else 0.05 * np.abs(early).max()
        tail[:320] *= np.linspace(0.0, 1.0, 320)
        rir = np.zeros(length)
        rir[: early.size] += early
        rir[direct:] += tail
        rir = rir[direct - min(direct, 40) :]  # keep timing: direct path at ~2.5 ms
        rirs.append((rir / np.abs(rir).max()).astype(np.float32))
    cache_dir.mkdir(parents=True, exist_ok=True)
    np.savez(path, **{f"r{i}": r for i, r in enumerate(rirs)})
    return rirs


@dataclass
class NoiseBank:
    """Long unit-RMS noise sources for one split: babble tracks and music tracks."""

    babble: list[FloatArray] = field(default_factory=list)
    music: list[FloatArray] = field(default_factory=list)

    def segment(self, kind: str, n: int, rng: np.random.Generator) -> FloatArray:
        """n samples of unit-RMS noise of `kind` (falls back to pink if the source is empty)."""
        source = {"babble": self.babble, "music": self.music}.get(kind)
        if source is None or not source:
            return coloured_noise(kind if kind in ("white", "pink", "brown") else "pink", n, rng)
        track = source[int(rng.integers(len(source)))]
        if track.size <= n:
            track = np.tile(track, n // max(1, track.size) + 2)
        start = int(rng.integers(track.size - n))
        seg = track[start : start + n]
        return (seg / (np.sqrt(np.mean(seg**2)) + 1e-6)).astype(np.float32)


def make_babble(
    sentences: Sequence[Int16Array], n_tracks: int, seconds: float, rng: np.random.Generator
) -> list[FloatArray]:
    """Tracks of 3-7 overlapping talkers built from TTS sentences."""
    n = int(seconds * SAMPLE_RATE_HZ)
    tracks = []
    for _ in range(n_tracks):
        mix = np.zeros(n, dtype=np.float32)
        for _ in range(int(rng.integers(3, 8))):
            pos = 0
            while pos < n:
                s = sentences[int(rng.integers(len(sentences)))].astype(np.float32)
                s = s / (np.sqrt(np.mean(s**2)) + 1e-6)
                end = min(n, pos + s.size)
                mix[pos:end] += s[: end - pos] * float(rng.uniform(0.5, 1.0))
                pos = end + int(rng.integers(0, SAMPLE_RATE_HZ // 4))
        tracks.append((mix / (np.sqrt(np.mean(mix**2)) + 1e-6)).astype(np.float32))
    return tracks


PARTIAL_KEEP = (0.3, 0.6)  # share of a word's speech a partial word keeps
PARTIAL_MIN_S = 0.12  # shorter parts are not made (too little sound to be a word's part)
PARTIAL_FADE_S = 0.02  # at the cut, so no click tells the part from a whole word


def partial_word(clip: Int16Array, rng: np.random.Generator) -> Int16Array | None:
    """The first or the last 30-60 % of a clip's speech, faded out (or in) at the cut: a command
    heard only in part ("sev-" of "seven", "-ree" of "three"), which must not fire. None when
    the part would be shorter than PARTIAL_MIN_S."""
    start, end = speech_span(clip, SAMPLE_RATE_HZ, 35.0)
    n = int((end - start) * rng.uniform(*PARTIAL_KEEP))
    if n < PARTIAL_MIN_S * SAMPLE_RATE_HZ:
        return None
    fade = np.ones(n, np.float32)
    ramp = np.linspace(1.0, 0.0, int(PARTIAL_FADE_S * SAMPLE_RATE_HZ), dtype=np.float32)
    if rng.random() < 0.5:  # the beginning
        part = clip[start : start + n].astype(np.float32)
        fade[-ramp.size :] = ramp
    else:  # the end
        part = clip[end - n : end].astype(np.float32)
        fade[: ramp.size] = ramp[::-1]
    return to_int16(part * fade)


def place(
    clip: npt.NDArray[np.floating] | Int16Array, window: int, rng: np.random.Generator | None
) -> tuple[FloatArray, bool]:
    """Clip inside a zero window at a random (or, without rng, centred) offset.

    A clip longer than the window is cut (randomly, or centred); the flag says it was cut.
    """
    x = np.asarray(clip, dtype=np.float32)
    out = np.zeros(window, dtype=np.float32)
    if x.size > window:
        start = int(rng.integers(x.size - window + 1)) if rng else (x.size - window) // 2
        out[:] = x[start : start + window]
        return out, True
    slack = window - x.size
    offset = int(rng.integers(slack + 1)) if rng else slack // 2
    out[offset : offset + x.size] = x
    return out, False


def _stretch(x: FloatArray, factor: float) -> FloatArray:
    """WSOLA time-stretch: output length ~ len(x) * factor, pitch unchanged."""
    frame, hop, tol = 400, 160, 80
    window = np.hanning(frame).astype(np.float32)
    n_out = int(x.size * factor)
    n_frames = max(1, (n_out - frame) // hop + 1)
    padded = np.concatenate([np.zeros(tol, np.float32), x, np.zeros(frame + 2 * tol, np.float32)])
    out = np.zeros(n_frames * hop + frame, dtype=np.float32)
    norm = np.zeros_like(out)
    prev = 0
    for k in range(n_frames):
        nominal = int(k * hop / factor) + tol
        if k == 0:
            pos = nominal
        else:
            target = padded[prev + hop : prev + hop + frame]
            lo = max(0, nominal - tol)
            region = padded[lo : nominal + tol + frame]
            corr = np.correlate(region, target, mode="valid")
            pos = lo + int(np.argmax(corr))
        out[k * hop : k * hop + frame] += padded[pos : pos + frame] * window
        norm[k * hop : k * hop + frame] += window
        prev = pos
    return (out / np.maximum(norm, 1e-3))[:n_out]


def convert_voice(x: FloatArray, formant_ratio: float, pitch_hz: float) -> FloatArray:
    """The clip as another speaker would say it: Praat's "Change gender" (pitch analysis, PSOLA
    resynthesis at a new pitch median, formants scaled by formant_ratio; same duration).
    A clip Praat cannot analyse (too short, no voiced frame) comes back unchanged.

    Praat fills voiceless stretches with randomly placed pulses from a generator seeded at
    start-up, so the same call gave another clip in every process; it is seeded here from the
    clip and the parameters, which makes a copy the same in every build whatever came before it.
    """
    import parselmouth
    from parselmouth.praat import call, run

    key = hashlib.sha1(x.astype(np.float32).tobytes() + f"{formant_ratio}|{pitch_hz}".encode())
    run(f"random_initializeWithSeedUnsafelyButPredictably ({int(key.hexdigest()[:8], 16)})")
    sound = parselmouth.Sound(x.astype(np.float64), sampling_frequency=SAMPLE_RATE_HZ)
    try:
        with warnings.catch_warnings():  # "no voiced segments": handled below, not news
            warnings.simplefilter("ignore", parselmouth.PraatWarning)
            out = call(sound, "Change gender", 75.0, 600.0, formant_ratio, pitch_hz, 1.0, 1.0)
    except parselmouth.PraatError:
        return x
    y = np.asarray(out.values[0], dtype=np.float32)
    return y if y.size and np.all(np.isfinite(y)) else x


def telephone(x: FloatArray) -> FloatArray:
    """300-3400 Hz band-pass, as heard through a phone line."""
    from scipy.signal import butter, sosfilt

    sos = butter(4, [300.0, 3400.0], btype="bandpass", fs=SAMPLE_RATE_HZ, output="sos")
    return sosfilt(sos, x).astype(np.float32)


def mix_at_snr(
    speech_power: float, window: FloatArray, noise: FloatArray, snr_db: float
) -> FloatArray:
    """window + noise scaled so speech power / noise power = snr_db (noise is unit RMS)."""
    scale = np.sqrt(speech_power / (10 ** (snr_db / 10)))
    return window + noise * np.float32(scale)


def to_int16(x: FloatArray) -> Int16Array:
    return np.clip(np.round(x), -32768, 32767).astype(np.int16)


class Augmenter:
    """Turns a TTS clip into training windows; every draw comes from the rng passed in."""

    def __init__(
        self, config: AugmentConfig, noise: NoiseBank, rirs: Sequence[FloatArray] = ()
    ) -> None:
        self.config = config
        self.noise = noise
        self.rirs = list(rirs)

    def train_window(self, clip: Int16Array, rng: np.random.Generator) -> tuple[Int16Array, bool]:
        """One randomly augmented window (and whether the clip had to be cut)."""
        cfg = self.config
        x = clip.astype(np.float32)
        # Drawn only when enabled, so recipes without it keep their exact random streams.
        if cfg.p_voice > 0 and rng.random() < cfg.p_voice and x.size > 1600:
            lo, hi = np.log(cfg.voice_pitch_hz)
            pitch = float(np.exp(rng.uniform(lo, hi)))
            x = convert_voice(x, float(rng.uniform(*cfg.voice_formant_ratio)), pitch)
        if rng.random() < cfg.p_speed:
            factor = 1.0 + rng.uniform(-cfg.speed_range, cfg.speed_range)
            x = resample(x, round(SAMPLE_RATE_HZ * factor), SAMPLE_RATE_HZ)
        if rng.random() < cfg.p_pitch and x.size > 800:
            factor = 1.0 + rng.uniform(-cfg.pitch_range, cfg.pitch_range)
            x = _stretch(resample(x, round(SAMPLE_RATE_HZ * factor), SAMPLE_RATE_HZ), factor)
        power = float(np.mean(x**2)) if x.size else 0.0
        window, cut = place(x, cfg.window_samples, rng)
        if self.rirs and rng.random() < cfg.p_reverb:
            from scipy.signal import fftconvolve

            rir = self.rirs[int(rng.integers(len(self.rirs)))]
            window = fftconvolve(window, rir)[: window.size].astype(np.float32)
        if rng.random() < cfg.p_noise:
            weights = np.asarray(cfg.noise_weights) / np.sum(cfg.noise_weights)
            kind = NOISE_KINDS[int(rng.choice(len(NOISE_KINDS), p=weights))]
            snr = float(rng.uniform(*cfg.snr_db))
            window = mix_at_snr(power, window, self.noise.segment(kind, window.size, rng), snr)
        if rng.random() < cfg.p_telephone:
            window = telephone(window)
        window *= np.float32(10 ** (rng.uniform(*cfg.gain_db) / 20))
        return to_int16(window), cut

    def clean_window(self, clip: Int16Array) -> tuple[Int16Array, bool]:
        """The clip centred in the window, unchanged."""
        window, cut = place(clip, self.config.window_samples, None)
        return to_int16(window), cut

    def noisy_window(
        self, clip: Int16Array, snr_db: float, kind: str, rng: np.random.Generator
    ) -> tuple[Int16Array, bool]:
        """The centred clip with `kind` noise at exactly snr_db (val/test)."""
        x = clip.astype(np.float32)
        window, cut = place(x, self.config.window_samples, None)
        noise = self.noise.segment(kind, window.size, rng)
        return to_int16(mix_at_snr(float(np.mean(x**2)), window, noise, snr_db)), cut

    def silence_window(self, rng: np.random.Generator) -> tuple[Int16Array, str]:
        """A window with no speech: digital near-silence, coloured noise, music or room tone."""
        n = self.config.window_samples
        kind = str(rng.choice(["digital", "white", "pink", "brown", "music", "room"]))
        if kind == "digital":
            x = rng.normal(0.0, rng.uniform(0.0, 3.0), n).astype(np.float32)
            return to_int16(x), kind
        level_dbfs = rng.uniform(-70.0, -15.0) if kind != "music" else rng.uniform(-50, -10)
        noise_kind = "pink" if kind == "room" else kind
        x = self.noise.segment(noise_kind, n, rng)
        if kind == "room" and self.rirs:
            from scipy.signal import fftconvolve

            rir = self.rirs[int(rng.integers(len(self.rirs)))]
            x = fftconvolve(coloured_noise("brown", n, rng) + 0.3 * x, rir)[:n]
            x = (x / (np.sqrt(np.mean(x**2)) + 1e-9)).astype(np.float32)
        if rng.random() < 0.1:
            x = telephone(x)
        return to_int16(x * np.float32(32768 * 10 ** (level_dbfs / 20))), kind
