"""Audio sources behind one protocol: WAV files and the PyAudio microphone (ring-buffered)."""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import struct
import threading
import time
import wave
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from .libc import name_this_thread
from .resample import Resampler

log = logging.getLogger(__name__)

Int16Array = npt.NDArray[np.int16]


class AudioError(Exception):
    """An audio input that cannot be read; the message names the file or device."""


class MicrophoneLost(AudioError):
    """The capture device stopped delivering audio."""


class AudioSource(Protocol):
    sample_rate_hz: int

    def read(self) -> Int16Array | None:
        """The next chunk (16-bit mono at sample_rate_hz), or None at the end of the input."""
        ...

    def close(self) -> None: ...


def read_wav(path: Path, sample_rate_hz: int) -> Int16Array:
    """A whole WAV file as mono int16 at sample_rate_hz (mixed down and resampled if needed)."""
    blocks = list(iter_wav(path, sample_rate_hz, block_s=None))
    return blocks[0] if len(blocks) == 1 else np.concatenate([np.zeros(0, np.int16), *blocks])


WAVE_FORMAT_PCM, WAVE_FORMAT_EXTENSIBLE = 0x0001, 0xFFFE
_PCM_SUBFORMAT = b"\x01\x00\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"


class _WaveReader(wave.Wave_read):
    """Python 3.11's wave reader, plus WAVE_FORMAT_EXTENSIBLE files that hold plain PCM: sox and
    ffmpeg write that layout for 24/32-bit samples, more than two channels or 48 kHz, and
    Python 3.12's wave reads it too. Anything else in that layout (float) is still refused."""

    def _read_fmt_chunk(self, chunk: Any) -> None:
        head = chunk.read(16)
        try:
            tag, channels, rate, _, _, bits = struct.unpack_from("<HHLLHH", head)
        except struct.error:
            raise EOFError from None
        if tag == WAVE_FORMAT_EXTENSIBLE:
            extension = chunk.read(24)  # size, valid bits, channel mask, sub-format GUID
            if extension[8:24] != _PCM_SUBFORMAT:
                raise wave.Error("WAVE_FORMAT_EXTENSIBLE, but not PCM (float?)")
        elif tag == 3:
            raise wave.Error("float samples; convert to PCM, e.g. sox IN.wav -b 16 OUT.wav")
        elif tag != WAVE_FORMAT_PCM:
            raise wave.Error(f"unknown format: {tag}")
        if not channels:
            raise wave.Error("bad # of channels")
        self._nchannels, self._framerate = channels, rate
        self._sampwidth = (bits + 7) // 8
        if not self._sampwidth:
            raise wave.Error("bad sample width")
        self._framesize = self._nchannels * self._sampwidth
        self._comptype, self._compname = "NONE", "not compressed"


def iter_wav(path: Path, sample_rate_hz: int, block_s: float | None = 10.0) -> Iterator[Int16Array]:
    """A WAV file as mono int16 blocks at sample_rate_hz, read block_s at a time (None: at
    once), so hours of audio never sit in memory whole. Errors name the file."""
    try:
        wav = _WaveReader(str(path))
    except FileNotFoundError:
        raise AudioError(f"{path}: not found") from None
    except (wave.Error, EOFError, OSError, RuntimeError) as exc:
        raise _unreadable(path, exc) from None
    with wav:
        channels, width, rate = wav.getnchannels(), wav.getsampwidth(), wav.getframerate()
        if width not in (1, 2, 3, 4):
            raise AudioError(
                f"{path}: {8 * width}-bit samples are not supported (use 8/16/24/32-bit PCM)"
            )
        if rate < 4000 or rate > 192000:
            raise AudioError(f"{path}: sample rate {rate} Hz is out of range")
        frames = max(1, wav.getnframes() if block_s is None else int(block_s * rate))
        resampler = Resampler(rate, sample_rate_hz) if rate != sample_rate_hz else None
        while True:
            try:
                raw = wav.readframes(frames)
            except (wave.Error, EOFError, OSError, RuntimeError) as exc:
                raise _unreadable(path, exc) from None
            last = len(raw) < frames * width * channels
            samples = _to_mono_int16(raw, width, channels)
            if resampler is not None:
                samples = resampler.process(samples, final=last)
            if samples.shape[0]:
                yield samples
            if last:
                return


