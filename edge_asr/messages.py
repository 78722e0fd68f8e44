"""What edge-asr says over MQTT: message types, their payloads and the topics they live on."""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Collection
from dataclasses import asdict, dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, ValidationInfo, field_validator

MAX_CONTROL_BYTES = 4096
STATUS_ONLINE = b"online"
STATUS_OFFLINE = b"offline"
ERROR_ECHO_CHARS = 200


@dataclass(frozen=True, kw_only=True)
class CommandEvent:
    """One recognized command; start_ts/end_ts are unix wall-clock seconds."""

    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    command: str
    score: float
    start_ts: float
    end_ts: float
    model: str
    model_version: str
    device_id: str

    def to_payload(self, latency_ms: float) -> bytes:
        """The JSON published on the command topic."""
        body = {
            "id": self.id,
            "command": self.command,
            "score": round(self.score, 4),
            "start_ts": round(self.start_ts, 3),
            "end_ts": round(self.end_ts, 3),
            "latency_ms": round(latency_ms, 1),
            "model": self.model,
            "model_version": self.model_version,
            "device_id": self.device_id,
        }
        return _compact(body)

    def to_record(self) -> bytes:
        """The form kept in the outbox: everything but latency, which is only known at send time."""
        return _compact(asdict(self))

    @classmethod
    def from_record(cls, record: bytes) -> CommandEvent:
        """Inverse of to_record; raises ValueError (or TypeError) on anything else."""
        data = json.loads(record)
        if not isinstance(data, dict):
            raise ValueError("command record is not a JSON object")
        return cls(**data)


@dataclass(frozen=True)
class DeviceInfo:
    """What this device runs, for discovery and status."""

    model: str
    model_version: str
    commands: tuple[str, ...]
    sw_version: str


@dataclass(frozen=True)
class Topics:
    """All topics of one device: <prefix>/<device_id>/<leaf>."""

    prefix: str
    device_id: str

    @property
    def base(self) -> str:
        return f"{self.prefix}/{self.device_id}"

    @property
    def command(self) -> str:
        """CommandEvent payloads, QoS 1, not retained."""
        return f"{self.base}/command"

    @property
    def status(self) -> str:
        """Retained `online`/`offline`; `offline` is also the last will."""
        return f"{self.base}/status"

    @property
    def control(self) -> str:
        """Incoming Control messages."""
        return f"{self.base}/set"

    @property
    def error(self) -> str:
        """Why a control message was rejected."""
        return f"{self.base}/error"

    @property
    def state(self) -> str:
        """Retained JSON: muted flag and current thresholds."""
        return f"{self.base}/state"


class ControlError(ValueError):
    """A rejected control message; str() is a one-line reason fit for the error topic."""


class Control(BaseModel):
    """A validated control message: `{"muted": bool, "thresholds": {command: (0, 1] or null}}`.

    Both keys are optional, but at least one must be present. A null threshold puts the
    command's configured one back (`[model.thresholds]`, else the model's).

    Build it with `Control.parse(payload, commands)`; validation needs the model's command names.
    """

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    muted: bool | None = None
    thresholds: dict[str, float | None] | None = None

    @field_validator("thresholds")
    @classmethod
    def _known_commands_in_range(
        cls, value: dict[str, float | None] | None, info: ValidationInfo
    ) -> dict[str, float | None] | None:
        if value is None:
            return None
        known: Collection[str] = (info.context or {}).get("commands", ())
        for command, threshold in value.items():
            if command not in known:
                raise ValueError(
                    f"unknown command {command!r} (known: {', '.join(sorted(known)) or 'none'})"
                )
            if threshold is not None and not (math.isfinite(threshold) and 0 < threshold <= 1):
                raise ValueError(f"threshold for {command!r} must be in (0, 1], got {threshold}")
        return value

    @classmethod
    def parse(cls, payload: bytes, commands: Collection[str]) -> Control:
        """Validate a raw control payload; raises ControlError with a one-line reason."""
        if len(payload) > MAX_CONTROL_BYTES:
            raise ControlError(f"payload is {len(payload)} bytes, limit {MAX_CONTROL_BYTES}")
        try:
            data: Any = json.loads(payload)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ControlError(f"not valid JSON: {exc}") from None
        except RecursionError:  # ~2000 brackets fit in the size limit
            raise ControlError("not valid JSON: nested too deeply") from None
        if not isinstance(data, dict):
            raise ControlError(f"expected a JSON object, got {type(data).__name__}")
        try:
            control = cls.model_validate(data, context={"commands": frozenset(commands)})
        except ValidationError as exc:
            raise ControlError(_one_line(exc)) from None
        if control.muted is None and control.thresholds is None:
            raise ControlError("nothing to change: expected 'muted' and/or 'thresholds'")
        return control


