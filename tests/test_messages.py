"""Message types: payload shape, topics, control validation, Home Assistant discovery."""

from __future__ import annotations

import contextlib
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge_asr.messages import (
    HA_EVENT_VALUE_TEMPLATE,
    CommandEvent,
    Control,
    ControlError,
    DeviceInfo,
    Topics,
    discovery_configs,
    discovery_payload,
    discovery_topic,
    error_payload,
    state_payload,
)

COMMANDS = ("on", "off", "stop")


def _event(**kw: object) -> CommandEvent:
    fields: dict[str, object] = dict(
        command="on",
        score=0.93,
        start_ts=1700000000.25,
        end_ts=1700000000.75,
        model="kws",
        model_version="1.2.0",
        device_id="kitchen",
    )
    fields.update(kw)
    return CommandEvent(**fields)  # type: ignore[arg-type]


def test_command_payload_has_exactly_the_documented_fields() -> None:
    event = _event()
    body = json.loads(event.to_payload(latency_ms=123.45))
    assert list(body) == [
        "id",
        "command",
        "score",
        "start_ts",
        "end_ts",
        "latency_ms",
        "model",
        "model_version",
        "device_id",
    ]
    assert body["id"] == event.id and len(event.id) == 32 and int(event.id, 16) >= 0
    assert body["command"] == "on" and body["score"] == pytest.approx(0.93)
    assert body["start_ts"] == pytest.approx(1700000000.25)
    assert body["latency_ms"] == pytest.approx(123.5)
    assert (body["model"], body["model_version"], body["device_id"]) == ("kws", "1.2.0", "kitchen")


def test_each_event_gets_its_own_id() -> None:
    assert len({_event().id for _ in range(100)}) == 100


def test_outbox_record_round_trips() -> None:
    event = _event()
    assert CommandEvent.from_record(event.to_record()) == event


def test_topics() -> None:
    t = Topics("edge-asr", "kitchen")
    assert t.command == "edge-asr/kitchen/command"
    assert t.status == "edge-asr/kitchen/status"
    assert t.control == "edge-asr/kitchen/set"
    assert t.error == "edge-asr/kitchen/error"
    assert t.state == "edge-asr/kitchen/state"


def test_valid_control_messages() -> None:
    assert Control.parse(b'{"muted": true}', COMMANDS).muted is True
    control = Control.parse(b'{"thresholds": {"on": 0.8, "off": 1}}', COMMANDS)
    assert control.muted is None and control.thresholds == {"on": 0.8, "off": 1.0}
    back = Control.parse(b'{"thresholds": {"on": null}}', COMMANDS)  # to the configured one
    assert back.thresholds == {"on": None}


@pytest.mark.parametrize(
    ("payload", "reason_part"),
    [
        (b"not json", "not valid JSON"),
        (b"\xff\xfe", "not valid JSON"),
        (b"[1, 2]", "expected a JSON object"),
        (b'"muted"', "expected a JSON object"),
        (b"{}", "nothing to change"),
        (b'{"muted": "yes"}', "muted"),
        (b'{"muted": 1}', "muted"),
        (b'{"thresholds": [0.5]}', "thresholds"),
        (b'{"thresholds": {"on": "0.5"}}', "thresholds.on"),
        (b'{"thresholds": {"on": true}}', "thresholds.on"),
        (b'{"thresholds": {"on": 0}}', "(0, 1]"),
        (b'{"thresholds": {"on": 1.5}}', "(0, 1]"),
        (b'{"thresholds": {"on": NaN}}', "(0, 1]"),
        (b'{"thresholds": {"launch": 0.5}}', "unknown command 'launch'"),
        (b'{"thresholds": {"launch": null}}', "unknown command 'launch'"),
        (b'{"thresholds": {"\\n": false}}', "thresholds.'\\n': Input should be"),  # one line
        (b'{"muted": true, "volume": 3}', "volume: unknown key"),
        (b'{"muted": true, "pad": "' + b"x" * 5000 + b'"}', "limit 4096"),
        (b"[" * 2040 + b"]" * 2040, "nested too deeply"),
        (b'{"muted": ' + b"[" * 2030 + b"]" * 2030 + b"}", "nested too deeply"),
    ],
)
def test_invalid_control_rejected_with_one_line_reason(payload: bytes, reason_part: str) -> None:
    with pytest.raises(ControlError) as info:
        Control.parse(payload, COMMANDS)
    reason = str(info.value)
    assert reason_part in reason
    assert "\n" not in reason and len(reason) < 300