def speech_span(audio: Int16Array, rate: int, within_db: float) -> tuple[int, int]:
    """Samples [start, end) from the first to the last whole 10 ms frame whose power is within
    `within_db` of the loudest frame's; (0, 0) when there is no whole frame or no sound."""
    power = frame_power(audio, rate)
    if power.size == 0 or power.max() <= 0:
        return 0, 0
    loud = np.flatnonzero(power >= power.max() * 10 ** (-within_db / 10))
    hop = rate // 100
    return int(loud[0]) * hop, (int(loud[-1]) + 1) * hop


def frame_power(audio: Int16Array, rate: int) -> npt.NDArray[np.float32]:
    """Mean square of each whole 10 ms frame (a trailing part frame is left out)."""
    hop = rate // 100
    n = audio.shape[0] // hop
    frames = audio[: n * hop].astype(np.float32).reshape(n, hop)
    power: npt.NDArray[np.float32] = np.mean(frames**2, axis=1)
    return power


def _unreadable(path: Path, exc: Exception) -> AudioError:
    # RuntimeError: the wave module's chunk reader on a chunk size past the end of the file
    return AudioError(f"{path}: not a readable PCM WAV file ({str(exc) or type(exc).__name__})")


def _to_mono_int16(raw: bytes, width: int, channels: int) -> Int16Array:
    usable = len(raw) - len(raw) % (width * channels)
    if width == 1:
        samples = (np.frombuffer(raw[:usable], np.uint8).astype(np.int16) - 128) * 256
    elif width == 2:
        samples = np.frombuffer(raw[:usable], "<i2").astype(np.int16)
    elif width == 3:  # the upper two bytes of each little-endian sample
        octets = np.frombuffer(raw[:usable], np.uint8).reshape(-1, 3).astype(np.uint16)
        samples = (octets[:, 1] | (octets[:, 2] << 8)).view(np.int16)
    else:
        samples = (np.frombuffer(raw[:usable], "<i4") >> 16).astype(np.int16)
    if channels > 1:
        samples = samples.reshape(-1, channels).mean(axis=1).astype(np.int16)
    return samples


class WavFileSource:
    """A WAV file delivered in microphone-sized chunks, followed by trailing silence.

    Read (and resampled) 10 s at a time, so an hour-long 44.1 kHz stereo recording needs no
    more memory than a short one. A file whose header is bad fails here, in the constructor."""

    def __init__(
        self, path: Path, sample_rate_hz: int, chunk_samples: int, pad_s: float = 0.5
    ) -> None:
        self.sample_rate_hz = sample_rate_hz
        blocks = iter_wav(path, sample_rate_hz)
        first = next(blocks, None)  # reads the header
        # Trailing silence lets a command at the very end of a file fill the model's window.
        pad = np.zeros(int(pad_s * sample_rate_hz), np.int16)
        self._blocks: Iterator[Int16Array] = itertools.chain(
            [] if first is None else [first], blocks, [pad]
        )
        self._chunk = chunk_samples
        self._pending = np.zeros(0, np.int16)

    def read(self) -> Int16Array | None:
        while self._pending.shape[0] < self._chunk:
            block = next(self._blocks, None)
            if block is None:
                break
            self._pending = np.concatenate([self._pending, block])
        if self._pending.shape[0] == 0:
            return None
        chunk, self._pending = self._pending[: self._chunk], self._pending[self._chunk :]
        return chunk

    def close(self) -> None:
        self._blocks, self._pending = iter(()), np.zeros(0, np.int16)


