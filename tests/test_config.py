"""Configuration: file < environment < flags, and every mistake names its key."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from tiny_model import build_tiny_model

from edge_asr.config import ConfigError, load_settings


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


def test_file_then_env_then_overrides(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, '[mqtt]\nhost = "from-file"\nport = 1884\n[decoder]\ngate_dbfs = -50\n')
    monkeypatch.setenv("EDGE_ASR_MQTT__PORT", "1885")
    settings = load_settings(path, mqtt={"host": "from-flag"})
    assert settings.mqtt.host == "from-flag"
    assert settings.mqtt.port == 1885
    assert settings.decoder.gate_dbfs == -50


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("[mqtt]\nport = 70000\n", "mqtt.port"),
        ('[mqtt]\nprefix = "a/b"\n', "mqtt.prefix"),
        ('[model]\nbackend = "tensorrt"\n', "model.backend"),
        ("[model.thresholds]\nyes = 2.0\n", "model.thresholds"),
        ("[audio]\nchunk_ms = 0\n", "audio.chunk_ms"),
        ('[mqtt]\nhots = "typo"\n', "mqtt.hots"),
        # not a number to sleep or compare with: would end the daemon with a traceback
        ("[mqtt]\nreconnect_min_s = inf\n", "mqtt.reconnect_min_s"),
        ("[audio]\nstall_timeout_s = inf\n", "audio.stall_timeout_s"),
        ("[model.thresholds]\nyes = nan\n", "model.thresholds"),
        ("[outbox]\nmax_age_s = nan\n", "outbox.max_age_s"),
        # pydantic would take true for device index 1, and blame 1.5 on "audio.device.str"
        ("[audio]\ndevice = true\n", "audio.device"),
        ("[audio]\ndevice = 1.5\n", "audio.device"),
    ],
)
def test_invalid_values_name_the_key(tmp_path: Path, text: str, key: str) -> None:
    with pytest.raises(ConfigError, match=rf"config key {key}\b"):
        load_settings(write(tmp_path, text))


def test_env_errors_name_the_key(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("EDGE_ASR_DECODER__REFRACTORY_MS", "soon")
    with pytest.raises(ConfigError, match=r"decoder\.refractory_ms"):
        load_settings(write(tmp_path, ""))


def test_a_key_that_is_not_one_line_is_shown_quoted(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Keys of a mapping setting come from the user's JSON; the error stays one line."""
    monkeypatch.setenv("EDGE_ASR_MODEL__THRESHOLDS", '{"st\\nop": null}')
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path, ""))
    assert "config key model.thresholds.'st\\nop':" in str(info.value)
    assert "\n" not in str(info.value)


def test_toml_syntax_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"config\.toml"):
        load_settings(write(tmp_path, "[mqtt\n"))
    with pytest.raises(ConfigError, match=r"not found"):
        load_settings(tmp_path / "nope.toml")


