"""MQTT publisher: delivers outbox entries in order (QoS 1), presence, discovery, control topic."""

from __future__ import annotations

import logging
import math
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, LogLevel, MQTTErrorCode
from paho.mqtt.reasoncodes import ReasonCode

from .config import MqttSettings
from .libc import name_this_thread
from .messages import (
    STATUS_OFFLINE,
    STATUS_ONLINE,
    CommandEvent,
    Control,
    ControlError,
    DeviceInfo,
    Topics,
    discovery_configs,
    error_payload,
    state_payload,
)
from .outbox import Entry, Outbox
from .outbox_writer import OutboxWriter

log = logging.getLogger(__name__)
paho_log = logging.getLogger(f"{__name__}.paho")

SEND_BATCH = 32
CLOCK_STEP_S = 1.0  # a wall-clock step larger than this moves a queued command's times
ACK_POLL_S = 0.2
IDLE_WAKE_S = 5.0  # the sender also wakes this often, so expired entries get dropped
# A flood of malformed control messages must not flood the log or the broker: per window, the
# first few rejections are logged and answered on the error topic, the rest only counted.
REJECTS_TOLD_PER_WINDOW = 10
REJECT_WINDOW_S = 60.0
# Connections the broker closes this soon after accepting them, several in a row, are another
# client taking over our client id (at least 3 x reconnect_min_s: the other side's retry delay).
SHORT_SESSION_S = 10.0
SHORT_SESSIONS_TOLD = 3
# How paho 2.x starts the ERROR lines it logs as it loses a connection by a socket error.
SOCKET_LOST = ("failed to receive on socket", "timeout on socket")


class PublisherError(Exception):
    """A publisher that cannot be built from its settings; the message names the key or file."""


