"""The publisher against a real mosquitto: delivery, presence, discovery, control, outages, auth."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from mqtt_broker import MosquittoBroker, Subscriber, TlsFiles, make_password_file
from repo import ROOT
from tcp_relay import TcpRelay
from waiting import wait_for

from edge_asr import publisher as publisher_module
from edge_asr.config import MqttSettings, TlsSettings
from edge_asr.messages import CommandEvent, Control, DeviceInfo, Topics
from edge_asr.outbox import Outbox
from edge_asr.publisher import Publisher, PublisherError

pytestmark = pytest.mark.mqtt

COMMANDS = ("on", "off", "stop")
INFO = DeviceInfo(model="kws", model_version="1.2.0", commands=COMMANDS, sw_version="0.1.0")
PASSWORD = "s3cret-Pa55-do-not-log"


def _settings(broker: MosquittoBroker, **overrides: Any) -> MqttSettings:
    fields: dict[str, Any] = dict(
        host=broker.host,
        port=broker.port,
        prefix="test",
        device_id=f"dev-{uuid.uuid4().hex[:8]}",
        keepalive_s=5,
        reconnect_min_s=1.0,
        reconnect_max_s=2.0,
    )
    fields.update(overrides)
    return MqttSettings(**fields)


def _event(settings: MqttSettings, command: str = "on") -> CommandEvent:
    now = time.time()
    return CommandEvent(
        command=command,
        score=0.9,
        start_ts=now - 0.8,
        end_ts=now - 0.1,
        model=INFO.model,
        model_version=INFO.model_version,
        device_id=settings.device_id,
    )


def _ids(sub: Subscriber, topic: str) -> list[str]:
    return [json.loads(m.payload)["id"] for m in sub.on(topic)]


@contextmanager
def _publisher(
    settings: MqttSettings,
    tmp_path: Path,
    on_control: Callable[[Control], None] = lambda control: None,
    *,
    wait_connected: bool = True,
) -> Iterator[tuple[Publisher, Outbox]]:
    outbox = Outbox(tmp_path / f"outbox-{uuid.uuid4().hex[:6]}.sqlite", 1000, 3600)
    publisher = Publisher(settings, outbox, INFO, on_control)
    publisher.start()
    try:
        if wait_connected:
            wait_for(lambda: publisher.connected, 10, "publisher to connect")
        yield publisher, outbox
    finally:
        publisher.stop(flush_timeout_s=2.0)
        outbox.close()


def test_command_arrives_with_documented_payload_at_qos1(
    mqtt_broker: MosquittoBroker, tmp_path: Path
) -> None:
    settings = _settings(mqtt_broker)
    topics = Topics(settings.prefix, settings.device_id)
    sub = Subscriber(mqtt_broker, [topics.command])
    try:
        with _publisher(settings, tmp_path) as (publisher, _):
            event = _event(settings)
            publisher.submit(event)
            message = sub.wait(topics.command)[0]
            wait_for(lambda: publisher.pending == 0, 5, "outbox to empty")
    finally:
        sub.close()
    assert message.qos == 1 and not message.retain
    body = json.loads(message.payload)
    assert body["id"] == event.id and body["command"] == "on"
    assert body["device_id"] == settings.device_id and body["model"] == "kws"
    assert body["start_ts"] == pytest.approx(event.start_ts, abs=1e-3)
    assert 100.0 <= body["latency_ms"] < 5000.0  # measured at send time from end_ts


def test_status_online_retained_and_offline_after_clean_stop(
    mqtt_broker: MosquittoBroker, tmp_path: Path
) -> None:
    settings = _settings(mqtt_broker)
    topics = Topics(settings.prefix, settings.device_id)
    with _publisher(settings, tmp_path):
        late = Subscriber(mqtt_broker, [topics.status])  # joins after: sees the retained copy
        status = late.wait(topics.status)[0]
        late.close()
    assert (status.payload, status.retain) == (b"online", True)
    after = Subscriber(mqtt_broker, [topics.status])
    stopped = after.wait(topics.status)[0]
    after.close()
    assert (stopped.payload, stopped.retain) == (b"offline", True)


def test_clean_stops_log_no_errors(
    mqtt_broker: MosquittoBroker, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A restart must not leave ERROR lines that an operator would chase (paho 2.2 logs its
    own post-DISCONNECT loop pass at ERROR; the publisher demotes that one while stopping)."""
    caplog.set_level(logging.DEBUG, logger="edge_asr")
    for _ in range(15):
        with _publisher(_settings(mqtt_broker), tmp_path) as (publisher, _):
            publisher.submit(_event(_settings(mqtt_broker)))
            wait_for(lambda: publisher.pending == 0, 5, "outbox to empty")
    loud = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert loud == []
    assert any(r.name == "edge_asr.publisher.paho" for r in caplog.records)  # paho log routed