class SampleRing:
    """Single-producer single-consumer int16 ring; the producer never blocks or allocates."""

    def __init__(self, capacity: int) -> None:
        self._data = np.zeros(capacity, dtype=np.int16)
        self._capacity = capacity
        self._write = 0  # total samples ever written
        self._read = 0  # total samples ever read
        self._ready = threading.Condition(threading.Lock())
        self._want = 0  # samples the reader waits for: write() wakes it only once they are there
        self.overruns = 0  # episodes: a reader that falls behind once counts once
        self._overrunning = False

    def write(self, samples: Int16Array) -> None:
        n = samples.shape[0]
        if n > self._capacity:
            samples, n = samples[-self._capacity :], self._capacity
        start = self._write % self._capacity
        first = min(n, self._capacity - start)
        self._data[start : start + first] = samples[:first]
        self._data[: n - first] = samples[first:]
        with self._ready:
            self._write += n
            if self._write - self._read > self._capacity:
                self.overruns += not self._overrunning
                self._overrunning = True
                self._read = self._write - self._capacity
            if self._write - self._read >= self._want:
                self._ready.notify()

    def drain(self) -> None:
        """Drop everything written so far: the next read starts with audio from now on."""
        with self._ready:
            self._read = self._write

    def read_into(self, out: Int16Array, timeout_s: float) -> bool:
        """Fill `out` completely or return False after timeout_s without consuming anything."""
        n = out.shape[0]
        deadline = time.monotonic() + timeout_s
        with self._ready:
            self._want = n
            while self._write - self._read < n:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._ready.wait(remaining)
            # Copied under the lock: once _read moves on, the writer may reuse those samples
            # (an overrun it would not count).
            start = self._read % self._capacity
            first = min(n, self._capacity - start)
            out[:first] = self._data[start : start + first]
            out[first:] = self._data[: n - first]
            self._read += n
            self._overrunning = False
        return True


