"""The one settings tree: TOML file, EDGE_ASR_ environment variables, command-line overrides."""

from __future__ import annotations

import os
import re
import socket
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
    TomlConfigSettingsSource,
)

DEFAULT_CONFIG_PATH = Path("/etc/edge-asr/config.toml")
ENV_PREFIX = "EDGE_ASR_"
# EDGE_ASR_ variables that are not settings: the trainer's cache, docker compose's variables,
# the boot id the systemd unit hands the outbox.
OTHER_ENV = frozenset(
    {
        "EDGE_ASR_CACHE",
        "EDGE_ASR_CONFIG",
        "EDGE_ASR_IMAGE",
        "EDGE_ASR_DEVICE_ID",
        "EDGE_ASR_BOOT_ID",
    }
)


class ConfigError(Exception):
    """A configuration problem, already phrased for the user (one line naming the key)."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)  # inf sleeps, NaN compares


class AudioSettings(_Section):
    device: str | int | None = Field(
        None, description="Input device: PyAudio index or a substring of its name; empty = default"
    )
    sample_rate_hz: int = Field(
        16000,
        ge=8000,
        le=192000,
        description="Rate to open the device at; resampled to the model's",
    )
    chunk_ms: int = Field(
        100,
        ge=10,
        le=1000,
        description="Audio per PortAudio buffer; speech is read a chunk at a time",
    )
    capture: Literal["poll", "callback"] = Field(
        "poll",
        description="poll: the listening thread takes chunks from PortAudio's buffer when they are "
        "due (least CPU); callback: PortAudio's thread hands every buffer to a Python callback "
        "that fills a ring of ring_s",
    )
    idle_read_ms: int = Field(
        300,
        ge=0,
        le=2000,
        description="In silence the listener wakes once per this much audio, not every chunk "
        "(less idle CPU; speech is still read chunk by chunk); 0 = every chunk",
    )
    ring_s: float = Field(
        4.0, ge=0.5, le=60, description="Ring buffer length for capture = callback"
    )
    realtime_priority: int = Field(
        10,
        ge=0,
        le=99,
        description="SCHED_FIFO priority of the capturing thread (the listener with capture = "
        "poll, PortAudio's with callback); 0 = do not ask",
    )
    lock_memory: bool = Field(True, description="mlockall() so capture never waits on paging")
    stall_timeout_s: float = Field(
        2.0, gt=0, description="No audio for this long means the microphone is lost"
    )
    reopen_backoff_max_s: float = Field(10.0, gt=0, description="Longest wait between reopen tries")
    silence_warning_s: float = Field(
        300.0,
        ge=0,
        description="Warn when the microphone has given nothing but zero samples this long (muted, "
        "or not the input meant); a live microphone always hears some noise. 0 = never",
    )

    @field_validator("device", mode="before")
    @classmethod
    def _index_or_name(cls, value: Any) -> Any:
        # Before pydantic's own coercion, which takes `true` for index 1 and names a float's
        # error after the str branch of the union.
        if isinstance(value, bool) or not isinstance(value, int | str | None):
            raise ValueError("a device index (0, 1, ...) or part of its name")
        return value

    @property
    def idle_read_chunks(self) -> int:
        """Chunks the listener takes at once while the recognizer is idle (at least 1)."""
        return max(1, self.idle_read_ms // self.chunk_ms)


class ModelSettings(_Section):
    path: Path | None = Field(None, description="Model folder (model.json + model files)")
    backend: Literal["auto", "onnx", "tflite"] = Field(
        "auto", description="Inference runtime; auto picks ONNX Runtime if installed, else TFLite"
    )
    threads: int = Field(1, ge=1, le=16, description="Inference threads")
    thresholds: dict[str, float] = Field(
        default_factory=dict, description="Per-command score thresholds overriding model.json"
    )

    @field_validator("thresholds")
    @classmethod
    def _thresholds_in_range(cls, value: dict[str, float]) -> dict[str, float]:
        for label, threshold in value.items():
            if not 0.0 < threshold <= 1.0:
                raise ValueError(f"threshold for {label!r} must be in (0, 1], got {threshold}")
        return value


class DecoderSettings(_Section):
    # Thresholds are calibrated for one decoder timing, so both default to the model's own
    # (model.json "decoder"); set them to trade latency against accuracy.
    smoothing_ms: int | None = Field(
        None, ge=0, le=2000, description="Posterior moving-average span; default: the model's"
    )
    refractory_ms: int = Field(1000, ge=0, le=10000, description="Quiet time after a detection")
    infer_every_ms: int | None = Field(
        None, ge=10, le=1000, description="Inference cadence while gated on; default: the model's"
    )
    gate_dbfs: float = Field(
        -60.0, ge=-120, le=0, description="Frame energy below this is silence; inference skipped"
    )


class TlsSettings(_Section):
    ca_file: Path | None = Field(None, description="CA certificate (PEM) that signed the broker's")
    cert_file: Path | None = Field(None, description="Client certificate (PEM) for mutual TLS")
    key_file: Path | None = Field(None, description="Client private key (PEM)")
    insecure: bool = Field(False, description="Skip broker hostname check (testing only)")


class MqttSettings(_Section):
    host: str = Field("localhost", description="Broker host")
    port: int = Field(1883, ge=1, le=65535, description="Broker port")
    prefix: str = Field("edge-asr", min_length=1, description="First topic level")
    device_id: str = Field(
        default_factory=socket.gethostname, description="Second topic level; default hostname"
    )
    client_id: str | None = Field(None, description="MQTT client id; default edge-asr-<device_id>")
    username: str | None = Field(None, description="Broker username")
    password_file: Path | None = Field(None, description="File holding the broker password")
    tls: TlsSettings | None = Field(None, description="Enable TLS by setting this section")
    keepalive_s: int = Field(30, ge=5, le=3600, description="MQTT keepalive")
    reconnect_min_s: float = Field(1.0, gt=0, description="First reconnect delay")
    reconnect_max_s: float = Field(30.0, gt=0, description="Longest reconnect delay")
    discovery: bool = Field(True, description="Publish Home Assistant MQTT discovery")
    discovery_prefix: str = Field("homeassistant", description="Home Assistant discovery prefix")

    @field_validator("prefix", "device_id")
    @classmethod
    def _topic_level(cls, value: str) -> str:
        if not value or any(ch in value for ch in "/+#\0"):
            raise ValueError(f"{value!r} must be one MQTT topic level (no '/', '+', '#')")
        return value


class OutboxSettings(_Section):
    state_dir: Path = Field(
        Path("/var/lib/edge-asr"), description="Holds outbox.sqlite, muted.json and thresholds.json"
    )
    status_dir: Path | None = Field(
        None, description="Holds status.json (default: state_dir); a tmpfs such as /run/edge-asr"
    )
    max_age_s: float = Field(86400.0, gt=0, description="Undelivered commands older are dropped")
    max_messages: int = Field(10000, ge=1, description="Oldest dropped beyond this many")

    @property
    def status_folder(self) -> Path:
        """Where status.json is: status_dir, else state_dir. It is rewritten every 20 s (a new
        file renamed over the old), which on an SD card is a handful of metadata blocks each
        time; a tmpfs takes none (the systemd unit uses /run/edge-asr)."""
        return self.status_dir or self.state_dir


class Settings(BaseSettings):
    """Everything edge-asr reads at start-up."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_nested_delimiter="__", extra="forbid"
    )

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field("INFO", description="Log level")
    audio: AudioSettings = Field(default_factory=AudioSettings)
    model: ModelSettings = Field(default_factory=ModelSettings)
    decoder: DecoderSettings = Field(default_factory=DecoderSettings)
    mqtt: MqttSettings = Field(default_factory=MqttSettings)
    outbox: OutboxSettings = Field(default_factory=OutboxSettings)


