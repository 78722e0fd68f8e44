"""Shared fixtures. MQTT: real mosquitto processes per test module (see mqtt_broker.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from daemon_proc import Daemon
from mqtt_broker import MOSQUITTO, MosquittoBroker, TlsFiles, make_tls_files
from pulse_mic import VirtualMic


@pytest.fixture(scope="module")
def mosquitto(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Callable[..., MosquittoBroker]]:
    """Factory: `mosquitto(**MosquittoBroker options)` starts a broker; all stop at module end."""
    if not Path(MOSQUITTO).exists():
        pytest.skip(f"{MOSQUITTO} not installed (apt-get install mosquitto mosquitto-clients)")
    brokers: list[MosquittoBroker] = []

    def start(**options: Any) -> MosquittoBroker:
        broker = MosquittoBroker(tmp_path_factory.mktemp("mosquitto"), **options)
        brokers.append(broker)
        broker.start()
        return broker

    yield start
    for broker in brokers:
        broker.stop()


@pytest.fixture(scope="module")
def mqtt_broker(mosquitto: Callable[..., MosquittoBroker]) -> MosquittoBroker:
    """A plain (no TLS, anonymous) broker on 127.0.0.1, shared by one test module."""
    return mosquitto()


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    """A test CA with broker and client certificates, made by openssl."""
    return make_tls_files(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def virtual_mic() -> Iterator[VirtualMic]:
    """A fresh PulseAudio virtual microphone (null sink + monitor source) for one test."""
    reason = VirtualMic.available()
    if reason:
        pytest.skip(reason)
    mic = VirtualMic()
    mic.create()
    yield mic
    mic.remove()


@pytest.fixture
def daemons() -> Iterator[Callable[..., Daemon]]:
    """Factory: `daemons(model, broker, state, device_id, env)` starts `edge-asr run`; any
    still running at the end of the test is killed."""
    started: list[Daemon] = []

    def start(*args: Any) -> Daemon:
        daemon = Daemon(*args)
        started.append(daemon)
        return daemon

    yield start
    for daemon in started:
        if daemon.proc.poll() is None:
            daemon.kill()