class StreamPoller:
    """Whole chunks from a PortAudio stream opened without a callback, taken when they are due.

    No thread of ours wakes per buffer: the sound stack keeps the audio (the ALSA buffer, or the
    sound server's queue) and the reader sleeps until the frames it wants should be there.

    Audio lands a period at a time, once per period. The poller keeps a window (lo, hi] for
    when the period that completed frame count `anchor` landed; every poll narrows it: seeing
    `anchor + j` periods at time t means that period landed by t - j periods and not before
    t - (j + 1) periods. The reader sleeps to just past the window's end, projected to the
    period it needs, once the window is narrow, and to its middle (which halves it) before. A
    period that lands outside the window (jitter, a sound card's clock drifting against ours)
    starts a new window; one that is late is waited for in short doubling steps.
    """

    NARROW_S = 0.003  # a window this narrow is trusted
    MARGIN_S = 0.0005  # wake this long after the window's end
    WIDEN_S = 0.0002  # per read, each side: allowance for jitter and drift
    STEP_S = 0.001  # first step while a period is late (doubles, up to MAX_STEP_S)
    MAX_STEP_S = 0.02
    FROZEN_S = 0.5  # a sleep this much longer than asked: the process was frozen, not the audio

    def __init__(
        self,
        stream: Any,
        rate: int,
        period_frames: int,
        overflow_code: int,
        reopen: Callable[[], Any] | None = None,
    ) -> None:
        self._stream = stream
        # PyAudio closes a stream whose read reports an overflow; this gives a new one.
        self._reopen = reopen
        self._period = period_frames
        self._period_s = period_frames / rate
        self._overflow_code = overflow_code
        self._consumed = 0  # frames taken from the stream so far
        self._window: tuple[int, float, float] | None = None  # anchor, lo, hi
        self.overflows = 0
        self.polls = 0  # get_read_available() calls: about one per read once it has the rhythm

    def available(self) -> int:
        for _ in range(3):
            self.polls += 1
            try:
                avail = int(self._stream.get_read_available())
            except OSError as exc:  # e.g. -9988 "Stream closed"
                raise MicrophoneLost(str(exc)) from None
            if avail != self._overflow_code:
                break
            # PortAudio found the buffer overrun here and restarted the device: audio was
            # lost, the stream goes on.
            self._lost_audio()
        if avail < 0:  # PyAudio passes PortAudio's error code through
            raise MicrophoneLost(f"PortAudio error {avail}")
        return avail

    def _lost_audio(self) -> None:
        self.overflows += 1
        self._window = None

    def discard(self) -> None:
        """Throw away what has been captured so far. A sound server refills the stream from its
        own queue as it is emptied (PulseAudio: seconds of it), so until less than a period is
        left."""
        for _ in range(100):
            avail = self.available()
            if avail < self._period:
                return
            self._take(avail)

    def read_into(self, out: Int16Array, timeout_s: float) -> bool:
        """Fill `out` completely, or return False when that much audio has not arrived within
        timeout_s (nothing is consumed then)."""
        need = out.shape[0]
        deadline = time.monotonic() + timeout_s
        if self._window is not None:
            anchor, lo, hi = self._window
            self._window = (anchor, lo - self.WIDEN_S, hi + self.WIDEN_S)
        step, last = self.STEP_S, None  # last: (time, frames captured) at the previous poll
        planned = None  # when the last sleep should have ended
        while True:
            avail = self.available()
            now = time.monotonic()
            if planned is not None and now - planned > self.FROZEN_S:
                # The whole process stood still (a stopped job, a system stall): the sound
                # stack's own thread is catching up too. Judge the stream from here on.
                deadline = max(deadline, now + timeout_s)
            captured = self._consumed + avail
            consistent = self._observe(captured, now)
            if not consistent and last is not None and captured > last[1]:
                # landed since the previous poll: a new window (at most a period wide)
                self._window = (captured, max(last[0], now - self._period_s), now)
                consistent = True
            if avail >= need:
                data = self._take(need)
                if data is not None:
                    out[:] = np.frombuffer(data, dtype=np.int16)
                    return True
                continue
            if now >= deadline:
                return False
            if consistent:
                wake, step = self._wake_at(self._consumed + need), self.STEP_S
            else:  # late, or nothing has landed yet: short steps, doubling
                wake, step = now + step, min(2 * step, self.MAX_STEP_S)
            last, planned = (now, captured), min(wake, deadline)
            time.sleep(max(0.0, planned - now))

    def _observe(self, captured: int, now: float) -> bool:
        """Narrow the window with what a poll saw; False if the poll contradicts it (or there
        is no window yet), which drops it."""
        if self._window is None:
            return False
        anchor, lo, hi = self._window
        j = (captured - anchor) // self._period  # whole periods landed since the anchor
        lo, hi = max(lo, now - (j + 1) * self._period_s), min(hi, now - j * self._period_s)
        if lo >= hi:
            self._window = None
            return False
        self._window = (anchor, lo, hi)
        return True

    def _wake_at(self, target: int) -> float:
        assert self._window is not None
        anchor, lo, hi = self._window
        ahead = -(-(target - anchor) // self._period) * self._period_s  # ceiling division
        if hi - lo <= self.NARROW_S:
            return hi + ahead + self.MARGIN_S
        return (lo + hi) / 2 + ahead

    def _take(self, frames: int) -> bytes | None:
        self._consumed += frames
        try:
            return bytes(self._stream.read(frames, exception_on_overflow=True))
        except OSError as exc:
            if exc.errno != self._overflow_code:
                raise MicrophoneLost(str(exc)) from None
            self._lost_audio()
            # PyAudio has closed the stream along with that error (and dropped the frames it
            # read): capture goes on in a new one, from now.
            if self._reopen is None:
                raise MicrophoneLost(f"{exc} (stream closed)") from None
            try:
                self._stream = self._reopen()
            except OSError as again:
                raise MicrophoneLost(f"cannot reopen after an overflow: {again}") from None
            self._consumed = 0
            return None


class MicrophoneSource:
    """PyAudio capture; the reader resamples to the model's rate.

    capture="poll" (default): the stream has no callback and the reading thread takes whole
    chunks when they are due (StreamPoller), so nothing of ours wakes per buffer while the
    reader waits for several. capture="callback": PortAudio's thread hands each buffer to a
    Python callback that copies it into a ring, which the reader drains.
    """

    def __init__(
        self,
        device: str | int | None,
        open_rate_hz: int,
        sample_rate_hz: int,
        chunk_ms: int,
        ring_s: float,
        stall_timeout_s: float,
        realtime_priority: int,
        max_read_chunks: int = 1,
        capture: str = "poll",
    ) -> None:
        try:
            import pyaudio
        except ImportError:
            raise AudioError(
                "microphone capture needs PyAudio: pip install 'edge-asr[mic]'"
            ) from None
        if capture not in ("poll", "callback"):
            raise ValueError(f"capture must be 'poll' or 'callback', not {capture!r}")
        self.sample_rate_hz = sample_rate_hz
        self.capture = capture
        self._pa = open_portaudio()
        try:
            index, name = find_device(self._pa, device)
            self.device_name = name
            self._rate = self._open_rate(index, open_rate_hz)
            chunk_len = self._rate * chunk_ms // 1000
            ring_len = max(int(self._rate * ring_s), 2 * chunk_len)  # a read fits, with room
            self._ring = SampleRing(ring_len) if capture == "callback" else None
            self._chunk_s = chunk_ms / 1000
            self._resampler = (
                Resampler(self._rate, sample_rate_hz) if self._rate != sample_rate_hz else None
            )
            self._stall_timeout_s = stall_timeout_s
            self._started = False
            self._priority = realtime_priority
            self.realtime: str | None = None  # set by the capturing thread: "fifo:N" or why not
            self.status_overflows = 0
            self._overflowing = False
            self._calls, self._calls_since = 0, time.monotonic()
            self._expected_rate = self._rate / chunk_len  # callbacks per second
            self._continue = pyaudio.paContinue
            self._overflow_flag = pyaudio.paInputOverflow
            self._open_args = {
                "format": pyaudio.paInt16,
                "channels": 1,
                "rate": self._rate,
                "input": True,
                "input_device_index": index,
                "frames_per_buffer": chunk_len,
                "stream_callback": self._callback if capture == "callback" else None,
            }
            self._stream = self._pa.open(**self._open_args)
            release_alsa_plugins()
            if capture == "callback":
                # read(chunks) takes up to this many chunks at once, at most half the ring.
                fits = ring_len // 2 // chunk_len
            else:
                # The stream's own buffer holds what the reader has not taken yet; leave it a
                # chunk of room (PortAudio's latency is that buffer less one period).
                fits = int(self._stream.get_input_latency() / self._chunk_s + 1e-6)
            self._max_chunks = max(1, min(max_read_chunks, fits))
            self._buffer = np.zeros(self._max_chunks * chunk_len, dtype=np.int16)
            self._chunk = self._buffer[:chunk_len]
            self._poller = (
                StreamPoller(
                    self._stream,
                    self._rate,
                    chunk_len,
                    pyaudio.paInputOverflowed,
                    reopen=self._reopen_stream,
                )
                if capture == "poll"
                else None
            )
        except OSError as exc:  # PortAudio reports a vanished or busy device as OSError
            self._pa.terminate()
            raise AudioError(f"cannot open input device {device!r}: {exc}") from None
        except Exception:
            self._pa.terminate()
            raise
        log.info(
            "capturing from %r at %d Hz, %d ms chunks (%s, up to %d ms per read)",
            name,
            self._rate,
            chunk_ms,
            capture,
            self._max_chunks * chunk_ms,
        )

    @property
    def overruns(self) -> int:
        if self._poller is not None:
            return self._poller.overflows
        assert self._ring is not None
        return self._ring.overruns + self.status_overflows

    def _open_rate(self, index: int | None, wanted: int) -> int:
        info = (
            self._pa.get_device_info_by_index(index)
            if index is not None
            else self._pa.get_default_input_device_info()
        )
        import pyaudio

        try:
            if self._pa.is_format_supported(
                wanted, input_device=info["index"], input_channels=1, input_format=pyaudio.paInt16
            ):
                return wanted
        except ValueError:
            pass
        native = int(info["defaultSampleRate"])
        log.warning(
            "device %r cannot open %d Hz; capturing at %d Hz and resampling",
            info["name"],
            wanted,
            native,
        )
        return native

    def _callback(
        self, data: bytes | None, frames: int, _time: Any, status: int
    ) -> tuple[None, int]:
        # Real-time thread: copy and signal only. No logging, no computing.
        if self.realtime is None:
            name_this_thread("edge-asr-audio")  # PortAudio's thread, named on its first call
            self.realtime = _request_fifo(self._priority)
        self._calls += 1
        if self._calls % 64 == 0 and self.realtime.startswith("fifo"):
            # Expected ~10 calls/s. A host API that calls back in a tight loop would, at FIFO
            # priority, keep the GIL from every other thread: drop to normal scheduling.
            now = time.monotonic()
            if now - self._calls_since < 64 / (10 * self._expected_rate):
                os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))
                self.realtime = "dropped: callbacks arrived in a tight loop"
            self._calls_since = now
        overflow = bool(status & self._overflow_flag)
        self.status_overflows += overflow and not self._overflowing  # once per episode
        self._overflowing = overflow
        if data and self._ring is not None:
            self._ring.write(np.frombuffer(data, dtype=np.int16))
        return None, self._continue

    def read(self, chunks: int = 1) -> Int16Array | None:
        """The next `chunks` chunks of audio in one array, waiting for all of them: an idle
        reader that asks for several wakes once instead of once per chunk."""
        chunks = max(1, min(chunks, self._max_chunks))
        out = self._buffer[: chunks * self._chunk.shape[0]]
        # Sound servers can take a second or two to deliver the first buffer of a new stream.
        timeout_s = self._stall_timeout_s + (chunks - 1) * self._chunk_s
        if not self._started:
            timeout_s += 5.0
        if self._poller is not None:
            if self.realtime is None:  # this thread captures: it gets the priority
                self.realtime = _request_fifo(self._priority)
            try:
                got = self._poller.read_into(out, timeout_s)
            except MicrophoneLost as exc:
                raise MicrophoneLost(f"{self.device_name!r}: {exc}") from None
        else:
            assert self._ring is not None
            began = time.monotonic()
            got = self._ring.read_into(out, timeout_s)
            if not got and time.monotonic() - began > timeout_s + StreamPoller.FROZEN_S:
                # The wait overran its timeout: the process was frozen (PortAudio's thread
                # too), not the microphone. Give the stream its time again.
                got = self._ring.read_into(out, timeout_s)
        if not got:
            raise MicrophoneLost(f"no audio from {self.device_name!r} for {timeout_s:.1f} s")
        self._started = True
        if self._resampler is None:
            return out
        return self._resampler.process(out)

    def _reopen_stream(self) -> Any:
        """The same stream again, after PyAudio closed it on an overflow (poll mode)."""
        with contextlib.suppress(Exception):
            self._stream.close()
        self._stream = self._pa.open(**self._open_args)
        return self._stream

    def drain(self) -> None:
        """Forget the audio captured so far (what was said before a prompt, say)."""
        if self._poller is not None:
            self._poller.discard()
        else:
            assert self._ring is not None
            self._ring.drain()

    def close(self) -> None:
        try:
            self._stream.stop_stream()
            self._stream.close()
        except Exception as exc:  # a vanished device may fail to close; nothing else to do
            log.debug("closing stream: %s", exc)
        finally:
            self._pa.terminate()


