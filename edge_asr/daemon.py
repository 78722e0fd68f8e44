"""The daemon: wires microphone -> recognizer -> publisher, owns threads, state and signals."""

from __future__ import annotations

import contextlib
import ctypes
import enum
import json
import logging
import os
import signal
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

from . import __version__
from .audio import AudioError, MicrophoneSource, guard_realtime
from .backends import load_backend
from .config import Settings
from .decoder import Detection
from .libc import libc, name_this_thread
from .messages import CommandEvent, Control, DeviceInfo
from .model import ModelSpec, default_model_dir, load_spec
from .outbox import Outbox
from .pipeline import Recognizer
from .publisher import Publisher
from .saved import MuteFile, ThresholdFile
from .sdnotify import Notifier

log = logging.getLogger(__name__)

STATUS_FILE = "status.json"
STATUS_EVERY_S = 5.0  # status line, watchdog, and status.json when something in it changed
MIC_SETTLED_S = 10.0  # a microphone lost after listening this long is reopened at once
STATUS_HEARTBEAT_S = 20.0  # status.json rewritten unchanged (`edge-asr health` allows 30 s)


class StatusFile:
    """status.json, written atomically when its content changes and, unchanged, every
    heartbeat_s: its updated_ts is the liveness `edge-asr health` checks, and a state directory
    is often on an SD card, which a rewrite every few seconds would wear for nothing."""

    def __init__(
        self,
        path: Path,
        heartbeat_s: float = STATUS_HEARTBEAT_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = path
        self._heartbeat_s = heartbeat_s
        self._clock = clock
        self._written: tuple[dict[str, Any], float] | None = None  # content, clock()

    def write(self, status: dict[str, Any]) -> bool:
        """Write `status` plus updated_ts if it changed or the heartbeat is due; False if not
        written (unchanged, or the disk refused: logged, and tried again next time)."""
        now = self._clock()
        if self._written is not None:
            last, at = self._written
            if last == status and now - at < self._heartbeat_s:
                return False
        tmp = self.path.with_suffix(".tmp")
        try:
            tmp.write_text(json.dumps({**status, "updated_ts": time.time()}))
            tmp.replace(self.path)
        except OSError as exc:
            log.warning("cannot write %s: %s", self.path, exc)
            return False
        self._written = (dict(status), now)
        return True


class State(enum.Enum):
    STARTING = "starting"
    RUNNING = "running"
    RESTARTING = "restarting"
    STOPPING = "stopping"


class Daemon:
    """One microphone, one model, one broker connection."""

    def __init__(self, settings: Settings, check_reload: Callable[[], str] | None = None) -> None:
        self.settings = settings
        self.state = State.STARTING
        self._stop = threading.Event()
        # SIGHUP: `check_reload` reads the configuration again and checks it (raising what is
        # wrong); if it passes, run() stops cleanly and sets `reexec` for the CLI to start over.
        self._check_reload = check_reload
        self._reload_asked = False
        self._wake = threading.Event()  # the main loop: a stop or a reload
        self.reexec = False
        if check_reload is not None:  # now: SIGHUP's default would end the daemon for good
            signal.signal(signal.SIGHUP, self.request_reload)  # (systemd does not restart it)
        self._notifier = Notifier()
        self._lock = threading.Lock()
        self.muted = False
        self.microphone_silent = False  # only zero samples for audio.silence_warning_s
        self._sound_at = time.monotonic()  # the last chunk with a non-zero sample (or an open)
        self._silent_told_at = 0.0
        self.overruns = 0
        self.mic_restarts = 0
        self._mic_name = "-"
        self._heartbeat = time.monotonic()
        self._started = time.monotonic()
        # Loading can fail with ConfigError/ModelError/BackendError: the CLI maps them to exit 78.
        model_dir = settings.model.path or default_model_dir()
        self.spec: ModelSpec = load_spec(model_dir)
        # The microphone opens before the model loads: PortAudio's device scan maps every ALSA
        # plugin for a moment (released once the stream is open), and done first that moment
        # does not add to the runtime's memory. Unavailable now, the capture loop retries.
        self._mic: MicrophoneSource | None = None
        with contextlib.suppress(AudioError):
            self._mic = self._open_mic()
        try:
            self._load(settings)
        except BaseException:
            if self._mic is not None:
                self._mic.close()
            raise

    def _load(self, settings: Settings) -> None:
        backend = load_backend(self.spec, settings.model.backend, settings.model.threads)
        self.recognizer = Recognizer(
            self.spec, backend, settings.decoder, settings.model.thresholds
        )
        # What a null threshold on the set topic puts back: the config's over the model's.
        self._configured = self.recognizer.decoder.thresholds()
        state_dir, status_dir = settings.outbox.state_dir, settings.outbox.status_folder
        folders = {state_dir: "outbox.state_dir"}
        folders.setdefault(status_dir, "outbox.status_dir")
        for folder, key in folders.items():
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:  # the outbox then keeps commands in memory (and says so)
                log.error("%s: cannot create %s: %s", key, folder, exc)
        self._status = StatusFile(status_dir / STATUS_FILE)
        self._mute = MuteFile(state_dir)
        self.muted = self._mute.load()
        if self.muted:
            log.warning(
                "muted, as set over MQTT before this start: commands are heard but not"
                ' published until {"muted": false} arrives on the set topic'
            )
        spec = self.spec
        self._thresholds = ThresholdFile(state_dir, spec.name, spec.version, spec.files)
        self._set_thresholds = self._thresholds.load(spec.commands)  # over MQTT, still holding
        for label, value in self._set_thresholds.items():
            self.recognizer.decoder.set_threshold(label, value)
        if self._set_thresholds:
            log.info(
                "thresholds set over MQTT before this start: %s (configured: %s); a null"
                " threshold on the set topic puts the configured one back",
                ", ".join(f"{k} {v:.2f}" for k, v in self._set_thresholds.items()),
                ", ".join(f"{k} {self._configured[k]:.2f}" for k in self._set_thresholds),
            )
        log.info("decoder: %s", self.recognizer.describe())
        self.outbox = Outbox(
            state_dir / "outbox.sqlite", settings.outbox.max_messages, settings.outbox.max_age_s
        )
        info = DeviceInfo(
            model=self.spec.name,
            model_version=self.spec.version,
            commands=self.spec.commands,
            sw_version=__version__,
        )
        self.publisher = Publisher(settings.mqtt, self.outbox, info, self._on_control)

    def _open_mic(self) -> MicrophoneSource:
        audio = self.settings.audio
        return MicrophoneSource(
            audio.device,
            audio.sample_rate_hz,
            self.spec.frontend.sample_rate_hz,
            audio.chunk_ms,
            audio.ring_s,
            audio.stall_timeout_s,
            audio.realtime_priority,
            max_read_chunks=audio.idle_read_chunks,
            capture=audio.capture,
        )

    # --- control from MQTT (publisher's network thread) -------------------------------------
    def _on_control(self, control: Control) -> None:
        # Saved first, so that a restart right after keeps it; outside the lock, which the
        # listening thread takes, since a slow disk can hold an fsync for a second.
        if control.muted is not None:
            self._mute.save(control.muted)
        if control.thresholds:
            changed = {**self._set_thresholds, **control.thresholds}
            self._set_thresholds = {k: v for k, v in changed.items() if v is not None}
            self._thresholds.save(self._set_thresholds)
        with self._lock:
            if control.muted is not None:
                self.muted = control.muted
                log.info("control: muted=%s", self.muted)
            for label, value in (control.thresholds or {}).items():
                if value is None:
                    value = self._configured[label]
                    log.info("control: threshold %s back to the configured %.3f", label, value)
                else:
                    log.info("control: threshold %s=%.3f", label, value)
                self.recognizer.decoder.set_threshold(label, value)
        self._publish_state()

    def _publish_state(self) -> None:
        """The retained state document as it now is: mute, thresholds, a silent microphone."""
        with self._lock:
            muted, thresholds = self.muted, self.recognizer.decoder.thresholds()
        self.publisher.publish_state(muted, thresholds, self.microphone_silent)

    # --- lifecycle ---------------------------------------------------------------------------
    def request_stop(self, signum: int | None = None, _frame: FrameType | None = None) -> None:
        if signum is not None:
            log.info("received %s, stopping", signal.Signals(signum).name)
        self._stop.set()
        self._wake.set()

    def request_reload(self, _signum: int | None = None, _frame: FrameType | None = None) -> None:
        self._reload_asked = True
        self._wake.set()

    def _reload(self) -> None:
        """Check the configuration as it now is; if it passes, stop for the CLI to re-exec."""
        assert self._check_reload is not None
        log.info("received SIGHUP: checking the configuration")
        held = self.publisher.pending
        if self.outbox.degraded and held:  # memory only: a restart would lose them
            log.error(
                "reload refused, still running as before: %d undelivered command(s) are held"
                " in memory only (outbox: %s) and would be lost; reload once they are"
                " delivered or the state directory is writable again",
                held,
                self.outbox.degraded_reason,
            )
            return
        try:
            what = self._check_reload()
        except Exception as exc:  # whatever is wrong, the daemon goes on as it was
            log.error("reload refused, still running as before: %s", exc)
            return
        log.info("configuration ok (%s); restarting in place to apply it", what)
        self._notifier.notify("RELOADING=1\nSTATUS=reloading")
        self.reexec = True
        self.request_stop()

    def run(self) -> int:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self.request_stop)
        if self.settings.audio.lock_memory:
            _lock_memory()
        if self.settings.audio.realtime_priority > 0:
            guard_realtime()
        self.publisher.start()
        self._publish_state()
        capture = threading.Thread(target=self._capture_loop, name="capture", daemon=True)
        capture.start()
        self.state = State.RUNNING
        self._write_status()
        self._notifier.notify("READY=1\nSTATUS=listening")
        log.info(
            "ready in %.0f ms: model %s %s, commands: %s",
            (time.monotonic() - self._started) * 1000,
            self.spec.name,
            self.spec.version,
            ", ".join(self.spec.commands),
        )
        tick = min(STATUS_EVERY_S, (self._notifier.watchdog_s or 3 * STATUS_EVERY_S) / 3)
        while not self._stop.is_set():
            self._wake.wait(tick)
            self._wake.clear()
            if self._reload_asked and not self._stop.is_set():
                self._reload_asked = False
                self._reload()
            if not self._stop.is_set():
                self._report()
        self.state = State.STOPPING
        self._notifier.notify("STOPPING=1\nSTATUS=stopping")
        capture.join(timeout=self.settings.audio.stall_timeout_s + 2)
        if self._mic is not None:  # stopped before the capture loop took it
            self._mic.close()
        self.publisher.stop(flush_timeout_s=5.0)
        self.outbox.close()
        self._write_status()
        self._notifier.close()
        log.info("stopped")
        return 0

    def _report(self) -> None:
        self._check_silence()
        self._write_status()
        status = self.status_line()
        self._notifier.notify(f"STATUS={status}")
        # Only pet the watchdog while audio is flowing or being recovered: a wedged capture
        # thread then gets the service restarted by systemd.
        if time.monotonic() - self._heartbeat < self.settings.audio.stall_timeout_s * 3 + 15:
            self._notifier.notify("WATCHDOG=1")

    def status_line(self) -> str:
        return (
            f"{self.state.value}; mic {self._mic_name}; mqtt "
            f"{'connected' if self.publisher.connected else 'DISCONNECTED'}; "
            f"pending {self.publisher.pending}; detections {self.recognizer.times.detections}; "
            f"overruns {self.overruns}{'; MUTED' if self.muted else ''}"
            f"{'; MICROPHONE SILENT' if self.microphone_silent else ''}"
        )

    def _write_status(self) -> None:
        status = {
            "state": self.state.value,
            "pid": os.getpid(),
            "microphone": self._mic_name,
            "mqtt_connected": self.publisher.connected,
            "outbox_pending": self.publisher.pending,
            "outbox_degraded": self.outbox.degraded,
            "detections": self.recognizer.times.detections,
            "overruns": self.overruns,
            "mic_restarts": self.mic_restarts,
            "muted": self.muted,
            "microphone_silent": self.microphone_silent,
        }
        self._status.write(status)

    def _check_silence(self) -> None:
        """Warn once when the microphone has given only zero samples for
        audio.silence_warning_s (a live one always hears some noise: this one is muted or not
        the input meant) and say when sound is back; status.json, the systemd status and the
        MQTT state document carry the flag."""
        limit, now = self.settings.audio.silence_warning_s, time.monotonic()
        silent_s = now - self._sound_at
        if self.microphone_silent:  # until any sound since the warning, however short
            silent = self.state is State.RUNNING and self._sound_at < self._silent_told_at
        else:
            silent = limit > 0 and self.state is State.RUNNING and silent_s >= limit
        if silent == self.microphone_silent:
            return
        self.microphone_silent = silent
        if silent:
            self._silent_told_at = now
            log.warning(
                "microphone %r has given only zero samples for %.0f s: it is muted (a mute"
                " switch, the capture switch in alsamixer, pactl set-source-mute) or not the"
                " input meant (audio.device; `edge-asr devices` lists them); still listening",
                self._mic_name,
                silent_s,
            )
        elif self.state is State.RUNNING:
            log.info("microphone %r hears sound again", self._mic_name)
        self._publish_state()

    # --- capture + recognition thread ---------------------------------------------------------
    def _capture_loop(self) -> None:
        name_this_thread("edge-asr-listen")
        backoff = 0.5
        while not self._stop.is_set():
            try:
                mic, self._mic = self._mic or self._open_mic(), None
            except AudioError as exc:
                self._heartbeat = time.monotonic()
                log.warning("microphone unavailable: %s; retrying in %.1f s", exc, backoff)
                backoff = self._restart_after(backoff)
                continue
            except Exception:  # PortAudio failing to start, say: retried, never the end
                self._heartbeat = time.monotonic()
                log.exception("cannot open the microphone; retrying in %.1f s", backoff)
                backoff = self._restart_after(backoff)
                continue
            self._mic_name = mic.device_name
            self._set_state(State.RUNNING)
            opened = time.monotonic()
            try:
                # Opened before the model loaded, the microphone has been filling its buffer
                # (the ring, or PortAudio's when polled): that audio predates listening, and a
                # slow start may have overrun it; neither is counted against the listener.
                mic.drain()
                self._sound_at = time.monotonic()  # a new stream's silence counts from here
                self._listen(mic)
                backoff = 0.5
            except AudioError as exc:
                self.mic_restarts += 1
                if time.monotonic() - opened >= MIC_SETTLED_S:  # it worked a while: at once
                    log.warning("microphone lost: %s; reopening", exc)
                    self._set_state(State.RESTARTING)
                    backoff = 0.5
                else:  # one that fails as soon as it opens is retried with backoff
                    log.warning("microphone lost: %s; reopening in %.1f s", exc, backoff)
                    self._heartbeat = time.monotonic()
                    backoff = self._restart_after(backoff)
            except Exception:  # a bug in a stage must not silently end recognition
                self.mic_restarts += 1
                if time.monotonic() - opened >= MIC_SETTLED_S:  # not a loop of failures
                    backoff = 0.5
                log.exception("recognition failed; restarting capture in %.1f s", backoff)
                backoff = self._restart_after(backoff)
            finally:
                mic.close()
                self.recognizer.reset()

    def _restart_after(self, backoff: float) -> float:
        """Say RESTARTING, wait `backoff` (less if stopped meanwhile); the next, longer wait."""
        self._set_state(State.RESTARTING)
        self._stop.wait(backoff)
        return min(backoff * 2, self.settings.audio.reopen_backoff_max_s)

    def _listen(self, mic: MicrophoneSource) -> None:
        logged_rt: str | None = None
        idle_chunks = self.settings.audio.idle_read_chunks
        overruns = mic.overruns  # drain() forgot what came before listening
        while not self._stop.is_set():
            chunk = mic.read(idle_chunks if self.recognizer.idle else 1)
            if chunk is None:
                return
            self._heartbeat = time.monotonic()
            seen = mic.overruns  # once: PortAudio's thread may add to it meanwhile
            if seen != overruns:
                self.overruns += seen - overruns
                overruns = seen
                log.warning(
                    "capture overrun: audio was lost (%d so far); the listener fell behind the "
                    "device's buffer%s",
                    self.overruns,
                    ' (audio.capture = "callback" buffers ring_s)'
                    if mic.capture == "poll"
                    else "; raise audio.ring_s",
                )
            if mic.realtime != logged_rt and mic.realtime is not None:
                logged_rt = mic.realtime  # set by the capturing thread; it may drop real time
                if mic.realtime.startswith("fifo"):
                    log.info("capture thread scheduled %s", mic.realtime)
                else:
                    log.warning("capture thread not real-time: SCHED_FIFO %s", mic.realtime)
            with self._lock:
                detections = self.recognizer.feed(chunk)
                muted = self.muted
            if self.recognizer.quiet_peak != 0:  # a sample not zero, or sound in the window
                self._sound_at = self._heartbeat
            if not detections:
                continue
            now = time.time()
            fed_s = self.recognizer.fed_s  # stream time, as detections are: restarts on reopen
            for detection in detections:
                self._emit(detection, now - (fed_s - detection.end_s), now, muted)

    def _emit(self, det: Detection, end_ts: float, now: float, muted: bool) -> None:
        if muted:
            log.info("heard %s (%.2f) while muted: not published", det.command, det.score)
            return
        event = CommandEvent(
            id=uuid.uuid4().hex,
            command=det.command,
            score=round(det.score, 4),
            start_ts=round(end_ts - (det.end_s - det.start_s), 3),
            end_ts=round(end_ts, 3),
            model=self.spec.name,
            model_version=self.spec.version,
            device_id=self.settings.mqtt.device_id,
        )
        self.publisher.submit(event)
        log.info(
            "heard %s (%.2f), %.0f ms after the window end",
            det.command,
            det.score,
            (now - end_ts) * 1000,
        )

    def _set_state(self, state: State) -> None:
        if self.state is not state and self.state is not State.STOPPING:
            self.state = state
            self._notifier.notify(f"STATUS={self.status_line()}")


MCL_CURRENT, MCL_FUTURE, MCL_ONFAULT = 1, 2, 4


def _lock_memory() -> None:
    """Keep the process resident; ONFAULT so untouched mappings (thread stacks) stay unbacked."""
    if libc().mlockall(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT) != 0:
        err = ctypes.get_errno()
        log.warning(
            "mlockall failed (%s): audio may stall under memory pressure; raise LimitMEMLOCK"
            " or set audio.lock_memory = false",
            os.strerror(err),
        )


def read_status(folder: Path) -> dict[str, Any]:
    """The status a daemon last wrote into `folder` (its outbox.status_folder)."""
    return dict(json.loads((folder / STATUS_FILE).read_text()))
