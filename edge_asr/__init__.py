"""edge-asr: offline voice commands from a microphone to MQTT."""

__version__ = "0.1.0"