@given(st.binary(max_size=200))
def test_control_parse_only_ever_raises_control_error(payload: bytes) -> None:
    with contextlib.suppress(ControlError):
        Control.parse(payload, COMMANDS)


def test_state_and_error_payloads() -> None:
    assert json.loads(state_payload(True, {"on": 0.7})) == {
        "muted": True,
        "thresholds": {"on": 0.7},
        "microphone_silent": False,
    }
    assert json.loads(state_payload(False, {}, microphone_silent=True))["microphone_silent"]
    body = json.loads(error_payload("bad", "p/d/set", b"y" * 500))
    assert body == {"error": "bad", "topic": "p/d/set", "received": "y" * 200}


def test_home_assistant_discovery_config() -> None:
    topics = Topics("edge-asr", "kitchen")
    info = DeviceInfo(model="kws", model_version="1.2.0", commands=COMMANDS, sw_version="0.1.0")
    assert discovery_topic("homeassistant", "kitchen") == (
        "homeassistant/event/kitchen/command/config"
    )
    config = json.loads(discovery_payload(topics, info))
    assert config["state_topic"] == "edge-asr/kitchen/command"
    assert config["event_types"] == list(COMMANDS)
    assert config["availability_topic"] == "edge-asr/kitchen/status"
    assert (config["payload_available"], config["payload_not_available"]) == ("online", "offline")
    assert config["unique_id"] == "edge-asr_kitchen_command"
    assert config["device"]["identifiers"] == ["edge-asr_kitchen"]
    assert config["device"]["sw_version"] == "0.1.0"
    assert "kws" in config["device"]["model"] and "name" in config["device"]


def test_home_assistant_switch_and_sensor_read_the_state_and_drive_the_control_topic() -> None:
    """The `Muted` switch sends what the control topic accepts, and both it and the `Microphone
    silent` sensor turn the retained state document into the states Home Assistant expects
    (templates rendered with Jinja, as Home Assistant does)."""
    jinja2 = pytest.importorskip("jinja2")
    topics = Topics("edge-asr", "kitchen")
    info = DeviceInfo(model="kws", model_version="1.2.0", commands=COMMANDS, sw_version="0.1.0")
    configs = {t: json.loads(p) for t, p in discovery_configs("ha", topics, info).items()}
    assert sorted(configs) == [
        "ha/binary_sensor/kitchen/microphone_silent/config",
        "ha/event/kitchen/command/config",
        "ha/switch/kitchen/muted/config",
    ]
    assert len({c["unique_id"] for c in configs.values()}) == 3
    for config in configs.values():
        assert config["device"]["identifiers"] == ["edge-asr_kitchen"]
        assert config["availability_topic"] == "edge-asr/kitchen/status"
    switch = configs["ha/switch/kitchen/muted/config"]
    sensor = configs["ha/binary_sensor/kitchen/microphone_silent/config"]
    assert switch["command_topic"] == topics.control
    assert Control.parse(switch["payload_on"].encode(), COMMANDS).muted is True
    assert Control.parse(switch["payload_off"].encode(), COMMANDS).muted is False
    assert switch["state_topic"] == sensor["state_topic"] == topics.state
    assert sensor["device_class"] == "problem"

    def render(template: str, state: bytes) -> str:
        return str(jinja2.Environment().from_string(template).render(value_json=json.loads(state)))

    for muted, silent in [(False, False), (True, False), (False, True), (True, True)]:
        state = state_payload(muted, {"on": 0.7}, microphone_silent=silent)
        wanted = switch["state_on"] if muted else switch["state_off"]
        assert render(switch["value_template"], state) == wanted
        assert render(sensor["value_template"], state) == ("ON" if silent else "OFF")


def test_value_template_gives_home_assistant_an_event_type() -> None:
    """HA's event entity json-loads the rendered template and pops `event_type` from it."""
    jinja2 = pytest.importorskip("jinja2")
    event = _event(command="stop")
    value_json = json.loads(event.to_payload(latency_ms=80.0))
    rendered = (
        jinja2.Environment().from_string(HA_EVENT_VALUE_TEMPLATE).render(value_json=value_json)
    )
    attributes = json.loads(rendered)
    assert attributes.pop("event_type") == "stop"
    assert attributes["id"] == event.id and attributes["score"] == pytest.approx(0.93)