def test_cli_exits_78_with_one_line_and_no_traceback(tmp_path: Path) -> None:
    path = write(tmp_path, "[mqtt]\nport = -1\n")
    result = subprocess.run(
        [sys.executable, "-m", "edge_asr.cli", "config", "check", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 78
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "mqtt.port" in lines[0], result.stderr
    before = [sys.executable, "-m", "edge_asr.cli", "--config", str(path), "config", "check"]
    result = subprocess.run(before, capture_output=True, text=True, timeout=60)
    assert result.returncode == 78 and "mqtt.port" in result.stderr  # was "invalid choice"


def test_config_check_names_the_decoder_the_model_will_run_with(tmp_path: Path) -> None:
    """Unset decoder timing is the model's (what its thresholds were calibrated for); the check
    prints the cadence, span and thresholds that will actually run."""
    folder = tmp_path / "model"
    build_tiny_model(folder)
    sidecar = folder / "model.json"
    data = json.loads(sidecar.read_text())
    data["decoder"] = {"infer_every_ms": 100, "smoothing_ms": 300}
    sidecar.write_text(json.dumps(data))
    path = write(
        tmp_path,
        f'[model]\npath = "{folder}"\nbackend = "onnx"\n[model.thresholds]\ndefault = 0.7\n',
    )
    check = [sys.executable, "-m", "edge_asr.cli", "config", "check", "--config", str(path)]
    result = subprocess.run(check, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "inference every 100 ms, smoothing 300 ms, threshold 0.70" in result.stdout
    env = {**os.environ, "EDGE_ASR_DECODER__SMOOTHING_MS": "200"}
    result = subprocess.run(check, capture_output=True, text=True, timeout=60, env=env)
    assert "smoothing 200 ms" in result.stdout
    assert "calibrated for 100 and 300 ms" in result.stderr


@pytest.mark.parametrize(
    ("name", "hint"),
    [
        ("EDGE_ASR_MQTT_HOST", "two underscores: EDGE_ASR_MQTT__HOST"),  # would stay on localhost
        ("EDGE_ASR_BOGUS", "settings: EDGE_ASR_LOG_LEVEL, EDGE_ASR_AUDIO"),
    ],
)
def test_env_name_that_is_no_setting_is_an_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, name: str, hint: str
) -> None:
    monkeypatch.setenv(name, "broker")
    with pytest.raises(ConfigError, match=rf"env {name}: not a setting.*{hint}"):
        load_settings(write(tmp_path, ""))
    monkeypatch.delenv(name)
    monkeypatch.setenv("EDGE_ASR_CACHE", "/tmp/cache")  # the trainer's, not a setting
    assert load_settings(write(tmp_path, "")).mqtt.host == "localhost"


def test_env_section_that_is_not_json_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("EDGE_ASR_MQTT", "broker")
    with pytest.raises(ConfigError, match=r"^env EDGE_ASR_MQTT: not a JSON object"):
        load_settings(write(tmp_path, ""))


def test_error_says_where_the_bad_value_came_from(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = write(tmp_path, "[mqtt]\nport = 70000\n")
    with pytest.raises(ConfigError, match=rf"\[file {path}\]$"):
        load_settings(path)
    with pytest.raises(ConfigError, match=r"\[command-line flag\]$"):
        load_settings(path, mqtt={"port": 99999})
    monkeypatch.setenv("EDGE_ASR_MQTT__PORT", "0")
    with pytest.raises(ConfigError, match=r"\[env EDGE_ASR_MQTT__PORT\]$"):
        load_settings(path)


def test_config_path_that_is_a_directory(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"is a directory"):
        load_settings(tmp_path)


def test_threshold_for_a_command_the_model_lacks_exits_78(tmp_path: Path) -> None:
    """Caught at `config check` (the unit's ExecStartPre): exit 1 made systemd restart it for
    ever with a traceback each time."""
    folder = tmp_path / "model"
    build_tiny_model(folder)
    path = write(
        tmp_path, f'[model]\npath = "{folder}"\nbackend = "onnx"\n[model.thresholds]\nyse = 0.7\n'
    )
    check = [sys.executable, "-m", "edge_asr.cli", "config", "check", "--config", str(path)]
    result = subprocess.run(check, capture_output=True, text=True, timeout=60)
    assert result.returncode == 78, result.stderr
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("edge-asr:")]
    assert len(errors) == 1 and "model.thresholds.yse: not a command" in errors[0], result.stderr


def test_config_check_names_the_missing_tls_file(tmp_path: Path) -> None:
    path = write(tmp_path, f'[mqtt.tls]\nca_file = "{tmp_path / "ca.pem"}"\n')
    check = [sys.executable, "-m", "edge_asr.cli", "config", "check", "--config", str(path)]
    result = subprocess.run(check, capture_output=True, text=True, timeout=60)
    assert result.returncode == 78
    assert "config key mqtt.tls.ca_file: file" in result.stderr  # was "config key mqtt"
