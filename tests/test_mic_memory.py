"""Opening the microphone leaves only the ALSA plugin it captures through loaded: PortAudio's
device scan loads every plugin in the ALSA configuration (libavcodec, libjack, ...), and the
daemon would otherwise keep them mapped for its whole life."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from pulse_mic import VirtualMic

pytestmark = pytest.mark.pulse

PROBE = """
import json
from edge_asr.audio import MicrophoneSource, open_portaudio

def plugins():
    with open("/proc/self/maps") as maps:
        names = {line.split("/")[-1].strip() for line in maps}
    return sorted(name for name in names if name.startswith("libasound_module_pcm"))

pa = open_portaudio()
scanned = plugins()
pa.terminate()
mic = MicrophoneSource(None, 16000, 16000, 100, 2.0, 5.0, 0)
audio = mic.read()
print(json.dumps({"scanned": scanned, "open": plugins(), "samples": len(audio)}))
mic.close()
"""


def test_only_the_capturing_plugin_stays_loaded(virtual_mic: VirtualMic) -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE],
        env=virtual_mic.env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    if len(seen["scanned"]) < 2:
        pytest.skip(f"this system's ALSA configuration has one plugin: {seen['scanned']}")
    assert seen["open"] == ["libasound_module_pcm_pulse.so"], seen
    assert seen["samples"] == 1600  # audio still flows through the plugin that stayed