def load_settings(path: Path | None = None, **overrides: Any) -> Settings:
    """Build Settings from (lowest first) defaults, TOML file, environment, overrides.

    `path=None` reads DEFAULT_CONFIG_PATH when it exists; an explicit path must exist.
    """
    if path is not None and path.is_dir():
        raise ConfigError(f"config file {path}: is a directory")
    if path is not None and not path.is_file():
        raise ConfigError(f"config file {path}: not found")
    toml_path = path if path is not None else DEFAULT_CONFIG_PATH
    _check_env_names()

    class _FromFile(Settings):
        @classmethod
        def settings_customise_sources(
            cls,
            settings_cls: type[BaseSettings],
            init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource,
            dotenv_settings: PydanticBaseSettingsSource,
            file_secret_settings: PydanticBaseSettingsSource,
        ) -> tuple[PydanticBaseSettingsSource, ...]:
            return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls, toml_path))

    try:
        loaded = _FromFile(**overrides)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, toml_path, overrides)) from None
    except SettingsError as exc:  # an EDGE_ASR_<SECTION> variable that is not JSON
        field = re.search(r'field "(\w+)"', str(exc))
        name = ENV_PREFIX + (field.group(1).upper() if field else "*")
        raise ConfigError(
            f"env {name}: not a JSON object (or set one key: {name}__KEY=value)"
        ) from None
    except ValueError as exc:  # TOML syntax errors arrive as tomllib.TOMLDecodeError
        raise ConfigError(f"config file {toml_path}: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"config file {toml_path}: cannot read ({exc.strerror})") from None
    return Settings.model_validate(loaded.model_dump())


def _check_env_names() -> None:
    """An EDGE_ASR_ variable that names no setting is a typo, not something to ignore:
    EDGE_ASR_MQTT_HOST (one underscore) would leave the daemon on localhost."""
    for name in os.environ:
        upper = name.upper()
        if not upper.startswith(ENV_PREFIX) or upper in OTHER_ENV:
            continue
        first = upper[len(ENV_PREFIX) :].split("__")[0].lower()
        if first in Settings.model_fields:
            continue  # keys inside a section are checked like the file's (extra="forbid")
        hint = next(
            (
                f"; nested keys take two underscores: {ENV_PREFIX}{section.upper()}__"
                f"{first[len(section) + 1 :].upper()}"
                for section in Settings.model_fields
                if first.startswith(section + "_")
            ),
            f" (settings: {', '.join(ENV_PREFIX + f.upper() for f in Settings.model_fields)})",
        )
        raise ConfigError(f"env {name}: not a setting{hint}")


def _describe(exc: ValidationError, toml_path: Path, overrides: dict[str, Any]) -> str:
    first = exc.errors()[0]
    loc = [str(part) for part in first["loc"]]
    # A key from a JSON value (a mapping such as model.thresholds) can be any text: one line.
    key = ".".join(part if part.isprintable() else repr(part) for part in loc) or "(root)"
    more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    value = first.get("input")
    shown = "" if isinstance(value, dict) else f" (got {value!r})"
    return f"config key {key}: {first['msg']}{shown}{more} [{_source(loc, toml_path, overrides)}]"


def _source(loc: list[str], toml_path: Path, overrides: dict[str, Any]) -> str:
    """Where the value at `loc` came from, as load_settings ranks them: flag, env, file."""
    node: Any = overrides
    for part in loc:
        if not isinstance(node, dict) or part not in node:
            break
        node = node[part]
    else:
        return "command-line flag"
    env = {name.upper() for name in os.environ}
    for depth in range(len(loc), 0, -1):
        name = ENV_PREFIX + "__".join(loc[:depth]).upper()
        if name in env:
            return f"env {name}"
    return f"file {toml_path}"


def dump_settings(settings: Settings) -> dict[str, Any]:
    """Settings as plain data for `config show`; secrets are only ever paths, never values."""
    return settings.model_dump(mode="json")
