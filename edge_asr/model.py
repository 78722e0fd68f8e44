"""A model folder and its model.json sidecar: the single source of truth for running a model."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .frontend import FrontendParams

SIDECAR = "model.json"
MODEL_FILES = {"onnx": "model.onnx", "tflite": "model.tflite"}
FORMAT_VERSION = 1
# The decoder timing a model's thresholds were calibrated with; models whose model.json has no
# "decoder" section were calibrated with these.
DECODER_DEFAULTS = {"infer_every_ms": 100, "smoothing_ms": 200}
_DECODER_RANGES = {"infer_every_ms": (10, 1000), "smoothing_ms": (0, 2000)}


class ModelError(Exception):
    """A model folder that cannot be used; the message names the file."""


def is_internal(label: str) -> bool:
    """Labels such as _silence_ and _unknown_ are never published."""
    return label.startswith("_")


@dataclass(frozen=True)
class ModelSpec:
    """What model.json says. Input tensor: (1, input_frames, n_mels); output: logits per label."""

    folder: Path
    name: str
    version: str
    labels: tuple[str, ...]
    frontend: FrontendParams
    input_frames: int
    default_threshold: float
    thresholds: dict[str, float]
    files: dict[str, str]  # file name -> sha256
    extra: dict[str, Any] = field(default_factory=dict)  # metrics, training recipe, ...
    # Decoder timing the thresholds were calibrated for (infer_every_ms, smoothing_ms).
    decoder: dict[str, int] = field(default_factory=lambda: dict(DECODER_DEFAULTS))

    @property
    def commands(self) -> tuple[str, ...]:
        return tuple(label for label in self.labels if not is_internal(label))

    @property
    def window_s(self) -> float:
        hop_s = self.frontend.hop_samples / self.frontend.sample_rate_hz
        win_s = self.frontend.window_samples / self.frontend.sample_rate_hz
        return (self.input_frames - 1) * hop_s + win_s

    @property
    def timing(self) -> tuple[int, int]:
        """(infer_every_ms, smoothing_ms) the thresholds were calibrated for."""
        return self.decoder["infer_every_ms"], self.decoder["smoothing_ms"]

    def threshold(self, label: str) -> float:
        return self.thresholds.get(label, self.default_threshold)

    def path_of(self, runtime: str) -> Path | None:
        """The file for runtime 'onnx' or 'tflite', if the folder has it."""
        name = MODEL_FILES[runtime]
        return self.folder / name if name in self.files else None

    def verify(self) -> None:
        """Check every listed file exists and matches its sha256."""
        for name, expected in self.files.items():
            path = self.folder / name
            if not path.is_file():
                raise ModelError(f"{path}: listed in {SIDECAR} but missing")
            try:
                actual = sha256_of(path)
            except OSError as exc:  # e.g. a root-only file and the service's DynamicUser
                raise ModelError(f"{path}: cannot read ({exc.strerror})") from None
            if actual != expected:
                raise ModelError(f"{path}: sha256 {actual[:12]}... does not match {SIDECAR}")

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT_VERSION,
            "name": self.name,
            "version": self.version,
            "labels": list(self.labels),
            "frontend": self.frontend.to_dict(),
            "input_frames": self.input_frames,
            "thresholds": {"default": self.default_threshold, **self.thresholds},
            "decoder": dict(self.decoder),
            "files": {name: {"sha256": digest} for name, digest in sorted(self.files.items())},
            **self.extra,
        }


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def load_spec(folder: Path, verify: bool = True) -> ModelSpec:
    """Read and validate folder/model.json; every problem names the file."""
    sidecar = folder / SIDECAR
    try:
        data = json.loads(sidecar.read_text())
    except FileNotFoundError:
        raise ModelError(f"{sidecar}: not found (is {folder} a model folder?)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"{sidecar}: unreadable: {exc}") from None
    try:
        spec = _parse(folder, data)
    except (KeyError, TypeError, ValueError) as exc:
        problem = f"missing key {exc}" if isinstance(exc, KeyError) else str(exc)
        raise ModelError(f"{sidecar}: {problem}") from None
    if verify:
        spec.verify()
    return spec


def _parse(folder: Path, data: Any) -> ModelSpec:
    if not isinstance(data, dict):
        raise ValueError("top level must be an object")
    if data.get("format") != FORMAT_VERSION:
        raise ValueError(f"format must be {FORMAT_VERSION}, got {data.get('format')!r}")
    labels = data["labels"]
    if not isinstance(labels, list) or not labels or not all(isinstance(x, str) for x in labels):
        raise ValueError("labels must be a non-empty list of strings")
    if len(set(labels)) != len(labels):
        raise ValueError("labels must be unique")
    if not isinstance(data["frontend"], dict):
        raise ValueError("frontend must be an object")
    frontend = _check_frontend(FrontendParams.from_dict(data["frontend"]))
    input_frames = data["input_frames"]
    if not isinstance(input_frames, int) or input_frames < 1:
        raise ValueError("input_frames must be a positive integer")
    if not isinstance(data.get("thresholds", {}), dict):
        raise ValueError('thresholds must be an object ({"default": 0.9, "<command>": ...})')
    thresholds = {}
    for label, value in data.get("thresholds", {}).items():
        # Compared before float(): an integer too big for a float is out of range, not a crash.
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 1:
            raise ValueError(f"threshold {label!r} must be a number in (0, 1], got {value!r}")
        if label != "default" and label not in labels:
            raise ValueError(f"threshold for unknown label {label!r}")
        thresholds[label] = float(value)
    default = thresholds.pop("default", 0.8)
    files_raw = data["files"]
    if not isinstance(files_raw, dict):
        raise ValueError("files must be an object")
    if not all(
        isinstance(e, dict) and isinstance(e.get("sha256"), str) for e in files_raw.values()
    ):
        raise ValueError('each entry of files must be {"sha256": "<hex digest>"}')
    files = {str(name): str(entry["sha256"]) for name, entry in files_raw.items()}
    if not any(name in files for name in MODEL_FILES.values()):
        raise ValueError(f"files must list {' or '.join(MODEL_FILES.values())}")
    decoder = _parse_decoder(data.get("decoder", {}))
    known = {"format", "name", "version", "labels", "frontend", "input_frames", "thresholds"}
    known |= {"decoder", "files"}  # parsed above; everything else is kept as extra
    extra = {k: v for k, v in data.items() if k not in known}
    return ModelSpec(
        folder=folder,
        name=str(data["name"]),
        version=str(data["version"]),
        labels=tuple(labels),
        frontend=frontend,
        input_frames=input_frames,
        default_threshold=default,
        thresholds=thresholds,
        files=files,
        extra=extra,
        decoder=decoder,
    )


def _parse_decoder(raw: Any) -> dict[str, int]:
    if not isinstance(raw, dict):
        raise ValueError("decoder must be an object")
    decoder = dict(DECODER_DEFAULTS)
    for key, value in raw.items():
        if key not in _DECODER_RANGES:
            raise ValueError(f"decoder.{key}: unknown key (known: {', '.join(_DECODER_RANGES)})")
        low, high = _DECODER_RANGES[key]
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ValueError(f"decoder.{key} must be an integer in [{low}, {high}], got {value!r}")
        decoder[key] = value
    return decoder


def _check_frontend(params: FrontendParams) -> FrontendParams:
    """Reject parameters the feature code cannot run with, so that fails here, not mid-stream."""

    def number(name: str, low: float, high: float, *, integer: bool = False) -> float:
        value = getattr(params, name)
        kinds = (int,) if integer else (int, float)
        if isinstance(value, bool) or not isinstance(value, kinds) or not low <= value <= high:
            kind = "an integer" if integer else "a number"
            raise ValueError(
                f"frontend.{name} must be {kind} in [{low:g}, {high:g}], got {value!r}"
            )
        return float(value)

    rate = number("sample_rate_hz", 4000, 192000, integer=True)
    window_ms = number("window_ms", 1, 1000)
    number("hop_ms", 1, window_ms)
    number("n_mels", 1, 512, integer=True)
    fmin = number("fmin_hz", 0, rate / 2)
    number("fmax_hz", fmin + 1, rate / 2)
    number("log_floor", 1e-30, 1)
    return params


def write_spec(spec: ModelSpec) -> Path:
    """Write model.json with fresh checksums of the files it lists."""
    files = {name: sha256_of(spec.folder / name) for name in spec.files}
    fresh = ModelSpec(**{**spec.__dict__, "files": files})
    path = spec.folder / SIDECAR
    path.write_text(json.dumps(fresh.to_json(), indent=2) + "\n")
    return path


def default_model_dir() -> Path:
    """The shipped default model: inside the wheel, or models/ beside an editable checkout."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "_models", here.parent / "models"):
        if (candidate / "speech-commands-20" / SIDECAR).is_file():
            return candidate / "speech-commands-20"
    return here.parent / "models" / "speech-commands-20"
