"""edge-asr: offline voice commands from a microphone to MQTT."""

import os

# One BLAS thread unless the user asks for more, set before anything imports numpy. The hot
# path's matrix products are tiny (a few frames x 257 bins x 40 mels); from about 10 frames per
# batch OpenBLAS hands them to a worker thread, which then spins for ~0.1 s after each call:
# measured at 4.6 % of a second core while commands were spoken, for no speed-up.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

__version__ = "0.1.0"
