"""The systemd unit, example config and installer are valid and keep what the daemon needs."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections import defaultdict
from pathlib import Path

import pytest
from repo import ROOT

UNIT = ROOT / "systemd" / "edge-asr.service"
EXAMPLE_CONFIG = ROOT / "systemd" / "config.toml"
INSTALLER = ROOT / "systemd" / "install.sh"
INSTALLED_BINARY = "/opt/edge-asr/venv/bin/edge-asr"
MAX_EXPOSURE = 2.5

needs_analyze = pytest.mark.skipif(
    shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed"
)


def _directives(unit: Path) -> dict[str, list[str]]:
    """Every Key=value of a unit file, all sections merged; repeated keys keep every value."""
    found: dict[str, list[str]] = defaultdict(list)
    for raw in unit.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";", "[")):
            continue
        key, _, value = line.partition("=")
        found[key.strip()].append(value.strip())
    return found


def _analyze(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["systemd-analyze", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "SYSTEMD_LOG_COLOR": "0", "SYSTEMD_COLORS": "0"},
    )


@needs_analyze
def test_unit_verifies_when_its_binary_exists(tmp_path: Path) -> None:
    # verify also checks that ExecStart exists, and on this machine edge-asr is not installed
    # in /opt: check a copy whose Exec lines point at a real executable instead.
    stand_in = tmp_path / "edge-asr"
    stand_in.write_text("#!/bin/sh\nexit 0\n")
    stand_in.chmod(0o755)
    copy = tmp_path / UNIT.name
    copy.write_text(UNIT.read_text().replace(INSTALLED_BINARY, str(stand_in)))

    result = _analyze("verify", str(copy))

    about_unit = [
        line for line in (result.stdout + result.stderr).splitlines() if UNIT.name in line
    ]
    assert result.returncode == 0, result.stdout + result.stderr
    assert about_unit == [], "\n".join(about_unit)


@needs_analyze
def test_unit_as_shipped_fails_verify_only_for_the_missing_install(tmp_path: Path) -> None:
    result = _analyze("verify", str(UNIT))
    if Path(INSTALLED_BINARY).exists():
        assert result.returncode == 0, result.stdout + result.stderr
        return
    problems = {line for line in (result.stdout + result.stderr).splitlines() if UNIT.name in line}
    assert problems, "verify should report the missing ExecStart binary"
    for line in problems:
        assert f"{INSTALLED_BINARY} is not executable" in line, line


@needs_analyze
def test_unit_hardening_is_rated_ok() -> None:
    result = _analyze("security", "--offline=true", "--no-pager", str(UNIT))
    output = result.stdout + result.stderr
    match = re.search(r"Overall exposure level for \S+: (\d+(?:\.\d+)?)", output)
    assert match, output
    assert float(match.group(1)) <= MAX_EXPOSURE, output


def test_unit_keeps_the_service_contract() -> None:
    d = _directives(UNIT)
    assert d["Type"] == ["notify"]
    assert d["NotifyAccess"] == ["main"]
    assert int(d["WatchdogSec"][-1]) > 0
    assert d["Restart"] == ["on-failure"]
    # Exit 78 is an invalid config: restarting would only spin.
    assert "78" in d["RestartPreventExitStatus"][-1].split()
    assert d["StateDirectory"] == ["edge-asr"]
    assert d["ConfigurationDirectory"] == ["edge-asr"]
    exec_start = d["ExecStart"][-1].split()
    assert exec_start[0] == INSTALLED_BINARY
    assert exec_start[1] == "run"
    # A reload is SIGHUP to the daemon (it checks the config first, tests/test_daemon_e2e.py).
    assert d["ExecReload"][-1].split()[1:] == ["-HUP", "$MAINPID"]


def test_unit_keeps_what_the_daemon_needs() -> None:
    from edge_asr.config import AudioSettings

    d = _directives(UNIT)
    # Microphone: ALSA character devices, and the audio group that owns them.
    assert any("char-alsa" in v and "rw" in v for v in d["DeviceAllow"])
    assert d.get("PrivateDevices", ["no"])[-1] == "no"
    assert "audio" in " ".join(d["SupplementaryGroups"] + d["Group"])
    # Broker over the network (and unix sockets for the notify socket).
    families = " ".join(d["RestrictAddressFamilies"]).split()
    assert {"AF_INET", "AF_INET6", "AF_UNIX"} <= set(families)
    assert d.get("PrivateNetwork", ["no"])[-1] == "no"
    # The capture thread's SCHED_FIFO request must fit under the limit.
    assert d["RestrictRealtime"][-1] == "no"
    assert int(d["LimitRTPRIO"][-1]) >= AudioSettings().realtime_priority
    # mlockall() of the whole process.
    assert d["LimitMEMLOCK"][-1] == "infinity" or "CAP_IPC_LOCK" in " ".join(
        d["AmbientCapabilities"]
    )
    # The outbox ages queued commands across a restart by this boot's id, which ProcSubset=pid
    # hides from the daemon: the unit hands it over.
    if d.get("ProcSubset", ["all"])[-1] == "pid":
        assert "EDGE_ASR_BOOT_ID=%b" in " ".join(d["Environment"]).split()
    # Python -OO (less memory), its bytecode cached where the service may write: the venv and
    # /usr are read-only to it (ProtectSystem=strict), and without a cache every start would
    # compile every module again.
    env = " ".join(d["Environment"]).split()
    assert "PYTHONOPTIMIZE=2" in env
    assert f"PYTHONPYCACHEPREFIX=%C/{d['CacheDirectory'][-1]}/pycache" in env
    assert "PYTHONDONTWRITEBYTECODE=1" not in env
    allowed_calls = " ".join(v for v in d["SystemCallFilter"] if not v.startswith("~"))
    for call in ("sched_setscheduler", "mlockall"):
        assert call in allowed_calls or "@system-service" in allowed_calls


def test_example_config_is_valid_for_the_current_settings() -> None:
    from edge_asr.config import load_settings

    settings = load_settings(EXAMPLE_CONFIG)
    assert settings.mqtt.port == 1883
    assert str(settings.outbox.state_dir) == "/var/lib/edge-asr"


def test_example_config_documents_every_section() -> None:
    from edge_asr.config import Settings

    text = EXAMPLE_CONFIG.read_text()
    for name, field in Settings.model_fields.items():
        if isinstance(field.default, str):
            assert re.search(rf"^{name} = ", text, re.M), name
        else:
            assert f"[{name}]" in text, name


def test_installer_parses_and_has_help() -> None:
    subprocess.run(["bash", "-n", str(INSTALLER)], check=True, timeout=30)
    shown = subprocess.run(
        ["bash", str(INSTALLER), "--help"], capture_output=True, text=True, timeout=30
    )
    assert shown.returncode == 0, shown.stderr
    assert "Usage" in shown.stdout