def open_portaudio() -> Any:
    """PyAudio() with ALSA's and JACK's probing noise kept off stderr (unless DEBUG logging)."""
    import pyaudio

    if log.isEnabledFor(logging.DEBUG):
        return pyaudio.PyAudio()
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as devnull:
            os.dup2(devnull.fileno(), 2)
            return pyaudio.PyAudio()
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def release_alsa_plugins() -> None:
    """Unload the ALSA plugins PortAudio's device scan loaded and no open stream uses.

    PortAudio opens every PCM in the ALSA configuration to list devices, which loads each
    plugin library (a52 and lavrate pull in libavcodec, jack pulls in libjack, ...) and keeps
    them mapped, with the parsed configuration, for the life of the process: about 10 MB of
    resident memory on the build VM. Freeing ALSA's global configuration tree also closes the
    plugin libraries nothing holds; an open stream keeps its own, and the next open parses the
    configuration again. A no-op where PortAudio does not use ALSA.
    """
    import ctypes

    try:  # RTLD_NOLOAD: only a copy PortAudio already loaded, never a fresh one
        asound = ctypes.CDLL("libasound.so.2", mode=os.RTLD_NOLOAD | os.RTLD_LAZY)
    except OSError:
        return
    asound.snd_config_update_free_global()


def guard_realtime(limit_ms: int = 200) -> None:
    """Demote any real-time thread that runs `limit_ms` without blocking.

    A SCHED_FIFO thread that spins (seen with PortAudio on some sound-server setups) would
    starve the rest of the daemon; RLIMIT_RTTIME makes the kernel send SIGXCPU instead, and the
    handler puts every real-time thread of this process back to normal scheduling.
    """
    import resource
    import signal

    def demote(_signum: int, _frame: Any) -> None:
        for task in os.listdir("/proc/self/task"):
            try:
                if os.sched_getscheduler(int(task)) == os.SCHED_FIFO:
                    os.sched_setscheduler(int(task), os.SCHED_OTHER, os.sched_param(0))
                    log.warning(
                        "thread %s ran %d ms without blocking at real-time priority: "
                        "demoted to normal scheduling",
                        task,
                        limit_ms,
                    )
            except OSError:
                continue

    try:
        _soft, hard = resource.getrlimit(resource.RLIMIT_RTTIME)
        soft = limit_ms * 1000 if hard == resource.RLIM_INFINITY else min(limit_ms * 1000, hard)
        resource.setrlimit(resource.RLIMIT_RTTIME, (soft, hard))
        signal.signal(signal.SIGXCPU, demote)
    except (ValueError, OSError) as exc:
        log.debug("no real-time guard: %s", exc)


