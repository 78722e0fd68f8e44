"""Whether the daemon is muted, kept across restarts: a device muted for the night over MQTT must
not start publishing again because the watchdog, a reload or a power cut restarted it."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)

MUTE_FILE = "muted.json"


class MuteFile:
    """`muted.json` in the state directory: written (with an fsync) whenever mute changes."""

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
        """Replace the file atomically; a failure is logged and the daemon goes on."""
        tmp = self.path.with_suffix(".tmp")
        try:
            with tmp.open("w") as f:
                json.dump({"muted": muted}, f)
                f.flush()
                os.fsync(f.fileno())
            tmp.replace(self.path)
        except OSError as exc:
            log.error("cannot save mute to %s (%s): a restart will forget it", self.path, exc)