def _one_line(exc: ValidationError) -> str:
    first = exc.errors(include_url=False)[0]
    # Command names come from the payload: any text, shown quoted unless printable.
    parts = [str(part) for part in first["loc"]]
    key = ".".join(p if p.isprintable() else repr(p) for p in parts) or "(root)"
    msg = first["msg"].removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        msg = "unknown key (allowed: muted, thresholds)"
    more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return f"{key}: {msg}{more}"


def state_payload(
    muted: bool, thresholds: dict[str, float], microphone_silent: bool = False
) -> bytes:
    """The retained state document."""
    body = {
        "muted": muted,
        "thresholds": dict(sorted(thresholds.items())),
        "microphone_silent": microphone_silent,
    }
    return _compact(body)


def error_payload(reason: str, topic: str, received: bytes) -> bytes:
    """Published on the error topic when a control message is rejected."""
    echo = received.decode("utf-8", errors="replace")[:ERROR_ECHO_CHARS]
    return json.dumps({"error": reason, "topic": topic, "received": echo}).encode()


# Home Assistant's MQTT event entity reads a JSON object with a required `event_type` (one of
# `event_types`); every other key becomes an event attribute. Our payload names it `command`.
HA_EVENT_VALUE_TEMPLATE = (
    "{{ {'event_type': value_json.command, 'id': value_json.id, 'score': value_json.score,"
    " 'latency_ms': value_json.latency_ms, 'model': value_json.model,"
    " 'model_version': value_json.model_version} | tojson }}"
)


# The switch and the binary sensor read the retained state document.
HA_MUTED_TEMPLATE = "{{ 'ON' if value_json.muted else 'OFF' }}"
HA_SILENT_TEMPLATE = "{{ 'ON' if value_json.microphone_silent else 'OFF' }}"


def discovery_topic(discovery_prefix: str, device_id: str) -> str:
    """Where Home Assistant looks for our event entity's config (retained)."""
    return f"{discovery_prefix}/event/{device_id}/command/config"


def discovery_payload(topics: Topics, info: DeviceInfo) -> bytes:
    """Home Assistant MQTT discovery config for one `event` entity firing on each command."""
    body = {
        "name": "Voice command",
        "unique_id": f"{_node(topics)}_command",
        "state_topic": topics.command,
        "value_template": HA_EVENT_VALUE_TEMPLATE,
        "event_types": list(info.commands),
        **_ha_common(topics, info),
    }
    return _compact(body)


def discovery_configs(discovery_prefix: str, topics: Topics, info: DeviceInfo) -> dict[str, bytes]:
    """Every Home Assistant discovery config (topic -> retained payload) of one device: the
    command event, a `Muted` switch driving the control topic, and a `Microphone silent`
    problem sensor, the last two reading the state document."""
    node, device_id = _node(topics), topics.device_id
    muted = {
        "name": "Muted",
        "unique_id": f"{node}_muted",
        "command_topic": topics.control,
        "payload_on": '{"muted": true}',
        "payload_off": '{"muted": false}',
        "state_topic": topics.state,
        "value_template": HA_MUTED_TEMPLATE,
        "state_on": "ON",
        "state_off": "OFF",
        "icon": "mdi:microphone-off",
        "entity_category": "config",
        **_ha_common(topics, info),
    }
    silent = {
        "name": "Microphone silent",
        "unique_id": f"{node}_microphone_silent",
        "state_topic": topics.state,
        "value_template": HA_SILENT_TEMPLATE,
        "device_class": "problem",
        "entity_category": "diagnostic",
        **_ha_common(topics, info),
    }
    return {
        discovery_topic(discovery_prefix, device_id): discovery_payload(topics, info),
        f"{discovery_prefix}/switch/{device_id}/muted/config": _compact(muted),
        f"{discovery_prefix}/binary_sensor/{device_id}/microphone_silent/config": _compact(silent),
    }


def _node(topics: Topics) -> str:
    return f"edge-asr_{topics.device_id}"


def _ha_common(topics: Topics, info: DeviceInfo) -> dict[str, Any]:
    """What every entity's config says: QoS, availability (the status topic), the device."""
    return {
        "qos": 1,
        "availability_topic": topics.status,
        "payload_available": STATUS_ONLINE.decode(),
        "payload_not_available": STATUS_OFFLINE.decode(),
        "device": {
            "identifiers": [_node(topics)],
            "name": f"edge-asr {topics.device_id}",
            "manufacturer": "edge-asr",
            "model": f"{info.model} {info.model_version}",
            "sw_version": info.sw_version,
        },
        "origin": {"name": "edge-asr", "sw_version": info.sw_version},
    }


def _compact(body: dict[str, Any]) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode()
