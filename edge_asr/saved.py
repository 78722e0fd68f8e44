"""What the set topic changed, kept in the state directory across restarts: a device muted for the
night, or told to hear "stop" less readily, must not go back to its old ways because the
watchdog, a reload or a power cut restarted it."""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

MUTE_FILE = "muted.json"
THRESHOLDS_FILE = "thresholds.json"


def _replace(path: Path, document: Any, forgets: str) -> None:
    """Write `document` as JSON over `path` atomically and durably (fsync before the rename);
    a failure is logged, saying what a restart will forget, and the daemon goes on."""
    tmp = path.with_suffix(".tmp")
    try:
        with tmp.open("w") as f:
            json.dump(document, f)
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(path)
    except OSError as exc:
        log.error("cannot save %s (%s): a restart will forget %s", path, exc, forgets)


class MuteFile:
    """`muted.json`: written whenever mute changes."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / MUTE_FILE

    def load(self) -> bool:
        """The mute last saved; False when none was (or it cannot be read, which is logged)."""
        try:
            muted = json.loads(self.path.read_text())["muted"]
            if not isinstance(muted, bool):
                raise ValueError(f"muted is {muted!r}, not true or false")
        except FileNotFoundError:
            return False
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("cannot read %s (%s): starting unmuted", self.path, exc)
            return False
        return muted

    def save(self, muted: bool) -> None:
        _replace(self.path, {"muted": muted}, "the mute")


class ThresholdFile:
    """`thresholds.json`: the thresholds set over MQTT, for one model.

    A threshold is calibrated for one network, so the file names the model it was set for (name,
    version and its files' sha256); another model, a new version or a retrained one, starts from
    its own calibrated thresholds and the file's are not applied (a WARNING says so).
    """

    def __init__(self, folder: Path, model: str, version: str, files: Mapping[str, str]) -> None:
        self.path = folder / THRESHOLDS_FILE
        self._model = {"model": model, "model_version": version, "model_files": dict(files)}

    def load(self, commands: Collection[str]) -> dict[str, float]:
        """The thresholds last saved for this model; those that are not a command of it in
        (0, 1], or a file that cannot be read or is for another model, are logged and left out."""
        try:
            document = json.loads(self.path.read_text())
            saved = document["thresholds"]
            if not isinstance(saved, dict):
                raise ValueError(f"thresholds is {saved!r}, not an object")
            model = {key: document.get(key) for key in self._model}
        except FileNotFoundError:
            return {}
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("cannot read %s (%s): thresholds set over MQTT not applied", self.path, exc)
            return {}
        if model != self._model:
            retrained = all(model[key] == self._model[key] for key in ("model", "model_version"))
            log.warning(
                "%s holds thresholds set over MQTT for %s %s, not for this model (%s %s%s): not"
                " applied, this model's own are (the next threshold set replaces the file)",
                self.path,
                model["model"],
                model["model_version"],
                self._model["model"],
                self._model["model_version"],
                ", other files" if retrained else "",
            )
            return {}
        kept = {}
        for command, value in saved.items():
            ok = type(value) in (int, float) and math.isfinite(value) and 0.0 < value <= 1.0
            if command in commands and ok:
                kept[command] = float(value)
            else:
                log.warning(
                    "%s: %s=%r is not a threshold of this model: left out",
                    self.path,
                    command,
                    value,
                )
        return kept

    def save(self, thresholds: Mapping[str, float]) -> None:
        """Replace the file with `thresholds` (every one set over MQTT that still holds)."""
        _replace(self.path, {**self._model, "thresholds": dict(thresholds)}, "these thresholds")