class _ShortSessions:
    """Connections the broker closed soon after accepting them, counted in a row. Under MQTT
    3.1.1 that is all a client sees of another one connecting with its client id: the broker
    closes the older connection, which reconnects a second later and closes the other's, in a
    loop that goes on for as long as both run (two devices cloned from one SD card image keep
    one hostname, the default device_id)."""

    def __init__(self, short_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.short_s = short_s
        self._clock = clock
        self._lock = threading.Lock()  # paho's thread and the sender's
        self._since: float | None = None
        self.in_a_row = 0

    def accepted(self) -> None:
        with self._lock:
            self._since = self._clock()

    def closed(self) -> float | None:
        """A connection the broker closed: how long it lasted (None if none was accepted)."""
        with self._lock:
            if self._since is None:
                return None
            lived, self._since = self._clock() - self._since, None
            self.in_a_row = self.in_a_row + 1 if lived < self.short_s else 0
            return lived

    def held(self) -> float | None:
        """While looping: if the current connection has lasted short_s, the loop is over; how
        long it has lasted then, else None."""
        with self._lock:
            if self.in_a_row < SHORT_SESSIONS_TOLD or self._since is None:
                return None
            lived = self._clock() - self._since
            if lived < self.short_s:
                return None
            self.in_a_row = 0
            return lived

    @property
    def looping(self) -> bool:
        return self.in_a_row >= SHORT_SESSIONS_TOLD


class _RejectBudget:
    """How many rejections to tell one by one: at most `told` per window of `window_s`
    (the window opens at the first rejection after the last one closed)."""

    def __init__(self, told: int, window_s: float) -> None:
        self.told, self.window_s = told, window_s
        self._lock = threading.Lock()
        self._opened = -math.inf
        self._used = 0
        self.untold = 0  # rejected since the last one told

    def take(self) -> tuple[bool, int]:
        """(tell this one?, how many went untold before it: reset once told)."""
        with self._lock:
            now = time.monotonic()
            if now - self._opened >= self.window_s:
                self._opened, self._used = now, 0
            if self._used >= self.told:
                self.untold += 1
                return False, 0
            self._used += 1
            untold, self.untold = self.untold, 0
            return True, untold


class Publisher:
    """Owns one paho client (network thread), one sender thread and the outbox's writer thread.

    The caller builds it, calls `start()`, `submit()`s events from any thread and `stop()`s it.
    The outbox belongs to the caller: `stop()` does not close it.
    """

    def __init__(
        self,
        settings: MqttSettings,
        outbox: Outbox,
        info: DeviceInfo,
        on_control: Callable[[Control], None],
    ) -> None:
        self._settings = settings
        self._outbox = outbox
        self._info = info
        self._on_control = on_control
        self.topics = Topics(settings.prefix, settings.device_id)
        self._broker = f"{settings.host}:{settings.port}"
        self._connected = threading.Event()
        self._stopping = threading.Event()
        self._wake = threading.Event()
        self._writer = OutboxWriter(outbox, stored=self._wake.set)
        self._state_lock = threading.Lock()
        self._rejects = _RejectBudget(REJECTS_TOLD_PER_WINDOW, REJECT_WINDOW_S)
        self._state: bytes | None = None
        self._sender: threading.Thread | None = None
        self._unreachable_logged = False
        self._socket_error: str | None = None  # paho's last word on a lost connection
        self._short = _ShortSessions(max(SHORT_SESSION_S, 3 * settings.reconnect_min_s))
        self._control_mid: int | None = None
        # Outbox seq -> paho's message for it: paho keeps a QoS 1 message it was given until
        # the broker acknowledges it, and sends it again itself after a reconnect, so an entry
        # it holds is waited for, not published again (sender thread only).
        self._handed: dict[int, mqtt.MQTTMessageInfo] = {}

        client_id = self._client_id = settings.client_id or f"edge-asr-{settings.device_id}"
        # clean_session: the outbox, not the broker session, is what makes delivery durable;
        # subscriptions are renewed on every connect.
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=True
        )
        self._client.on_log = self._on_log
        if settings.password_file is not None:
            if not settings.username:
                raise PublisherError("mqtt.password_file is set but mqtt.username is not")
            self._client.username_pw_set(settings.username, _read_password(settings.password_file))
        elif settings.username:
            self._client.username_pw_set(settings.username)
        if settings.tls is not None:
            tls = settings.tls
            for key, path in (
                ("ca_file", tls.ca_file),
                ("cert_file", tls.cert_file),
                ("key_file", tls.key_file),
            ):
                if path is not None and not path.is_file():
                    raise PublisherError(f"mqtt.tls.{key} {path}: not found")
            if (tls.cert_file is None) != (tls.key_file is None):
                raise PublisherError("mqtt.tls.cert_file and mqtt.tls.key_file go together")
            try:
                self._client.tls_set(
                    ca_certs=_str_or_none(tls.ca_file),
                    certfile=_str_or_none(tls.cert_file),
                    keyfile=_str_or_none(tls.key_file),
                    cert_reqs=ssl.CERT_REQUIRED,
                )
            except (OSError, ssl.SSLError) as exc:
                raise PublisherError(f"mqtt.tls: cannot load certificates: {exc}") from None
            self._client.tls_insecure_set(tls.insecure)
        self._client.will_set(self.topics.status, STATUS_OFFLINE, qos=1, retain=True)
        # paho takes whole seconds; it sleeps with floats, but its signature says int.
        self._client.reconnect_delay_set(
            min_delay=max(1, math.ceil(settings.reconnect_min_s)),
            max_delay=max(1, math.ceil(settings.reconnect_max_s)),
        )
        self._client.on_connect = self._on_connect
        self._client.on_connect_fail = self._on_connect_fail
        self._client.on_disconnect = self._on_disconnect
        self._client.on_subscribe = self._on_subscribe
        self._client.on_message = self._on_message

    # -- public API ---------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    @property
    def pending(self) -> int:
        """Commands not yet acknowledged by the broker."""
        return len(self._outbox) + len(self._writer)

    def start(self) -> None:
        """Begin connecting (in the background, retried with backoff) and delivering."""
        s = self._settings
        log.info("MQTT broker %s, topics under %s/", self._broker, self.topics.base)
        self._client.connect_async(s.host, s.port, keepalive=s.keepalive_s)
        self._client.loop_start()
        self._writer.start()
        self._sender = threading.Thread(target=self._send_loop, name="mqtt-sender", daemon=True)
        self._sender.start()
        if len(self._outbox):
            self._wake.set()

    def submit(self, event: CommandEvent) -> None:
        """Queue a command for delivery. Thread-safe; while started, waits on neither the network
        nor the disk (the outbox's writer thread stores it, then the sender delivers it)."""
        self._writer.put(self.topics.command, event.to_record(), created_ts=event.end_ts)

    def publish_state(
        self, muted: bool, thresholds: dict[str, float], microphone_silent: bool = False
    ) -> None:
        """Set the retained state document (published now if connected, else on connect)."""
        payload = state_payload(muted, thresholds, microphone_silent)
        with self._state_lock:
            self._state = payload
        if self.connected:
            self._client.publish(self.topics.state, payload, qos=1, retain=True)

    def stop(self, flush_timeout_s: float = 5.0) -> None:
        """Deliver what is pending within the timeout, say `offline`, disconnect, join threads.

        Waits for the flush only while connected: with the broker away nothing can be delivered
        (what is pending stays in the outbox for the next start), so a stop during an outage
        does not spend flush_timeout_s of systemd's TimeoutStopSec waiting for nothing."""
        deadline = time.monotonic() + flush_timeout_s
        while self.pending and self.connected and time.monotonic() < deadline:
            self._wake.set()
            time.sleep(0.05)
        self._writer.stop()  # what is still queued goes into the outbox, for the next start
        if len(self._outbox):
            log.warning(
                "stopping with %d undelivered command(s); kept in the outbox", len(self._outbox)
            )
        self._stopping.set()
        self._wake.set()
        if self._rejects.untold:
            self._tell_untold(self._rejects.untold)
        if self._sender is not None:
            self._sender.join(timeout=max(1.0, deadline - time.monotonic()) + 1.0)
        # paho's view, not `connected` (set on the SUBACK): `online` goes out on the CONNACK,
        # and a clean disconnect in between would leave it retained with no will to undo it.
        if self._client.is_connected():
            info = self._client.publish(self.topics.status, STATUS_OFFLINE, qos=1, retain=True)
            try:
                info.wait_for_publish(timeout=max(0.5, deadline - time.monotonic()))
            except (RuntimeError, ValueError) as exc:
                log.warning("could not publish offline status: %s", exc)
        self._client.disconnect()
        self._client.loop_stop()
        self._connected.clear()

    # -- sender thread ------------------------------------------------------------------------

    def _send_loop(self) -> None:
        name_this_thread("edge-asr-mqtt")
        while not self._stopping.is_set():
            self._wake.wait(timeout=IDLE_WAKE_S)
            self._wake.clear()
            held = self._short.held()
            if held is not None:
                self._tell_held(held)
            try:
                self._drain()
            except Exception:  # a bug here must not silently end delivery
                log.exception("MQTT sender failed; retrying")
                time.sleep(1.0)

    def _drain(self) -> None:
        """Deliver from the oldest entry on, one at a time; stop at the first undelivered."""
        if not self.connected:
            self._outbox.peek(0)  # still expire old entries while offline
            return
        while self.connected and not self._stopping.is_set():
            entries = self._outbox.peek(SEND_BATCH)
            if not entries:
                return
            for entry in entries:
                if not self._deliver(entry):
                    return  # resumes from this entry after the next connect
                self._outbox.ack(entry.seq)

    def _deliver(self, entry: Entry) -> bool:
        """Publish one entry at QoS 1 (once per process: paho resends what it holds after a
        reconnect) and wait for its PUBACK while the connection lasts."""
        info = self._handed.get(entry.seq)
        if info is None:
            info = self._client.publish(entry.topic, self._render(entry), qos=1)
            if info.rc == MQTTErrorCode.MQTT_ERR_NO_CONN:
                # The connection fell in between: paho queued the message all the same and
                # sends it on reconnect, but leaves this code on its info for good, which
                # would make is_published() raise once the broker has acknowledged it.
                info.rc = MQTTErrorCode.MQTT_ERR_SUCCESS
            elif info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
                return False  # not queued (paho's queue limit): published again next time
            self._handed[entry.seq] = info
        while not info.is_published():
            if not self.connected or self._stopping.is_set():
                return False
            info.wait_for_publish(timeout=ACK_POLL_S)
        for seq in [s for s in self._handed if s <= entry.seq]:  # and any expired meanwhile
            del self._handed[seq]
        return True

    def _render(self, entry: Entry) -> bytes:
        try:
            event = CommandEvent.from_record(entry.payload)
        except (ValueError, TypeError):
            return entry.payload  # not a command record: send as stored
        age = self._outbox.age_s(entry)
        step = time.time() - age - event.end_ts
        if abs(step) > CLOCK_STEP_S:
            # The wall clock stepped since it was recognized (NTP's first sync on a device
            # without RTC): give its times on the clock as it reads now, as any other command.
            log.debug("command %s: clock stepped %+.1f s since it was heard", event.id, step)
            event = replace(event, start_ts=event.start_ts + step, end_ts=event.end_ts + step)
        return event.to_payload(latency_ms=age * 1000.0)

    # -- paho callbacks (network thread; must never raise) -------------------------------------

    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.ConnectFlags,
        reason_code: ReasonCode,
        properties: Any,
    ) -> None:
        if reason_code.is_failure:
            log.error(
                "MQTT broker %s refused the connection: %s (reason_code %s, user %r); retrying",
                self._broker,
                reason_code,
                reason_code.value,
                self._settings.username,
            )
            return
        try:
            # While another client keeps taking our connection, the reconnects are not news.
            level = logging.DEBUG if self._short.looping else logging.INFO
            log.log(level, "connected to MQTT broker %s", self._broker)
            self._short.accepted()
            self._unreachable_logged = False
            t = self.topics
            client.publish(t.status, STATUS_ONLINE, qos=1, retain=True)
            if self._settings.discovery:
                prefix = self._settings.discovery_prefix
                for topic, config in discovery_configs(prefix, t, self._info).items():
                    client.publish(topic, config, qos=1, retain=True)
            with self._state_lock:
                state = self._state
            if state is not None:
                client.publish(t.state, state, qos=1, retain=True)
            # `connected` is set on the SUBACK, so that once it reads True control messages
            # are already being listened to.
            _, self._control_mid = client.subscribe(t.control, qos=1)
        except Exception:
            log.exception("MQTT on_connect handler failed")

    def _on_subscribe(
        self,
        client: mqtt.Client,
        userdata: Any,
        mid: int,
        reason_codes: list[ReasonCode],
        properties: Any,
    ) -> None:
        if mid != self._control_mid:
            return
        if any(rc.is_failure for rc in reason_codes):
            log.warning(
                "MQTT broker %s refused the subscription to %s (%s); control disabled",
                self._broker,
                self.topics.control,
                ", ".join(str(rc) for rc in reason_codes),
            )
        self._connected.set()
        self._wake.set()

    def _on_connect_fail(self, client: mqtt.Client, userdata: Any) -> None:
        if not self._unreachable_logged:
            log.warning("cannot reach MQTT broker %s; retrying with backoff", self._broker)
            self._unreachable_logged = True

    def _on_disconnect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.DisconnectFlags,
        reason_code: ReasonCode,
        properties: Any,
    ) -> None:
        was_connected = self._connected.is_set()
        socket_error, self._socket_error = self._socket_error, None
        self._connected.clear()
        self._wake.set()
        if self._stopping.is_set():
            return
        was_looping = self._short.looping
        lived = self._short.closed()
        if self._short.looping and not was_looping:
            c = self._settings
            log.error(
                "MQTT broker %s closed the connection within %.0f s of accepting it %d times in"
                " a row: most likely another client connects with this client id %r, such as"
                " a second device with mqtt.device_id %r (default: the hostname, which cloned"
                " SD cards share). Give each device its own mqtt.device_id; if none shares it,"
                " see the broker's log. Until a connection holds, reconnects are logged at DEBUG",
                self._broker,
                self._short.short_s,
                self._short.in_a_row,
                self._client_id,
                c.device_id,
            )
            return
        if was_looping and not self._short.looping:
            self._tell_held(lived)
        if was_connected:
            # paho names a dropped connection (socket closed or reset) "Unspecified error".
            reason = str(reason_code)
            lost = "connection lost" + (f": {socket_error}" if socket_error else "")
            log.log(
                logging.DEBUG if self._short.looping else logging.WARNING,
                "lost MQTT broker %s (%s); %d command(s) pending, reconnecting",
                self._broker,
                lost if reason == "Unspecified error" else reason,
                self.pending,
            )

    def _tell_held(self, lived: float | None) -> None:
        log.warning(
            "MQTT connection to %s held %.0f s: no other client is taking it any more",
            self._broker,
            lived or 0.0,
        )

    def _on_log(self, client: mqtt.Client, userdata: Any, level: int, buf: str) -> None:
        level_std = mqtt.LOGGING_LEVEL.get(LogLevel(level), logging.WARNING)
        away = self._stopping.is_set() or not self._connected.is_set()
        if away and buf.startswith("Client is not connected"):
            # paho 2.2 says this at ERROR on every pass of its network loop without a socket:
            # each reconnect attempt while the broker is away, and once more after our own
            # DISCONNECT. The outage is already told once, as warnings; this is not an error.
            level_std = logging.DEBUG
        elif buf.startswith(SOCKET_LOST):
            # A connection reset or timed out: paho says so at ERROR, then calls on_disconnect,
            # which tells it once, as a warning (at DEBUG while another client takes it).
            self._socket_error = buf
            level_std = logging.DEBUG
        paho_log.log(level_std, "%s", buf)

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        try:
            if message.topic == self.topics.control:
                self._handle_control(bytes(message.payload))
        except Exception:
            log.exception("handling MQTT message on %s failed", message.topic)

    def _handle_control(self, payload: bytes) -> None:
        try:
            control = Control.parse(payload, self._info.commands)
        except ControlError as exc:
            tell, untold = self._rejects.take()
            if not tell:
                return
            if untold:
                self._tell_untold(untold)
            log.warning("rejected control message on %s: %s", self.topics.control, exc)
            self._client.publish(
                self.topics.error, error_payload(str(exc), self.topics.control, payload), qos=1
            )
            return
        log.info("control: %s", control.model_dump(exclude_none=True))
        try:
            self._on_control(control)
        except Exception:
            log.exception("applying control message failed")
        with self._state_lock:
            state = self._state
        if state is not None:
            self._client.publish(self.topics.state, state, qos=1, retain=True)

    def _tell_untold(self, count: int) -> None:
        log.warning(
            "rejected %d more control message(s) on %s, neither logged nor answered"
            " (more than %d in %.0f s)",
            count,
            self.topics.control,
            self._rejects.told,
            self._rejects.window_s,
        )


def _read_password(path: Path) -> str:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise PublisherError(f"mqtt.password_file {path}: cannot read ({reason})") from None
    return text.rstrip("\r\n")


def _str_or_none(path: Path | None) -> str | None:
    return None if path is None else str(path)