_KILLABLE = """
import json, sys, time
from edge_asr.config import MqttSettings
from edge_asr.messages import DeviceInfo
from edge_asr.outbox import Outbox
from edge_asr.publisher import Publisher
settings = MqttSettings(**json.loads(sys.argv[1]))
info = DeviceInfo("kws", "1.2.0", ("on", "off"), "0.1.0")
publisher = Publisher(settings, Outbox(None, 100, 3600), info, lambda control: None)
publisher.start()
while not publisher.connected:
    time.sleep(0.02)
print("connected", flush=True)
time.sleep(600)
"""


def test_last_will_offline_when_process_is_killed(mqtt_broker: MosquittoBroker) -> None:
    settings = _settings(mqtt_broker)
    topics = Topics(settings.prefix, settings.device_id)
    sub = Subscriber(mqtt_broker, [topics.status])
    child = subprocess.Popen(
        [sys.executable, "-c", _KILLABLE, settings.model_dump_json()],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "connected"
        assert sub.wait(topics.status)[0].payload == b"online"
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=5)
        will = sub.wait(topics.status, count=2)[1]
    finally:
        if child.poll() is None:
            child.kill()
        child.wait()
        sub.close()
    assert will.payload == b"offline"
    late = Subscriber(mqtt_broker, [topics.status])
    retained = late.wait(topics.status)[0]
    late.close()
    assert (retained.payload, retained.retain) == (b"offline", True)


def test_home_assistant_discovery_published_retained(
    mqtt_broker: MosquittoBroker, tmp_path: Path
) -> None:
    settings = _settings(mqtt_broker)
    topics = Topics(settings.prefix, settings.device_id)
    config_topic = f"homeassistant/event/{settings.device_id}/command/config"
    with _publisher(settings, tmp_path):
        sub = Subscriber(mqtt_broker, [config_topic])
        message = sub.wait(config_topic)[0]
        sub.close()
    assert message.retain
    config = json.loads(message.payload)
    assert config["state_topic"] == topics.command
    assert config["event_types"] == list(COMMANDS)
    assert config["availability_topic"] == topics.status
    assert config["unique_id"] == f"edge-asr_{settings.device_id}_command"
    assert config["device"]["sw_version"] == "0.1.0"
    assert "event_type" in config["value_template"]


def test_home_assistant_muted_switch_mutes_through_the_broker(
    mqtt_broker: MosquittoBroker, tmp_path: Path
) -> None:
    """Every discovery config is retained on the broker; what the `Muted` switch sends to its
    command topic reaches on_control as a mute, and the state it reads then says ON."""
    jinja2 = pytest.importorskip("jinja2")
    settings = _settings(mqtt_broker)
    topics = Topics(settings.prefix, settings.device_id)
    device = settings.device_id
    config_topics = [
        f"homeassistant/event/{device}/command/config",
        f"homeassistant/switch/{device}/muted/config",
        f"homeassistant/binary_sensor/{device}/microphone_silent/config",
    ]
    received: list[Control] = []
    holder: list[Publisher] = []

    def on_control(control: Control) -> None:
        received.append(control)
        holder[0].publish_state(bool(control.muted), {"on": 0.5})

    sub = Subscriber(mqtt_broker, [*config_topics, topics.state])
    try:
        with _publisher(settings, tmp_path, on_control) as (publisher, _):
            holder.append(publisher)
            publisher.publish_state(False, {"on": 0.5})
            configs = {t: sub.wait(t)[0] for t in config_topics}
            later = Subscriber(mqtt_broker, config_topics)  # Home Assistant starting later
            try:
                assert all(later.wait(t)[0].retain for t in config_topics)
            finally:
                later.close()
            switch = json.loads(configs[config_topics[1]].payload)
            sub.client.publish(switch["command_topic"], switch["payload_on"], qos=1)
            wait_for(lambda: len(received) == 1, 5, "on_control")
            states = sub.wait(topics.state, count=2)
    finally:
        sub.close()
    assert received[0].muted is True
    template = jinja2.Environment().from_string(switch["value_template"])
    assert template.render(value_json=json.loads(states[-1].payload)) == switch["state_on"]


