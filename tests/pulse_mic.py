"""A real PulseAudio virtual microphone: a null sink whose monitor is the capture source.

Playing a WAV into the sink (paplay) is heard by anything recording from `<sink>.monitor`;
PyAudio reaches it through PortAudio -> ALSA -> the pulse plugin, as on a desktop or a Pi.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from pathlib import Path


class VirtualMic:
    def __init__(self) -> None:
        self.sink = f"edgeasr_{uuid.uuid4().hex[:8]}"
        self.source = f"{self.sink}.monitor"
        self._module: str | None = None

    @staticmethod
    def available() -> str | None:
        """None if PulseAudio can be used, else the reason it cannot."""
        for tool in ("pulseaudio", "pactl", "paplay"):
            if shutil.which(tool) is None:
                return f"{tool} not installed (apt-get install pulseaudio pulseaudio-utils)"
        return None

    @staticmethod
    def ensure_server() -> None:
        if subprocess.run(["pactl", "info"], capture_output=True).returncode == 0:
            return
        subprocess.run(
            ["pulseaudio", "-D", "--exit-idle-time=-1", "--log-target=stderr"],
            capture_output=True,
            check=False,
        )
        for _ in range(50):
            if subprocess.run(["pactl", "info"], capture_output=True).returncode == 0:
                return
            time.sleep(0.1)
        raise RuntimeError("PulseAudio did not start")

    def create(self) -> None:
        self.ensure_server()
        out = subprocess.run(
            [
                "pactl",
                "load-module",
                "module-null-sink",
                f"sink_name={self.sink}",
                "rate=16000",
                "channels=1",
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        self._module = out.stdout.strip()

    def remove(self) -> None:
        """Make the microphone vanish (as an unplugged USB mic would)."""
        if self._module is not None:
            subprocess.run(["pactl", "unload-module", self._module], check=False)
            self._module = None

    def suspend(self, suspended: bool) -> None:
        """Stop (or resume) the flow of audio from the microphone, as a stalled driver would."""
        subprocess.run(["pactl", "suspend-sink", self.sink, "1" if suspended else "0"], check=True)

    def env(self) -> dict[str, str]:
        """Environment for a process that should record from this microphone by default."""
        return {**os.environ, "PULSE_SOURCE": self.source, "PULSE_SINK": self.sink}

    def play(self, wav: Path) -> None:
        """Blocks until the clip has been played into the microphone.

        A 20 ms playback buffer makes paplay return within ~20 ms of the last sample reaching
        the microphone, so the caller knows when the utterance ended.
        """
        subprocess.run(
            ["paplay", "--latency-msec=20", f"--device={self.sink}", str(wav)],
            check=True,
            timeout=60,
        )
