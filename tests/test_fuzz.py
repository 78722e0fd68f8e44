"""Bad input is refused with a clear error: config, model.json, WAV files, control messages.

Each parser is fed thousands of random and mutated inputs (hypothesis). The only outcomes allowed
are a valid result or the parser's own one-line error; any other exception is a traceback a user
would see, and every case runs under a time limit so that a hang fails too.

CI runs the same 500 cases per test every time (derandomized), so a failure reproduces. To look
for new failures, explore with fresh random cases:
`FUZZ_EXAMPLES=6000 .venv/bin/python -m pytest tests/test_fuzz.py` (about 3 minutes; on
2026-12-08 such runs found two errors that were not one line and a crash on a huge integer,
which the fixed cases had missed).
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import signal
import struct
import tempfile
import time
import uuid
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mqtt_broker import MosquittoBroker, Subscriber

from edge_asr.audio import AudioError, read_wav
from edge_asr.config import ConfigError, Settings, load_settings
from edge_asr.frontend import FrontendParams
from edge_asr.messages import CommandEvent, Control, ControlError, DeviceInfo, Topics
from edge_asr.model import ModelError, ModelSpec, load_spec
from edge_asr.outbox import Outbox

EXPLORE = int(os.environ.get("FUZZ_EXAMPLES", "0"))  # > 0: that many fresh random cases
FUZZ = settings(
    max_examples=EXPLORE or 500,
    deadline=None,  # the per-case limit below is a hard one (SIGALRM), not a statistic
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    derandomize=not EXPLORE,  # CI runs the same cases every time; a failure reproduces
    database=None,  # nothing kept between runs: the fixed cases are the record
)
CASE_LIMIT_S = 5


@contextlib.contextmanager
def time_limit(seconds: float = CASE_LIMIT_S) -> Iterator[None]:
    """Fail a case that takes longer than `seconds` (a hang) instead of blocking the suite."""

    def expired(_signum: int, _frame: Any) -> None:
        raise TimeoutError(f"case took longer than {seconds} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def assert_one_line(exc: Exception) -> None:
    text = str(exc)
    assert text and "\n" not in text and "Traceback" not in text, repr(text)


# -- JSON-ish values ------------------------------------------------------------------------

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.sampled_from([0, 1, -1, 16000, 10**400, 2**63])
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)

# -- config: TOML file and EDGE_ASR_* environment -------------------------------------------

SECTIONS: dict[str, list[str]] = {
    name: list(field.annotation.model_fields)  # type: ignore[union-attr]
    for name, field in Settings.model_fields.items()
    if name != "log_level"
}
SECTIONS["mqtt.tls"] = ["ca_file", "cert_file", "key_file", "insecure"]


def toml_value(value: Any) -> str:
    """A value written as TOML (lists and inline tables included)."""
    if value is None:
        return '""'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return (
            "nan"
            if math.isnan(value)
            else ("inf" if value > 0 else "-inf")
            if math.isinf(value)
            else repr(value)
        )
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a valid TOML basic string
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return "{" + ", ".join(f"{json.dumps(k)} = {toml_value(v)}" for k, v in value.items()) + "}"


keys = st.sampled_from([k for ks in SECTIONS.values() for k in ks] + ["bogus", "port", "path"])
toml_documents = st.lists(
    st.tuples(
        st.sampled_from([*SECTIONS, "nope"]),
        st.lists(st.tuples(keys, json_values), max_size=4),
    ),
    max_size=4,
).map(
    lambda tables: "\n".join(
        f"[{section}]\n" + "".join(f"{key} = {toml_value(value)}\n" for key, value in entries)
        for section, entries in tables
    )
)


def check_config(path: Path) -> None:
    with time_limit():
        try:
            result = load_settings(path)
        except ConfigError as exc:
            assert_one_line(exc)
        else:
            assert isinstance(result, Settings)


@FUZZ
@given(document=toml_documents)
def test_config_file_yields_settings_or_config_error(document: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "config.toml"
        path.write_text(document)
        check_config(path)


@FUZZ
@given(raw=st.binary(max_size=300) | st.text(max_size=300).map(str.encode))
def test_config_file_of_random_bytes_is_a_config_error(raw: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "config.toml"
        path.write_bytes(raw)
        check_config(path)


env_values = st.text(max_size=30) | json_values.map(json.dumps)
env_names = st.sampled_from(
    [
        f"EDGE_ASR_{s.upper().replace('.', '__')}__{k.upper()}"
        for s, ks in SECTIONS.items()
        for k in ks
    ]
    + ["EDGE_ASR_LOG_LEVEL", "EDGE_ASR_MQTT", "EDGE_ASR_AUDIO", "EDGE_ASR_MQTT__TLS", "EDGE_ASR_X"]
)


@FUZZ
@given(env=st.dictionaries(env_names, env_values.filter(lambda v: "\0" not in v), max_size=4))
def test_environment_yields_settings_or_config_error(env: dict[str, str]) -> None:
    saved = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    try:
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "config.toml"
            path.write_text("")
            check_config(path)
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


# -- model.json -------------------------------------------------------------------------------

VALID_SPEC: dict[str, Any] = {
    "format": 1,
    "name": "fuzz",
    "version": "1.0.0",
    "labels": ["_silence_", "_unknown_", "on", "off"],
    "frontend": FrontendParams().to_dict(),
    "input_frames": 49,
    "thresholds": {"default": 0.8, "on": 0.9},
    "files": {"model.onnx": {"sha256": "0" * 64}},
}


def mutate(document: Any, path: list[str | int], value: Any) -> Any:
    """`document` with the node at `path` (as far as it exists) replaced by `value`."""
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(document, dict) and isinstance(head, str):
        key = (
            head
            if head in document or not document
            else sorted(document)[len(head) % len(document)]
        )
        return {**document, key: mutate(document.get(key), rest, value)}
    if isinstance(document, list) and document and isinstance(head, int):
        i = head % len(document)
        return [*document[:i], mutate(document[i], rest, value), *document[i + 1 :]]
    return value


spec_paths = st.lists(
    st.sampled_from([*VALID_SPEC, *FrontendParams().to_dict(), "sha256", "default"])
    | st.integers(0, 5),
    min_size=1,
    max_size=3,
)


def check_model_json(text: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "model.json").write_text(text)
        with time_limit():
            try:
                spec = load_spec(Path(folder), verify=False)
            except ModelError as exc:
                assert_one_line(exc)
            else:
                assert_usable(spec)


def assert_usable(spec: ModelSpec) -> None:
    """A spec that loads must be one the recognizer can run: numbers where numbers go."""
    fe = spec.frontend
    assert isinstance(fe.sample_rate_hz, int) and fe.sample_rate_hz > 0, fe
    assert isinstance(fe.n_mels, int) and fe.n_mels > 0, fe
    assert fe.hop_samples > 0 and fe.window_samples > 0, fe
    assert 0 <= fe.fmin_hz < fe.fmax_hz <= fe.sample_rate_hz / 2, fe
    assert fe.log_floor > 0, fe
    assert math.isfinite(spec.window_s) and spec.window_s > 0
    assert all(0 < spec.threshold(label) <= 1 for label in spec.labels)


@FUZZ
@given(path=spec_paths, value=json_values)
def test_mutated_model_json_yields_spec_or_model_error(path: list[str | int], value: Any) -> None:
    check_model_json(json.dumps(mutate(VALID_SPEC, path, value)))


@FUZZ
@given(document=json_values | st.text(max_size=100))
def test_random_model_json_is_a_model_error(document: Any) -> None:
    text = document if isinstance(document, str) else json.dumps(document)
    check_model_json(text)


# -- WAV files ----------------------------------------------------------------------------------


def valid_wav(channels: int = 1, width: int = 2, rate: int = 16000, frames: int = 400) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(channels)
        wav.setsampwidth(width)
        wav.setframerate(rate)
        wav.writeframes(bytes(range(256)) * (frames * channels * width // 256 + 1))
    return buffer.getvalue()[: 44 + frames * channels * width]


HEADER_FIELDS = {  # offset: struct format, in a canonical 44-byte header
    4: "<I",  # RIFF size
    16: "<I",  # fmt chunk size
    20: "<H",  # format tag
    22: "<H",  # channels
    24: "<I",  # sample rate
    28: "<I",  # byte rate
    32: "<H",  # block align
    34: "<H",  # bits per sample
    40: "<I",  # data size
}


@st.composite
def mutated_wavs(draw: st.DrawFn) -> bytes:
    data = bytearray(
        valid_wav(
            channels=draw(st.sampled_from([1, 2, 3])),
            width=draw(st.sampled_from([1, 2, 3, 4])),
            rate=draw(st.sampled_from([8000, 16000, 44100, 4000])),
            frames=draw(st.integers(0, 600)),
        )
    )
    for _ in range(draw(st.integers(1, 3))):
        offset = draw(st.sampled_from(sorted(HEADER_FIELDS)))
        fmt = HEADER_FIELDS[offset]
        top = 2 ** (8 * struct.calcsize(fmt)) - 1
        value = draw(st.sampled_from([0, 1, 2, 3, 7, 255, top]) | st.integers(0, top))
        struct.pack_into(fmt, data, offset, value)
    if draw(st.booleans()):
        cut = draw(st.integers(0, len(data)))
        data = data[:cut]
    if draw(st.booleans()):
        at = draw(st.integers(0, max(0, len(data) - 1)))
        data[at : at + 4] = draw(st.binary(min_size=1, max_size=4))
    return bytes(data)


def check_wav(raw: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "clip.wav"
        path.write_bytes(raw)
        with time_limit():
            try:
                audio = read_wav(path, 16000)
            except AudioError as exc:
                assert_one_line(exc)
            else:
                assert audio.dtype == np.int16 and audio.ndim == 1


@FUZZ
@given(raw=mutated_wavs())
def test_mutated_wav_header_yields_audio_or_audio_error(raw: bytes) -> None:
    check_wav(raw)


@FUZZ
@given(
    raw=st.binary(max_size=200)
    | st.binary(max_size=100).map(lambda b: b"RIFF\x00\x00\x00\x00WAVE" + b)
)
def test_random_bytes_as_wav_are_an_audio_error(raw: bytes) -> None:
    check_wav(raw)


# -- control messages ---------------------------------------------------------------------------

COMMANDS = ("on", "off", "stop")
control_documents = st.dictionaries(
    st.sampled_from(["muted", "thresholds", "volume", ""]),
    json_values
    | st.dictionaries(st.sampled_from([*COMMANDS, "launch", ""]), json_values, max_size=3),
    max_size=3,
)


@FUZZ
@given(document=control_documents)
def test_structured_control_yields_control_or_control_error(document: dict[str, Any]) -> None:
    payload = json.dumps(document).encode()
    with time_limit():
        try:
            control = Control.parse(payload, COMMANDS)
        except ControlError as exc:
            assert_one_line(exc)
            return
    assert control.muted is not None or control.thresholds is not None
    for command, threshold in (control.thresholds or {}).items():
        assert command in COMMANDS and (threshold is None or 0 < threshold <= 1)


@FUZZ
@given(payload=st.binary(max_size=5000))
def test_random_control_bytes_yield_control_error(payload: bytes) -> None:
    with time_limit():
        try:
            Control.parse(payload, COMMANDS)
        except ControlError as exc:
            assert_one_line(exc)


# -- a running publisher under a stream of random control messages -----------------------------


@pytest.mark.mqtt
def test_publisher_survives_random_control_messages(
    mqtt_broker: MosquittoBroker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from edge_asr import publisher as publisher_module
    from edge_asr.config import MqttSettings
    from edge_asr.publisher import Publisher

    # Every rejection answered, so each random payload is seen to be handled (a flood is
    # otherwise answered 10 a minute: tests/test_publisher.py checks that).
    monkeypatch.setattr(publisher_module, "REJECTS_TOLD_PER_WINDOW", 10_000)

    settings = MqttSettings(
        host=mqtt_broker.host,
        port=mqtt_broker.port,
        prefix="fuzz",
        device_id=f"dev-{uuid.uuid4().hex[:8]}",
    )
    topics = Topics(settings.prefix, settings.device_id)
    info = DeviceInfo(model="kws", model_version="1", commands=COMMANDS, sw_version="0")
    applied: list[Control] = []
    outbox = Outbox(tmp_path / "outbox.sqlite", 100, 3600)
    publisher = Publisher(settings, outbox, info, applied.append)
    sub = Subscriber(mqtt_broker, [topics.command, topics.error])
    rng = np.random.default_rng(11)
    payloads = [rng.bytes(int(n)) for n in rng.integers(0, 6000, 300)]
    payloads += [b"", b"\xff" * 4097, b'{"muted": true}', b'{"thresholds": {"on": 0.5}}', b"null"]
    publisher.start()
    try:
        deadline = time.monotonic() + 10
        while not publisher.connected:
            assert time.monotonic() < deadline, "publisher did not connect"
            time.sleep(0.05)
        for payload in payloads:
            sub.client.publish(topics.control, payload, qos=1)
        sub.wait(topics.error, count=len(payloads) - 2, timeout_s=30)
        now = time.time()
        event = CommandEvent(
            command="stop", score=0.9, start_ts=now - 1, end_ts=now, model="kws",
            model_version="1", device_id=settings.device_id,
        )  # fmt: skip
        publisher.submit(event)
        arrived = sub.wait(topics.command, timeout_s=10)
        assert publisher.connected
    finally:
        sub.close()
        publisher.stop(flush_timeout_s=2.0)
        outbox.close()
    assert json.loads(arrived[0].payload)["id"] == event.id
    assert [c.model_dump(exclude_none=True) for c in applied] == [
        {"muted": True},
        {"thresholds": {"on": 0.5}},
    ]