def test_valid_control_calls_on_control_and_republishes_state(
    mqtt_broker: MosquittoBroker, tmp_path: Path
) -> None:
    settings = _settings(mqtt_broker)
    topics = Topics(settings.prefix, settings.device_id)
    received: list[Control] = []
    holder: list[Publisher] = []

    def on_control(control: Control) -> None:
        received.append(control)
        holder[0].publish_state(bool(control.muted), {"on": 0.5})

    sub = Subscriber(mqtt_broker, [topics.state])
    try:
        with _publisher(settings, tmp_path, on_control) as (publisher, _):
            holder.append(publisher)
            publisher.publish_state(False, {"on": 0.5})
            assert json.loads(sub.wait(topics.state)[0].payload)["muted"] is False
            sub.client.publish(topics.control, b'{"muted": true}', qos=1)
            wait_for(lambda: len(received) == 1, 5, "on_control")
            states = sub.wait(topics.state, count=2)
    finally:
        sub.close()
    assert received[0].muted is True and received[0].thresholds is None
    assert json.loads(states[-1].payload) == {
        "muted": True,
        "thresholds": {"on": 0.5},
        "microphone_silent": False,
    }


BAD_CONTROLS = [
    b"not json at all",
    b'["muted"]',
    b'{"muted": "yes"}',
    b'{"thresholds": {"launch": 0.5}}',
    b'{"volume": 11}',
    b'{"muted": true, "pad": "' + b"x" * 5000 + b'"}',
]


