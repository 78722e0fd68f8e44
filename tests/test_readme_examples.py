"""The README's examples for acting on commands work: the Home Assistant automation names the
entity discovery announces and tests what the event carries; the Python subscriber, run against
a real mosquitto, acts once per command and survives a copy of one."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from mqtt_broker import MosquittoBroker, Subscriber
from repo import ROOT
from test_messages import _event
from waiting import wait_for

from edge_asr.messages import (
    HA_EVENT_VALUE_TEMPLATE,
    CommandEvent,
    DeviceInfo,
    Topics,
    discovery_payload,
)

SECTION = (ROOT / "README.md").read_text().split("### Acting on commands", 1)[1].split("\n## ")[0]


def example(language: str) -> str:
    match = re.search(rf"```{language}\n(.*?)```", SECTION, re.S)
    assert match, f"no {language} example under 'Acting on commands'"
    return match.group(1)


def event(command: str) -> CommandEvent:
    return _event(command=command, model="speech-commands-20", model_version="1.3.1")


def test_home_assistant_automation_names_the_entity_and_fires_on_its_command() -> None:
    yaml = pytest.importorskip("yaml")
    jinja2 = pytest.importorskip("jinja2")
    (automation,) = yaml.safe_load(example("yaml"))
    (trigger,) = automation["triggers"]
    # Home Assistant makes the entity id from the device's name and the entity's name.
    info = DeviceInfo("speech-commands-20", "1.3.1", ("on", "off"), "0.1.0")
    config = json.loads(discovery_payload(Topics("edge-asr", "kitchen"), info))
    slug = re.sub(r"[^a-z0-9]+", "_", f"{config['device']['name']} {config['name']}".lower())
    assert trigger["entity_id"] == f"event.{slug}"
    (condition,) = automation["conditions"]

    def fires(command: str) -> bool:
        # The attributes HA keeps: what the discovery's value template renders from a payload.
        value_json = json.loads(event(command).to_payload(latency_ms=20.0))
        attributes = json.loads(
            jinja2.Environment().from_string(HA_EVENT_VALUE_TEMPLATE).render(value_json=value_json)
        )
        trigger_vars: dict[str, Any] = {"to_state": {"attributes": attributes}}
        template = jinja2.Environment().from_string(condition["value_template"])
        return bool(template.render(trigger=trigger_vars) == "True")

    assert fires("off") and not fires("on")


class Script:
    """The README's subscriber as a process; the lines it prints are collected as they come."""

    def __init__(self, path: Path) -> None:
        self.lines: list[str] = []
        self.proc = subprocess.Popen(
            [sys.executable, str(path)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.strip())

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait()


@pytest.mark.mqtt
def test_python_subscriber_acts_once_per_command_and_gets_those_sent_while_it_was_away(
    mosquitto: Callable[..., MosquittoBroker], tmp_path: Path
) -> None:
    broker = mosquitto()
    code = example("python").replace(
        'client.connect("broker.lan", 1883)', f'client.connect("{broker.host}", {broker.port})'
    )
    assert str(broker.port) in code
    (tmp_path / "subscriber.py").write_text(code)
    publisher = Subscriber(broker, ["unused/#"])
    stop, go, left = event("stop"), event("go"), event("left")
    first = Script(tmp_path / "subscriber.py")
    try:
        # Sent again until it is heard (the subscriber connects and subscribes in its own
        # time): every copy has the same id, so however many arrive, it acts once.
        wait_for(lambda: first.lines or publish(publisher, stop), 15, "the first line")
        publish(publisher, stop)
        publish(publisher, go)
        wait_for(lambda: len(first.lines) >= 2, 15, "the subscriber acting on go")
        time.sleep(0.5)
        assert first.lines == ["kitchen stop 0.93", "kitchen go 0.93"]
    finally:
        first.kill()
    publish(publisher, left)  # while no subscriber runs: its session keeps it
    second = Script(tmp_path / "subscriber.py")
    try:
        wait_for(lambda: second.lines, 15, "the command sent while it was away")
        assert second.lines == ["kitchen left 0.93"]
    finally:
        second.kill()
        publisher.close()


def publish(publisher: Subscriber, command: CommandEvent) -> bool:
    """One QoS 1 publish of `command` as the daemon sends it; False, so wait_for goes on."""
    info = publisher.client.publish("edge-asr/kitchen/command", command.to_payload(10.0), qos=1)
    info.wait_for_publish(5)
    time.sleep(0.2)
    return False
