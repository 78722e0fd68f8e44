"""edge-asr: offline voice commands from a microphone to MQTT."""

import os

# One BLAS thread unless the user asks for more, set before anything imports numpy. The hot
# path's matrix products are tiny (a few frames x 257 bins x 40 mels); from about 10 frames per
# batch OpenBLAS hands them to a worker thread, which then spins for ~0.1 s after each call:
# measured at 4.6 % of a second core while commands were spoken, for no speed-up.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

# Offline means offline. ONNX Runtime 1.29 and later report usage to Microsoft from Linux too
# (1DS telemetry, on by default in the PyPI wheels): a device identifier and a queue of events in
# ~/.cache/Microsoft/DeveloperTools/.onnxruntime/, and a thread that looks up
# mobile.events.data.microsoft.com every few seconds where there is no network. Set before
# onnxruntime loads, this turns all of it off (ORT_DISABLE_TELEMETRY=0 in the environment turns
# it back on).
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

__version__ = "0.1.0"