def test_malformed_control_rejected_and_publisher_keeps_working(
    mqtt_broker: MosquittoBroker, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = _settings(mqtt_broker)
    topics = Topics(settings.prefix, settings.device_id)
    received: list[Control] = []
    sub = Subscriber(mqtt_broker, [topics.error, topics.command])
    try:
        with (
            caplog.at_level(logging.WARNING, logger="edge_asr.publisher"),
            _publisher(settings, tmp_path, received.append) as (publisher, _),
        ):
            for payload in BAD_CONTROLS:
                sub.client.publish(topics.control, payload, qos=1)
            errors = sub.wait(topics.error, count=len(BAD_CONTROLS))
            event = _event(settings, "stop")
            publisher.submit(event)
            arrived = sub.wait(topics.command)[0]
    finally:
        sub.close()
    assert received == []
    bodies = [json.loads(m.payload) for m in errors]
    assert all(b["topic"] == topics.control and b["error"] for b in bodies)
    assert [b["received"] for b in bodies] == [
        p.decode()[:200] for p in BAD_CONTROLS
    ]  # same order as sent
    assert "unknown command 'launch'" in bodies[3]["error"]
    assert "limit 4096" in bodies[5]["error"]
    rejected = [r for r in caplog.records if "rejected control" in r.getMessage()]
    assert len(rejected) == len(BAD_CONTROLS)
    assert all(r.levelno == logging.WARNING for r in rejected)
    assert json.loads(arrived.payload)["id"] == event.id


def test_control_flood_is_told_in_moderation_and_valid_control_still_works(
    mqtt_broker: MosquittoBroker,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # 50 malformed messages at once: the first 10 of the window are logged and answered, the
    # rest counted and told in one line with the next rejection after the window.
    monkeypatch.setattr(publisher_module, "REJECT_WINDOW_S", 3.0)
    settings = _settings(mqtt_broker)
    topics = Topics(settings.prefix, settings.device_id)
    received: list[Control] = []
    sub = Subscriber(mqtt_broker, [topics.error])
    try:
        with (
            caplog.at_level(logging.WARNING, logger="edge_asr.publisher"),
            _publisher(settings, tmp_path, received.append),
        ):
            flood_at = time.monotonic()
            for i in range(50):
                sub.client.publish(topics.control, b'{"volume": %d}' % i, qos=1)
            sub.client.publish(topics.control, b'{"muted": true}', qos=1)
            wait_for(lambda: len(received) == 1, 5, "the valid control message after the flood")
            answered_in_flood = len(sub.wait(topics.error, count=10))
            time.sleep(max(0.0, flood_at + 3.5 - time.monotonic()))
            assert len(sub.on(topics.error)) == answered_in_flood
            sub.client.publish(topics.control, b"not json", qos=1)
            last = sub.wait(topics.error, count=11)[-1]
    finally:
        sub.close()
    assert answered_in_flood == 10
    assert received[0].muted is True
    assert json.loads(last.payload)["received"] == "not json"
    told = [r.getMessage() for r in caplog.records if "rejected" in r.getMessage()]
    assert [m for m in told if "rejected control" in m] == told[:10] + told[-1:]
    assert len(told) == 12 and told[10].startswith("rejected 40 more control message(s)"), told


@pytest.mark.slow
def test_broker_outage_loses_and_reorders_nothing(
    mosquitto: Callable[..., MosquittoBroker], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="edge_asr")
    broker = mosquitto()
    settings = _settings(broker)
    topics = Topics(settings.prefix, settings.device_id)
    # A persistent session: the broker queues our copies while this subscriber reconnects.
    sub = Subscriber(broker, [topics.command], client_id="outage-sub", clean_session=False)
    submitted: list[str] = []
    try:
        with _publisher(settings, tmp_path) as (publisher, outbox):
            for command in ("on", "off"):
                event = _event(settings, command)
                publisher.submit(event)
                submitted.append(event.id)
            sub.wait(topics.command, count=2)

            broker.stop()
            wait_for(lambda: not publisher.connected, 5, "publisher to notice the outage")
            outage_end = time.monotonic() + 30.0
            for i in range(12):
                event = _event(settings, COMMANDS[i % 3])
                publisher.submit(event)
                submitted.append(event.id)
                time.sleep(max(0.0, (outage_end - time.monotonic()) / (12 - i)))
            assert publisher.pending == 12 and not publisher.connected
            broker.start()

            def all_arrived() -> bool:
                ids = {json.loads(m.payload)["id"] for m in sub.on(topics.command)}
                return set(submitted) <= ids

            wait_for(all_arrived, 30, "every command to arrive after the outage")
            wait_for(lambda: len(outbox) == 0, 5, "outbox to empty")
    finally:
        sub.close()
    first_seen: list[str] = []
    for message in sub.on(topics.command):
        event_id = json.loads(message.payload)["id"]
        if event_id not in first_seen:
            first_seen.append(event_id)
    assert first_seen == submitted
    # The outage is told once, as warnings, and not as an error every retry: paho 2.2 logs
    # "Client is not connected" at ERROR on each pass of its loop while it reconnects, ~15
    # times in these 30 s (every reconnect_max_s); the publisher demotes that to DEBUG.
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert errors == []
    lost = [w for w in warnings if w.startswith("lost MQTT broker")]
    assert len(lost) == 1 and "(connection lost)" in lost[0], warnings
    assert len(warnings) <= 2, warnings  # lost, then at most one "cannot reach"


def test_a_reset_connection_is_told_once_as_a_warning_with_its_cause(
    mqtt_broker: MosquittoBroker, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A connection the network resets (a NAT that forgot it, a broker host that crashed) is a
    lost connection like any other: one WARNING naming the cause, no ERROR from paho (which
    logs every socket error at ERROR), and the commands still arrive."""
    relay = TcpRelay(mqtt_broker.host, mqtt_broker.port)
    settings = _settings(mqtt_broker, host=relay.host, port=relay.port)
    topics = Topics(settings.prefix, settings.device_id)
    sub = Subscriber(mqtt_broker, [topics.command])
    caplog.set_level(logging.DEBUG, logger="edge_asr")
    try:
        with _publisher(settings, tmp_path) as (publisher, _):
            relay.reset()
            wait_for(lambda: not publisher.connected, 10, "the reset to be noticed")
            event = _event(settings, "on")
            publisher.submit(event)
            wait_for(lambda: event.id in _ids(sub, topics.command), 20, "the command after it")
    finally:
        sub.close()
        relay.close()
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == []
    lost = [r.getMessage() for r in caplog.records if "lost MQTT broker" in r.getMessage()]
    assert len(lost) == 1 and "Connection reset by peer" in lost[0], lost


@pytest.mark.parametrize("restart", [False, True], ids=["same-process", "after-a-restart"])
def test_command_queued_before_a_clock_step_is_published_in_the_new_clock(
    mqtt_broker: MosquittoBroker, tmp_path: Path, restart: bool
) -> None:
    """A Raspberry Pi has no RTC: until NTP's first sync its clock reads the last shutdown,
    here three days behind. A command heard then and delivered after the sync (the broker was
    not reachable yet at boot) carries times in the corrected clock and its real latency, not
    three days'. Here the outbox reads the clock as it was when the command was queued and the
    publisher reads it as it is now. With a restart in between (a crash, an upgrade, the
    watchdog) the next process, in the same boot, still knows the command is seconds old, not
    three days (beyond max_age_s, an hour here): it is delivered, not expired."""
    behind = 3 * 86400.0
    settings = _settings(mqtt_broker)
    topics = Topics(settings.prefix, settings.device_id)
    outbox = Outbox(tmp_path / "outbox.sqlite", 100, 3600, clock=lambda: time.time() - behind)
    heard = time.time() - behind
    event = replace(_event(settings), start_ts=heard - 0.7, end_ts=heard)
    publisher = Publisher(settings, outbox, INFO, lambda control: None)
    publisher.submit(event)  # queued before the publisher connects
    if restart:
        outbox.close()
        outbox = Outbox(tmp_path / "outbox.sqlite", 100, 3600)  # the next process, clock set
        publisher = Publisher(settings, outbox, INFO, lambda control: None)
    sub = Subscriber(mqtt_broker, [topics.command])
    try:
        publisher.start()
        body = json.loads(sub.wait(topics.command)[0].payload)
    finally:
        sub.close()
        publisher.stop(flush_timeout_s=2.0)
        outbox.close()
    now = time.time()
    assert body["id"] == event.id
    assert 0.0 <= body["latency_ms"] < 10_000.0, body
    assert now - 10.0 < body["end_ts"] <= now, body
    assert body["end_ts"] - body["start_ts"] == pytest.approx(0.7, abs=2e-3)


def test_two_devices_with_one_device_id_are_told_once_and_lose_nothing(
    mqtt_broker: MosquittoBroker, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Devices cloned from one SD card image keep one hostname, the default device_id, so one
    client id: the broker closes each one's connection when the other connects, a loop that
    lasts as long as both run. The log says so as an ERROR naming the client id and the
    setting to change (not a warning a second, for ever); every command of both arrives; and
    once one stops, the other says its connection holds."""
    caplog.set_level(logging.DEBUG, logger="edge_asr")
    settings = _settings(mqtt_broker, device_id=f"raspberrypi-{uuid.uuid4().hex[:6]}")
    topics = Topics(settings.prefix, settings.device_id)
    sub = Subscriber(mqtt_broker, [topics.command])
    submitted: list[str] = []

    def told(text: str) -> list[logging.LogRecord]:
        return [r for r in caplog.records if text in r.getMessage()]

    try:
        with _publisher(settings, tmp_path) as (first, _):
            with _publisher(settings, tmp_path, wait_connected=False) as (second, _):
                for i in range(8):
                    event = _event(settings, COMMANDS[i % 3])
                    (first, second)[i % 2].submit(event)
                    submitted.append(event.id)
                    time.sleep(0.5)
                wait_for(lambda: told("another client connects"), 20, "the takeover loop told")

                def all_arrived() -> bool:
                    return set(submitted) <= set(_ids(sub, topics.command))

                wait_for(all_arrived, 30, "every command of both devices to arrive")
            wait_for(lambda: told("no other client is taking it"), 30, "the loop's end told")
    finally:
        sub.close()
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert 1 <= len(errors) <= 2, [r.getMessage() for r in errors]  # once per device at most
    for error in errors:
        text = error.getMessage()
        assert f"'edge-asr-{settings.device_id}'" in text and "mqtt.device_id" in text, text
    lost = [r for r in told("lost MQTT broker") if r.levelno >= logging.WARNING]
    assert len(lost) <= 2 * (publisher_module.SHORT_SESSIONS_TOLD - 1), len(lost)


def test_short_sessions_count_in_a_row_and_end_when_one_holds() -> None:
    now = [0.0]
    short = publisher_module._ShortSessions(10.0, clock=lambda: now[0])
    assert short.closed() is None and not short.looping  # closed before any was accepted
    for _ in range(publisher_module.SHORT_SESSIONS_TOLD):
        short.accepted()
        now[0] += 1.5
        assert short.closed() == pytest.approx(1.5)
    assert short.looping
    short.accepted()
    now[0] += 9.0
    assert short.held() is None and short.looping  # not yet held long enough
    now[0] += 1.0
    assert short.held() == pytest.approx(10.0) and not short.looping
    assert short.held() is None  # told once
    short.accepted()
    now[0] += 2.0
    short.closed()
    short.accepted()
    now[0] += 30.0
    short.closed()  # a long one in between: the count starts again
    assert short.in_a_row == 0


def test_command_in_flight_when_the_connection_drops_is_not_published_again(
    mqtt_broker: MosquittoBroker, tmp_path: Path
) -> None:
    """The broker took a command but its PUBACK was lost with the connection. paho keeps such a
    message and sends it again itself after reconnecting (QoS 1: subscribers may see that
    copy); the outbox must then wait for it, not publish the command a third time."""
    relay = TcpRelay(mqtt_broker.host, mqtt_broker.port)
    settings = _settings(mqtt_broker, host=relay.host, port=relay.port)
    topics = Topics(settings.prefix, settings.device_id)
    sub = Subscriber(mqtt_broker, [topics.command])  # straight to the broker
    try:
        with _publisher(settings, tmp_path) as (publisher, outbox):
            relay.hold_replies()
            first = _event(settings, "on")
            publisher.submit(first)
            sub.wait(topics.command, count=1)  # the broker has it; its PUBACK went nowhere
            assert len(outbox) == 1
            relay.cut()
            wait_for(
                lambda: len(outbox) == 0, 20, "the command to be acknowledged after reconnecting"
            )
            second = _event(settings, "off")
            publisher.submit(second)
            wait_for(lambda: len(outbox) == 0, 10, "the next command to be delivered")
            wait_for(lambda: second.id in _ids(sub, topics.command), 10, "the next command")
            time.sleep(1.0)  # room for a late copy
    finally:
        sub.close()
        relay.close()
    ids = _ids(sub, topics.command)
    assert ids[-1] == second.id and set(ids) == {first.id, second.id}, ids
    assert ids.count(first.id) <= 2, ids  # as sent, and paho's own resend
    assert ids.count(second.id) == 1, ids


def test_stopped_before_the_subscription_is_acknowledged_still_says_offline(
    mqtt_broker: MosquittoBroker, tmp_path: Path
) -> None:
    """`online` goes out as soon as the broker accepts the connection; a stop before the
    control subscription is acknowledged must still replace it with `offline` (a clean
    disconnect sends no last will)."""
    relay = TcpRelay(mqtt_broker.host, mqtt_broker.port)
    relay.hold_replies(after_bytes=4)  # the CONNACK, and nothing after it
    settings = _settings(mqtt_broker, host=relay.host, port=relay.port)
    topics = Topics(settings.prefix, settings.device_id)
    sub = Subscriber(mqtt_broker, [topics.status])
    try:
        with _publisher(settings, tmp_path, wait_connected=False) as (publisher, _):
            sub.wait(topics.status, count=1)
            assert sub.on(topics.status)[-1].payload == b"online"
            assert not publisher.connected
        wait_for(lambda: sub.on(topics.status)[-1].payload == b"offline", 5, "offline")
    finally:
        sub.close()
        relay.close()


# -- TLS and authentication -----------------------------------------------------------------


@pytest.fixture(scope="module")
def password_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("auth")
    return make_password_file(folder / "passwd", {"edge": PASSWORD, "tester": "tester-pw"})


@pytest.fixture()
def client_password_file(tmp_path: Path) -> Path:
    path = tmp_path / "mqtt-password"
    path.write_text(PASSWORD + "\n")  # as `echo secret > file` leaves it
    return path


def test_tls_with_password_and_client_certificate(
    mosquitto: Callable[..., MosquittoBroker],
    tls_files: TlsFiles,
    password_file: Path,
    client_password_file: Path,
    tmp_path: Path,
) -> None:
    broker = mosquitto(tls=tls_files, require_certificate=True, password_file=password_file)
    tls = TlsSettings(
        ca_file=tls_files.ca, cert_file=tls_files.client_cert, key_file=tls_files.client_key
    )
    settings = _settings(broker, tls=tls, username="edge", password_file=client_password_file)
    topics = Topics(settings.prefix, settings.device_id)
    sub = Subscriber(
        broker,
        [topics.command],
        username="tester",
        password="tester-pw",
        client_cert=(tls_files.client_cert, tls_files.client_key),
    )
    try:
        with _publisher(settings, tmp_path) as (publisher, _):
            event = _event(settings)
            publisher.submit(event)
            assert json.loads(sub.wait(topics.command)[0].payload)["id"] == event.id
    finally:
        sub.close()


def test_client_certificate_required_when_broker_demands_it(
    mosquitto: Callable[..., MosquittoBroker],
    tls_files: TlsFiles,
    password_file: Path,
    client_password_file: Path,
    tmp_path: Path,
) -> None:
    broker = mosquitto(tls=tls_files, require_certificate=True, password_file=password_file)
    tls = TlsSettings(ca_file=tls_files.ca)  # no client certificate
    settings = _settings(broker, tls=tls, username="edge", password_file=client_password_file)
    with _publisher(settings, tmp_path, wait_connected=False) as (publisher, _):
        time.sleep(2.0)
        assert not publisher.connected


def test_wrong_password_logged_clearly_never_the_password(
    mosquitto: Callable[..., MosquittoBroker],
    tls_files: TlsFiles,
    password_file: Path,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    broker = mosquitto(tls=tls_files, password_file=password_file)
    wrong = "wrong-" + PASSWORD
    wrong_file = tmp_path / "wrong-password"
    wrong_file.write_text(wrong + "\n")
    settings = _settings(
        broker, tls=TlsSettings(ca_file=tls_files.ca), username="edge", password_file=wrong_file
    )
    with (
        caplog.at_level(logging.DEBUG),
        _publisher(settings, tmp_path, wait_connected=False) as (publisher, _),
    ):
        wait_for(
            lambda: any(r.levelno == logging.ERROR for r in caplog.records),
            10,
            "an ERROR about the refused login",
        )
        time.sleep(1.5)  # paho retries with backoff meanwhile
        assert not publisher.connected
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert any(f"{broker.host}:{broker.port}" in e and "reason_code" in e for e in errors), errors
    assert any("authori" in e.lower() or "password" in e.lower() for e in errors), errors
    everything = caplog.text + "".join(r.getMessage() for r in caplog.records)
    assert wrong not in everything and PASSWORD not in everything


def test_unreadable_password_file_is_a_clear_error(mqtt_broker: MosquittoBroker) -> None:
    missing = Path("/nonexistent/edge-asr/password")
    settings = _settings(mqtt_broker, username="edge", password_file=missing)
    with pytest.raises(PublisherError, match=str(missing)):
        Publisher(settings, Outbox(None, 10, 60), INFO, lambda control: None)
