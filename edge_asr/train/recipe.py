"""Model factory: teacher -> students (with and without KD) -> INT8 ONNX + TFLite -> folder."""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import json
import logging
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from edge_asr.frontend import FrontendParams
from edge_asr.model import DECODER_DEFAULTS, ModelSpec, write_spec

from . import export, fit, mining, nets
from .augment import VOICE_CONVERSION_FIELDS, AugmentConfig
from .cachekey import stable_dict
from .side import submit
from .tts import DEFAULT_CACHE_DIR

log = logging.getLogger(__name__)

DEFAULT_THRESHOLD = 0.8  # placeholder: the lead calibrates thresholds on the streaming path


@dataclass(frozen=True)
class Preset:
    """Network sizes, per-stage recipes and sample budgets; part of every stage's recipe hash."""

    teacher_widths: tuple[int, ...]
    teacher: fit.TrainConfig
    student: fit.TrainConfig  # the no-KD student uses it with kd_alpha = 0
    kd_alpha: float = 0.7
    kd_temperature: float = 4.0
    calib_windows: int = 512
    max_train: int | None = None  # cap on training windows (tiny runs)
    # Per-stage budgets in training samples (epochs x windows): a larger command set trains
    # fewer epochs. Counted, not timed, so every machine trains the same networks.
    teacher_budget_samples: int | None = None
    student_budget_samples: int | None = None
    student_kwargs: dict[str, Any] = field(default_factory=dict)
    # Hard negatives: the chosen student is fine-tuned with the windows of a command-free
    # training-voice stream on which it scores a command >= mine_threshold (0: off).
    mine_threshold: float = 0.0
    mine_minutes: float = 0.0
    mine_tune: fit.TrainConfig = field(default_factory=fit.TrainConfig)


PRESETS: dict[str, Preset] = {
    # Custom commands (`edge-asr train --size small`): ~8k windows for three commands, so
    # epochs are cheap. The budgets are what the 7- and 4.5-minute wall-clock budgets they
    # replace allowed on one core of this 2-core VM (~560 teacher and ~1100 student samples/s,
    # 20 % kept for validation): 23 and 29 epochs of the three-phrase example. Selected on
    # balanced accuracy: unknown windows outnumber each command's ~5 to 1.
    "small": Preset(
        teacher_widths=(32, 64, 128),
        teacher=fit.TrainConfig(epochs=30, lr=3e-3, patience=8, select_on="balanced"),
        student=fit.TrainConfig(
            epochs=40, lr=5e-3, patience=10, label_smoothing=0.05, select_on="balanced"
        ),
        teacher_budget_samples=188_000,
        student_budget_samples=238_000,
    ),
    # The shipped model: ~46k windows. Fixed epoch counts, not time budgets, so a rebuild on any
    # machine trains the same networks: those the 32- and 17-minute budgets of 1.3.0 allowed on
    # this 2-core VM (teacher 18 epochs, ~26 min; each student 26, ~15 min).
    "long": Preset(
        teacher_widths=(32, 64, 128),
        teacher=fit.TrainConfig(epochs=18, lr=3e-3, patience=5, mixup_alpha=0.0),
        student=fit.TrainConfig(epochs=26, lr=5e-3, patience=6, label_smoothing=0.05),
        mine_threshold=0.3,
        mine_minutes=180.0,
        mine_tune=fit.TrainConfig(epochs=8, lr=1e-3, patience=8, label_smoothing=0.05),
    ),
    # Smoke test of the whole pipeline in seconds.
    "tiny": Preset(
        teacher_widths=(16, 32, 48),
        teacher=fit.TrainConfig(epochs=4, lr=5e-3, batch_size=32, patience=10),
        student=fit.TrainConfig(epochs=6, lr=1e-2, batch_size=32, patience=10),
        calib_windows=64,
        max_train=1500,
        mine_threshold=0.3,
        mine_minutes=1.0,
        mine_tune=fit.TrainConfig(epochs=2, lr=1e-3, batch_size=32, patience=10),
    ),
}


def _voice_conversion(augment: dict[str, Any]) -> dict[str, Any]:
    """The data recipe's voice conversion settings; the recipe omits fields at their default."""
    if not augment.get("p_voice"):
        return {}
    return {k: augment.get(k, getattr(AugmentConfig, k)) for k in VOICE_CONVERSION_FIELDS}