def _request_fifo(priority: int) -> str:
    if priority <= 0:
        return "not requested"
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(priority))
    except (PermissionError, OSError) as exc:
        return f"denied ({exc.strerror or exc})"
    return f"fifo:{priority}"


def list_devices() -> list[dict[str, Any]]:
    """Input devices as PyAudio sees them."""
    pa = open_portaudio()
    try:
        default = _default_input_index(pa)
        devices = []
        for index in range(pa.get_device_count()):
            info = pa.get_device_info_by_index(index)
            if int(info["maxInputChannels"]) > 0:
                devices.append(
                    {
                        "index": index,
                        "name": info["name"],
                        "channels": int(info["maxInputChannels"]),
                        "default_rate_hz": int(info["defaultSampleRate"]),
                        "default": index == default,
                    }
                )
        return devices
    finally:
        pa.terminate()


def _default_input_index(pa: Any) -> int | None:
    try:
        return int(pa.get_default_input_device_info()["index"])
    except OSError:
        return None


def find_device(pa: Any, device: str | int | None) -> tuple[int | None, str]:
    """Index and name for a configured device: None = default, int = index, str = name part."""
    if device is None or device == "":
        index = _default_input_index(pa)
        if index is None:
            raise AudioError("no default input device (is a microphone connected?)")
        return index, str(pa.get_device_info_by_index(index)["name"])
    count = pa.get_device_count()
    if isinstance(device, int) or (isinstance(device, str) and device.isdigit()):
        index = int(device)
        if not 0 <= index < count:
            raise AudioError(f"audio.device {index}: no such device (see `edge-asr devices`)")
        info = pa.get_device_info_by_index(index)
        if int(info["maxInputChannels"]) < 1:
            raise AudioError(f"audio.device {index}: {info['name']!r} has no input channels")
        return index, str(info["name"])
    for index in range(count):
        info = pa.get_device_info_by_index(index)
        if device.lower() in str(info["name"]).lower() and int(info["maxInputChannels"]) > 0:
            return index, str(info["name"])
    raise AudioError(f"audio.device {device!r}: no input device name contains it")
