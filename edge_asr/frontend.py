"""Streaming log-mel features: the one implementation shared by the daemon and the trainer."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import as_strided

Float32Array = npt.NDArray[np.float32]

ENERGY_FLOOR = 1e-10


@dataclass(frozen=True)
class FrontendParams:
    """How audio becomes features; stored in model.json so a model always runs as trained."""

    sample_rate_hz: int = 16000
    window_ms: float = 30.0
    hop_ms: float = 20.0
    n_mels: int = 40
    fmin_hz: float = 20.0
    fmax_hz: float = 7600.0
    log_floor: float = 1e-6

    @property
    def window_samples(self) -> int:
        return round(self.sample_rate_hz * self.window_ms / 1000)

    @property
    def hop_samples(self) -> int:
        return round(self.sample_rate_hz * self.hop_ms / 1000)

    @property
    def n_fft(self) -> int:
        return 1 << (self.window_samples - 1).bit_length()

    def frames_in(self, n_samples: int) -> int:
        """Number of whole frames in a clip of n_samples."""
        if n_samples < self.window_samples:
            return 0
        return 1 + (n_samples - self.window_samples) // self.hop_samples

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FrontendParams:
        known = {name: data[name] for name in cls.__dataclass_fields__ if name in data}
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise ValueError(f"unknown frontend parameters: {', '.join(map(repr, unknown))}")
        return cls(**known)


def _hz_to_mel(hz: npt.ArrayLike) -> npt.NDArray[np.float64]:
    mel: npt.NDArray[np.float64] = 2595.0 * np.log10(1.0 + np.asarray(hz, np.float64) / 700.0)
    return mel


def _mel_to_hz(mel: npt.ArrayLike) -> npt.NDArray[np.float64]:
    return 700.0 * (10.0 ** (np.asarray(mel, dtype=np.float64) / 2595.0) - 1.0)


def _mel_edges_hz(params: FrontendParams) -> npt.NDArray[np.float64]:
    return _mel_to_hz(
        np.linspace(_hz_to_mel(params.fmin_hz), _hz_to_mel(params.fmax_hz), params.n_mels + 2)
    )


def mel_centres_hz(params: FrontendParams) -> npt.NDArray[np.float64]:
    """The centre frequency of each mel filter, shape (n_mels,)."""
    return _mel_edges_hz(params)[1:-1]


def mel_filterbank(params: FrontendParams) -> Float32Array:
    """Triangular HTK-style filters, shape (n_fft // 2 + 1, n_mels)."""
    n_bins = params.n_fft // 2 + 1
    bin_hz = np.linspace(0.0, params.sample_rate_hz / 2, n_bins)
    edges = _mel_edges_hz(params)
    lower, centre, upper = edges[:-2], edges[1:-1], edges[2:]
    rising = (bin_hz[:, None] - lower) / (centre - lower)
    falling = (upper - bin_hz[:, None]) / (upper - centre)
    return np.maximum(0.0, np.minimum(rising, falling)).astype(np.float32)


class LogMel:
    """Turns 16-bit or float audio into log-mel frames, in any chunking.

    Every step but the FFT writes into buffers made here once (`out=`); frames are strided
    views of the pending-sample buffer. numpy's rfft (no `out=` before numpy 2) returns one
    small spectrum per batch of frames, freed as soon as its power is taken. That costs 2.4x
    less CPU than the windowed DFT as two matrix products it replaced (real-time factor
    0.0040 -> 0.0016 in `edge-asr bench` on an AVX2 EPYC), for the same features to 5e-5.
    """

    def __init__(self, params: FrontendParams, max_frames_per_batch: int = 16) -> None:
        self.params = params
        win, hop = params.window_samples, params.hop_samples
        n_bins = params.n_fft // 2 + 1
        self._window = np.hanning(win + 2)[1:-1].astype(np.float32)  # Hann without zero ends
        self._fbank = mel_filterbank(params)
        self._max_frames = max_frames_per_batch
        self._pending = np.zeros(win - hop + max_frames_per_batch * hop, dtype=np.float32)
        self._fill = 0
        # Contiguous copy of the (overlapping) frames: windowed in place, which the strided
        # view of the pending samples cannot be.
        self._frames = np.zeros((max_frames_per_batch, win), dtype=np.float32)
        self._power = np.zeros((max_frames_per_batch, n_bins), dtype=np.float32)
        self._mel = np.zeros((max_frames_per_batch, params.n_mels), dtype=np.float32)
        self._dbfs = np.zeros(max_frames_per_batch, dtype=np.float32)

    def reset(self) -> None:
        """Forget buffered samples (after a gap in the audio)."""
        self._fill = 0

    def stream(self, chunk: npt.NDArray[Any]) -> Iterator[tuple[Float32Array, Float32Array]]:
        """Yield (log_mel[n, n_mels], frame_dbfs[n]) for each batch of frames `chunk` completes.

        The arrays are views of internal buffers, valid until the next iteration: copy what
        you keep.
        """
        for n in self._batches(chunk):
            yield self._compute(n)

    def skip(self, chunk: npt.NDArray[Any]) -> int:
        """Take `chunk` without computing its features; return how many frames it completed.

        For audio the caller already knows is silent: the samples still enter the buffer, so
        frames that straddle the next loud chunk come out exactly as `stream` would give them.
        """
        hop, n_in = self.params.hop_samples, chunk.shape[0]
        total = self._fill + n_in
        n = self.params.frames_in(total)
        keep = total - n * hop  # samples the next frame starts with (fewer than a window)
        scale = _sample_scale(chunk)
        if keep > n_in:  # some of them were pending already
            old = keep - n_in
            self._pending[:old] = self._pending[self._fill - old : self._fill]
            np.multiply(chunk, scale, out=self._pending[old:keep], casting="unsafe")
        elif keep:
            np.multiply(chunk[n_in - keep :], scale, out=self._pending[:keep], casting="unsafe")
        self._fill = keep
        return n

    def _batches(self, chunk: npt.NDArray[Any]) -> Iterator[int]:
        """Copy `chunk` into the pending buffer; yield each time n >= 1 frames are ready there."""
        scale = _sample_scale(chunk)
        hop = self.params.hop_samples
        pos = 0
        while pos < chunk.shape[0]:
            take = min(self._pending.shape[0] - self._fill, chunk.shape[0] - pos)
            np.multiply(
                chunk[pos : pos + take],
                scale,
                out=self._pending[self._fill : self._fill + take],
                casting="unsafe",
            )
            self._fill += take
            pos += take
            n = self.params.frames_in(self._fill)
            if n == 0:
                continue
            yield n
            consumed = n * hop
            remaining = self._fill - consumed
            self._pending[:remaining] = self._pending[consumed : self._fill]
            self._fill = remaining

    def _compute(self, n: int) -> tuple[Float32Array, Float32Array]:
        win, hop = self.params.window_samples, self.params.hop_samples
        item = self._pending.itemsize
        frames = self._frames[:n]
        np.copyto(frames, as_strided(self._pending, shape=(n, win), strides=(hop * item, item)))
        power, mel, dbfs = self._power[:n], self._mel[:n], self._dbfs[:n]
        np.einsum("ij,ij->i", frames, frames, out=dbfs)
        np.multiply(dbfs, 1.0 / win, out=dbfs)
        np.maximum(dbfs, ENERGY_FLOOR, out=dbfs)
        np.log10(dbfs, out=dbfs)
        np.multiply(dbfs, 10.0, out=dbfs)
        np.multiply(frames, self._window, out=frames)
        spectrum = np.fft.rfft(frames, self.params.n_fft)
        np.multiply(spectrum.real, spectrum.real, out=power, casting="same_kind")
        power += np.square(spectrum.imag, out=spectrum.real)  # the real part is spent
        np.matmul(power, self._fbank, out=mel)
        np.maximum(mel, self.params.log_floor, out=mel)
        np.log(mel, out=mel)
        return mel, dbfs


def log_mel(audio: npt.NDArray[Any], params: FrontendParams) -> Float32Array:
    """Features of a whole clip, computed by the same streaming code (for training and tests)."""
    n = params.frames_in(audio.shape[0])
    out = np.zeros((n, params.n_mels), dtype=np.float32)
    frontend = LogMel(params, max_frames_per_batch=max(1, min(n, 256)))
    row = 0
    for mel, _ in frontend.stream(audio):
        out[row : row + mel.shape[0]] = mel
        row += mel.shape[0]
    return out


def _sample_scale(chunk: npt.NDArray[Any]) -> float:
    """What turns `chunk`'s samples into floats in [-1, 1): int16 is scaled, floats are not."""
    return 1.0 / 32768.0 if chunk.dtype == np.int16 else 1.0