def _file_digest(paths: list[Path]) -> str:
    h = hashlib.sha256()
    for path in paths:
        with path.open("rb") as f:
            while chunk := f.read(1 << 20):
                h.update(chunk)
    return h.hexdigest()


def _hash(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def read_labels(dataset_dir: Path) -> tuple[list[str], dict[str, Any]]:
    """labels.json as a plain list of labels, or an object with "labels" and maybe "frontend"."""
    data = json.loads((dataset_dir / "labels.json").read_text())
    meta: dict[str, Any] = {} if isinstance(data, list) else dict(data)
    # The builder's dataset.json may state the frontend it used; labels.json wins if both do.
    summary = dataset_dir / "dataset.json"
    if "frontend" not in meta and summary.is_file():
        extra = json.loads(summary.read_text())
        if isinstance(extra, dict) and "frontend" in extra:
            meta["frontend"] = extra["frontend"]
    labels = list(data if isinstance(data, list) else data["labels"])
    if labels[:2] != ["_silence_", "_unknown_"]:
        log.warning(
            "%s: labels should start with _silence_, _unknown_; got %s",
            dataset_dir / "labels.json",
            labels[:2],
        )
    return labels, meta


def _subsample(split: fit.Split, cap: int | None, seed: int) -> fit.Split:
    if cap is None or len(split) <= cap:
        return split
    idx = np.sort(np.random.default_rng(seed).choice(len(split), cap, replace=False))
    t = torch.from_numpy(idx)
    return fit.Split(split.x[t], split.y[t], split.snr_db[idx])


def _budgeted(
    cfg: fit.TrainConfig, n_train: int, budget_samples: int | None, name: str
) -> fit.TrainConfig:
    """Cut epochs to the stage's sample budget (a function of the data alone, not the machine)."""
    if budget_samples is None:
        return cfg
    epochs = fit.epochs_for_samples(n_train, budget_samples, cfg.epochs)
    log.info(
        "%s: %d epochs of %d windows (budget %d samples)", name, epochs, n_train, budget_samples
    )
    return replace(cfg, epochs=epochs)


def _dataset_recipe(dataset_dir: Path) -> dict[str, Any]:
    """The data recipe recorded in dataset.json (empty if the set was built elsewhere)."""
    path = dataset_dir / "dataset.json"
    if not path.is_file():
        return {}
    recipe = json.loads(path.read_text()).get("recipe", {})
    return dict(recipe) if isinstance(recipe, dict) else {}


def _enrolled(dataset_dir: Path) -> dict[str, int]:
    """Recordings per command that `train --enroll` added, as dataset.json counts them."""
    path = dataset_dir / "dataset.json"
    return dict(json.loads(path.read_text()).get("enrolled", {})) if path.is_file() else {}


def training_voices(dataset_dir: Path) -> list[str]:
    """The "engine:voice" names of the training split (none recorded: an empty list)."""
    return list(_dataset_recipe(dataset_dir).get("voices", {}).get("train", []))


def _best_val(result: dict[str, Any], select_on: str) -> float:
    """The validation figure (`select_on`) at a stage's best epoch."""
    for row in result.get("history", []):
        if row["epoch"] == result["best_epoch"]:
            return float(row[f"val_{select_on}"])
    return float(result["best_val_top1"])


def _cfg_key(cfg: fit.TrainConfig) -> dict[str, Any]:
    """A stage config for cache keys: fields added since 1.1.0 count only when set away from
    their default, so caches of earlier runs stay valid."""
    return stable_dict(cfg, ("select_on", "warp", "eq_db", "word_aux", "focal_gamma"))


def _package_versions() -> dict[str, str]:
    """The versions that wrote the model files: the extras' ranges let a new machine pick newer
    releases, whose exporters and quantizers may write other bytes from the same network."""
    out = {}
    for name in ("torch", "onnx", "onnxscript", "onnxruntime", "litert-torch", "numpy"):
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return out


def _compute_kernels() -> dict[str, Any]:
    """The CPU code paths that did the arithmetic. Builds can repeat bit for bit only on the
    same ones: float32 sums differ in the last bits with another OpenBLAS core type (features:
    the block-read stream windows of test_train_mining differ between the Haswell and SkylakeX
    kernels) or torch CPU capability (networks), and training amplifies such differences."""
    kernels: dict[str, Any] = {"torch_cpu_capability": torch.backends.cpu.get_cpu_capability()}
    try:  # a dependency of the train extra (librosa -> scikit-learn), not declared by us
        from threadpoolctl import threadpool_info
    except ImportError:
        return kernels
    kernels["blas"] = sorted(
        f"{i['internal_api']} {i.get('architecture') or ''}".strip()
        for i in threadpool_info()
        if i.get("user_api") == "blas"
    )
    return kernels


def _stage_path(cache: Path, key: str) -> Path:
    return cache / f"{key}.pt"


def _stage(cache: Path, key: str, run: Any) -> dict[str, Any]:
    """Load cache/key.pt if present, else run() and save; stages resume across invocations."""
    path = _stage_path(cache, key)
    if path.is_file():
        log.info("reusing %s", path)
        return dict(torch.load(path, weights_only=False))
    out: dict[str, Any] = run()
    tmp = path.with_suffix(".tmp")
    torch.save(out, tmp)
    tmp.replace(path)
    return out


@dataclass
class _Setup:
    """What a run's stages are built and keyed from. The side worker derives the same from the
    same arguments, so a stage it trains lands in the cache under the key this process reads."""

    preset: Preset
    seed: int
    labels: list[str]
    data_recipe: dict[str, Any]
    frontend: FrontendParams
    train: fit.Split
    val: fit.Split
    t_cfg: fit.TrainConfig
    s_cfg: fit.TrainConfig
    alpha: float
    temp: float
    base: dict[str, Any]
    t_key: str

    @property
    def input_frames(self) -> int:
        return int(self.train.x.shape[1])

    @property
    def n_mels(self) -> int:
        return int(self.train.x.shape[2])

    def new_teacher(self) -> nets.Teacher:
        fit.set_seed(self.seed)
        net = nets.Teacher(len(self.labels), self.n_mels, widths=self.preset.teacher_widths)
        net.norm.set_stats(self.train.x)
        return net

    def new_student(self) -> nets.Student:
        fit.set_seed(self.seed)
        net = nets.Student(len(self.labels), self.n_mels, **self.preset.student_kwargs)
        net.norm.set_stats(self.train.x)
        return net

    def student_cfg(self, kind: str) -> fit.TrainConfig:
        return replace(self.s_cfg, kd_alpha=self.alpha if kind == "kd" else 0.0)

    def student_key(self, kind: str) -> str:
        cfg = self.student_cfg(kind)
        parent = self.t_key if cfg.kd_alpha > 0 else None
        return f"student-{kind}-" + _hash(
            {
                **self.base,
                "cfg": _cfg_key(cfg),
                "teacher": parent,
                "kwargs": self.preset.student_kwargs,
            }
        )

    def run_teacher(self, progress: bool) -> dict[str, Any]:
        net = self.new_teacher()
        res = fit.fit(
            net,
            self.train,
            self.val,
            self.t_cfg,
            name="teacher",
            frontend=self.frontend,
            progress=progress,
        )
        logits = fit.predict_logits(net, self.train.x)  # offline KD targets (clean windows)
        return {
            "state": net.state_dict(),
            "result": asdict(res),
            "epochs": self.t_cfg.epochs,
            "train_logits": logits,
        }

    def run_student(
        self, kind: str, teacher_ck: dict[str, Any] | None, progress: bool
    ) -> dict[str, Any]:
        cfg = self.student_cfg(kind)
        net = self.new_student()
        t_logits = (
            teacher_ck["train_logits"] if teacher_ck is not None and cfg.kd_alpha > 0 else None
        )
        res = fit.fit(
            net,
            self.train,
            self.val,
            cfg,
            name=f"student-{kind}",
            teacher_logits=t_logits,
            frontend=self.frontend,
            progress=progress,
        )
        return {"state": net.state_dict(), "result": asdict(res), "epochs": cfg.epochs}


def _setup(
    dataset_dir: Path,
    preset: str,
    seed: int,
    kd_alpha: float | None,
    kd_temperature: float | None,
) -> _Setup:
    p = PRESETS[preset]
    alpha = p.kd_alpha if kd_alpha is None else kd_alpha
    temp = p.kd_temperature if kd_temperature is None else kd_temperature
    labels, meta = read_labels(dataset_dir)
    frontend = (
        FrontendParams.from_dict(meta["frontend"]) if "frontend" in meta else FrontendParams()
    )
    train = _subsample(fit.load_split(dataset_dir, "train"), p.max_train, seed)
    # Before the stage keys are made, so the epochs a budget allows are part of them.
    t_cfg = _budgeted(
        replace(p.teacher, seed=seed), len(train), p.teacher_budget_samples, "teacher"
    )
    s_cfg = _budgeted(
        replace(p.student, seed=seed, kd_temperature=temp),
        len(train),
        p.student_budget_samples,
        "students",
    )
    data_hash = _file_digest([dataset_dir / f for f in ("labels.json", "train.npz", "val.npz")])
    base = {"data": data_hash, "max_train": p.max_train, "frames": int(train.x.shape[1])}
    t_key = "teacher-" + _hash({**base, "cfg": _cfg_key(t_cfg), "widths": p.teacher_widths})
    return _Setup(
        preset=p,
        seed=seed,
        labels=labels,
        data_recipe=_dataset_recipe(dataset_dir),
        frontend=frontend,
        train=train,
        val=fit.load_split(dataset_dir, "val"),
        t_cfg=t_cfg,
        s_cfg=s_cfg,
        alpha=alpha,
        temp=temp,
        base=base,
        t_key=t_key,
    )


def prefit_student(
    dataset_dir: Path,
    preset: str,
    seed: int,
    threads: int,
    cache: Path,
    kd_alpha: float | None,
    kd_temperature: float | None,
) -> str:
    """Train the student without distillation into the cache (on the side worker, beside the
    teacher); returns its stage key."""
    torch.set_num_threads(threads)
    s = _setup(dataset_dir, preset, seed, kd_alpha, kd_temperature)
    key = s.student_key("no_kd")
    _stage(cache, key, lambda: s.run_student("no_kd", None, progress=False))
    return key


def train_model(
    dataset_dir: Path,
    out_dir: Path,
    name: str,
    version: str,
    *,
    preset: str = "small",
    seed: int = 0,
    threads: int = 1,
    kd_alpha: float | None = None,
    kd_temperature: float | None = None,
    cache_dir: Path | None = None,
    mining_wav: Callable[[], Path] | None = None,
    side: ProcessPoolExecutor | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Train, distil, quantize and write out_dir/{model.onnx, model.tflite, model.json}.

    With `mining_wav` (giving a command-free stream of training voices) and a preset that mines,
    the chosen student is then fine-tuned on the hard negatives found in it. With a `side`
    worker the student without distillation trains there while the teacher trains here.
    """
    torch.set_num_threads(threads)
    started = time.perf_counter()
    cache = cache_dir or DEFAULT_CACHE_DIR / "runs" / name
    cache.mkdir(parents=True, exist_ok=True)
    s = _setup(dataset_dir, preset, seed, kd_alpha, kd_temperature)
    p, labels, frontend, train, val = s.preset, s.labels, s.frontend, s.train, s.val
    alpha, temp, t_cfg, s_cfg, base = s.alpha, s.temp, s.t_cfg, s.s_cfg, s.base
    data_recipe, input_frames, n_mels = s.data_recipe, s.input_frames, s.n_mels
    test = fit.load_split(dataset_dir, "test")
    log.info(
        "data: train %d, val %d, test %d windows of %dx%d, %d labels",
        len(train),
        len(val),
        len(test),
        input_frames,
        n_mels,
        len(labels),
    )
    student_keys = {kind: s.student_key(kind) for kind in ("no_kd", "kd")}
    prefit = None
    if side is not None and not _stage_path(cache, student_keys["no_kd"]).is_file():
        log.info("student-no_kd: training on the side worker")
        prefit = submit(
            side,
            prefit_student,
            dataset_dir,
            preset,
            seed,
            threads,
            cache,
            kd_alpha,
            kd_temperature,
        )

    teacher_ck = _stage(cache, s.t_key, lambda: s.run_teacher(progress))
    teacher = s.new_teacher()
    teacher.load_state_dict(teacher_ck["state"])

    students: dict[str, nets.Student] = {}
    student_ck: dict[str, dict[str, Any]] = {}
    # KD first: the teacher is ready here, the side worker may still be on no_kd.
    for kind in ("kd", "no_kd"):
        if kind == "no_kd" and prefit is not None:
            prefit()  # waits; the stage is then in the cache
        student_ck[kind] = _stage(
            cache, student_keys[kind], lambda kind=kind: s.run_student(kind, teacher_ck, progress)
        )
        students[kind] = s.new_student()
        students[kind].load_state_dict(student_ck[kind]["state"])

    # Ship the student that is better on val, by the figure that picked its epoch (KD on a
    # tie): test is only reported.
    val_score = {k: _best_val(student_ck[k]["result"], s_cfg.select_on) for k in students}
    shipped = "kd" if val_score["kd"] >= val_score["no_kd"] else "no_kd"
    hard_negatives = None  # the mining stage's summary for model.json, when it runs
    if mining_wav is not None and p.mine_threshold > 0:
        stream = mining_wav()
        m_cfg = replace(p.mine_tune, seed=seed)
        m_key = "student-mined-" + _hash(
            {
                **base,
                "parent": student_keys[shipped],
                "stream": _file_digest([stream]),
                "threshold": p.mine_threshold,
                "cfg": _cfg_key(m_cfg),
            }
        )

        def run_mined() -> dict[str, Any]:
            net = s.new_student()
            net.load_state_dict(student_ck[shipped]["state"])
            every = max(1, round(DECODER_DEFAULTS["infer_every_ms"] / frontend.hop_ms))
            windows = mining.StreamWindows(stream, frontend, input_frames, every)
            return mining.fine_tune(
                net, windows, labels, p.mine_threshold, train, val, m_cfg, progress=progress
            )

        student_ck["mined"] = _stage(cache, m_key, run_mined)
        students["mined"] = s.new_student()
        students["mined"].load_state_dict(student_ck["mined"]["state"])
        hard_negatives = {
            "from": shipped,
            "threshold": p.mine_threshold,
            "stream": stream.name,
            "stream_windows": student_ck["mined"]["stream_windows"],
            "windows": student_ck["mined"]["hard_negatives"],
            "cfg": asdict(m_cfg),
        }
        shipped = "mined"
    deploy = nets.deploy_copy(students[shipped])

    out_dir.mkdir(parents=True, exist_ok=True)
    x_train = train.x.numpy()
    calib = export.calibration_windows(
        x_train, train.y.numpy(), train.snr_db, p.calib_windows, seed
    )
    t0 = time.perf_counter()
    # Both INT8 files use the activation scales of one PT2E calibration, so they round alike.
    pt2e = export.quantize_pt2e(deploy, calib)
    onnx_info = export.export_onnx_int8(deploy, calib, out_dir / "model.onnx", pt2e.activations)
    tflite_info = export.export_tflite_int8(pt2e, out_dir / "model.tflite")
    export_s = time.perf_counter() - t0

    # Same held-out test windows for every row of the ablation.
    x_test, y_test = test.x.numpy(), test.y.numpy()
    logits = {
        "teacher": fit.predict_logits(teacher, test.x).numpy(),
        "student_no_kd": fit.predict_logits(students["no_kd"], test.x).numpy(),
        "student_kd": fit.predict_logits(students["kd"], test.x).numpy(),
        **(
            {"student_mined": fit.predict_logits(students["mined"], test.x).numpy()}
            if "mined" in students
            else {}
        ),
        "student_fp32_deploy": export.run_torch(deploy, x_test),
        "int8_onnx": export.run_onnx(out_dir / "model.onnx", x_test),
        "int8_tflite": export.run_tflite(out_dir / "model.tflite", x_test),
    }
    test_reports = {
        k: fit.accuracy_report(v.argmax(1), y_test, test.snr_db) for k, v in logits.items()
    }
    val_reports = {
        "teacher": fit.evaluate(teacher, val),
        **{f"student_{k}": fit.evaluate(m, val) for k, m in students.items()},
    }
    agreement = export.agreement_report(
        logits["student_fp32_deploy"], logits["int8_onnx"], logits["int8_tflite"], y_test
    )
    sizes = {
        "teacher": nets.describe("teacher", teacher, input_frames, n_mels),
        "student": nets.describe("student", deploy, input_frames, n_mels),
    }
    metrics = {
        "shipped_student": shipped,
        "test": test_reports,
        "val": val_reports,
        "agreement": agreement,
        "macs": {k: v["macs"] for k, v in sizes.items()},
        "params": {k: v["params"] for k, v in sizes.items()},
        "file_bytes": {"model.onnx": onnx_info["bytes"], "model.tflite": tflite_info["bytes"]},
        "tflite_io": tflite_info["io"],
    }
    stage_summary = {
        "teacher": {k: teacher_ck[k] for k in ("result", "epochs")},
        **{f"student_{k}": {f: student_ck[k][f] for f in ("result", "epochs")} for k in students},
    }
    for summary in stage_summary.values():
        summary["result"] = {k: v for k, v in summary["result"].items() if k != "history"}
    words = data_recipe.get("unknown_words", [])
    data_preset = data_recipe.get("preset", {})
    training = {
        "preset": preset,
        "seed": seed,
        "threads": threads,
        "data": {
            "seed": data_recipe.get("seed"),
            "train": len(train),
            "val": len(val),
            "test": len(test),
            "train_per_label": np.bincount(train.y.numpy(), minlength=len(labels)).tolist(),
            "sha256_train_val_labels": base["data"],
            "unknown_words": len(words),
            # dataset.plan_rows's rule: validation and test speak the first eval_unknown (0: all)
            "eval_unknown_words": len(words[: data_preset.get("eval_unknown", 0) or None]),
            "sentences_per_voice": data_preset.get("train_sentences", 0),
            "near_miss_styles": data_preset.get("near_miss_styles", 0),
            "voice_shift": {
                k: data_recipe.get("augment", {}).get(k) for k in ("p_pitch", "pitch_range")
            },
            "voice_conversion": _voice_conversion(data_recipe.get("augment", {})),
            # The user's own recordings (train --enroll): how many of each command.
            "enrolled": _enrolled(dataset_dir),
        },
        "teacher_cfg": asdict(t_cfg),
        "student_cfg": asdict(s_cfg),
        "kd": {"alpha": alpha, "temperature": temp, "targets": "teacher logits on clean windows"},
        "hard_negatives": hard_negatives,
        "stages": stage_summary,
        "calibration_windows": len(calib),
        "export_s": round(export_s, 1),
        "total_s": round(time.perf_counter() - started, 1),
        "packages": _package_versions(),
        "kernels": _compute_kernels(),
    }
    spec = ModelSpec(
        folder=out_dir,
        name=name,
        version=version,
        labels=tuple(labels),
        frontend=frontend,
        input_frames=input_frames,
        default_threshold=DEFAULT_THRESHOLD,
        thresholds={},
        files={"model.onnx": "", "model.tflite": ""},
        extra={"metrics": _jsonable(metrics), "training": _jsonable(training)},
    )
    write_spec(spec)
    log.info("ablation (test top-1):\n%s", ablation_table(test_reports))
    log.info("agreement: %s", agreement)
    return metrics


def _jsonable(obj: Any) -> Any:
    """Plain JSON types, with NaN as null (json.dumps would write invalid NaN literals)."""
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, float | np.floating):
        return None if np.isnan(obj) else round(float(obj), 6)
    if isinstance(obj, np.integer):
        return int(obj)
    return obj


def ablation_table(reports: dict[str, dict[str, Any]]) -> str:
    snrs = list(next(iter(reports.values()))["by_snr_db"])
    head = f"{'model':<22}{'top1':>7}{'bal':>7}" + "".join(f"{s:>9}" for s in snrs)
    rows = [head]
    for model, rep in reports.items():
        cells = "".join(f"{100 * rep['by_snr_db'][s]['top1']:>9.2f}" for s in snrs)
        rows.append(f"{model:<22}{100 * rep['top1']:>7.2f}{100 * rep['balanced']:>7.2f}{cells}")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("dataset_dir", type=Path)
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--name", default="speech-commands-20")
    parser.add_argument("--version", default="0.1.0")
    parser.add_argument("--preset", choices=sorted(PRESETS), default="small")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--kd-alpha", type=float, default=None)
    parser.add_argument("--kd-temperature", type=float, default=None)
    parser.add_argument("--cache-dir", type=Path, default=None)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    train_model(
        args.dataset_dir,
        args.out_dir,
        args.name,
        args.version,
        preset=args.preset,
        seed=args.seed,
        threads=args.threads,
        kd_alpha=args.kd_alpha,
        kd_temperature=args.kd_temperature,
        cache_dir=args.cache_dir,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
