"""Model factory: student fits the device budget, training learns, INT8 exports agree with fp32."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from edge_asr.frontend import FrontendParams, log_mel
from edge_asr.model import load_spec
from edge_asr.train import fit, nets

LABELS = ["_silence_", "_unknown_", "yes", "no", "up", "down"]
FRAMES, MELS = 49, 40


def write_fake_feature_dataset(folder: Path, n_train: int = 600, seed: int = 0) -> Path:
    """FAKE features in the dataset builder's npz format (test data only, not speech).

    Each label gets a fixed time-frequency blob on a log-mel-like background, so the task is
    learnable but not trivial (random blob jitter, background noise, noisier "SNR" rows).
    """
    rng = np.random.default_rng(seed)
    templates = rng.normal(0.0, 1.0, (len(LABELS), FRAMES, MELS)).astype(np.float32)
    for c in range(len(LABELS)):
        t0, f0 = rng.integers(5, FRAMES - 15), rng.integers(2, MELS - 10)
        templates[c, t0 : t0 + 10, f0 : f0 + 8] += 4.0
    sizes = {"train": n_train, "val": n_train // 4, "test": n_train // 4}
    for split, n in sizes.items():
        y = rng.integers(0, len(LABELS), n).astype(np.int16)
        snr = rng.choice(np.array([np.nan, 20.0, 5.0], np.float32), n)
        noise_scale = np.where(np.isnan(snr), 0.8, np.where(snr > 10, 1.2, 1.8))
        x = (
            -8.0
            + templates[y]
            + rng.normal(0.0, 1.0, (n, FRAMES, MELS)) * noise_scale[:, None, None]
        )
        strings = np.array(["fake"] * n)
        np.savez(
            folder / f"{split}.npz",
            x=x.astype(np.float32),
            y=y,
            snr_db=snr,
            engine=strings,
            voice=strings,
            text=strings,
        )
    (folder / "labels.json").write_text(json.dumps(LABELS))
    return folder


def onnx_io_quantization(path: Path) -> dict[str, tuple[float, int]]:
    """(scale, zero point) of the QDQ ONNX model's graph input and output."""
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(path)).graph
    init = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    found = {}
    inputs = {graph.input[0].name}  # the input, and its reshapes, which keep its values
    for node in graph.node:
        if node.op_type in ("Unsqueeze", "Reshape") and node.input[0] in inputs:
            inputs.add(node.output[0])
        if node.op_type == "QuantizeLinear" and node.input[0] in inputs:
            found["input"] = node
        if node.op_type == "DequantizeLinear" and node.output[0] == graph.output[0].name:
            found["output"] = node
    return {k: (float(init[n.input[1]]), int(init[n.input[2]])) for k, n in found.items()}


@pytest.fixture(scope="module")
def fake_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_fake_feature_dataset(tmp_path_factory.mktemp("fake-features"))


def test_student_fits_device_budget() -> None:
    student = nets.Student(n_labels=22, n_mels=MELS)
    deploy = nets.deploy_copy(student)
    macs = nets.count_macs(deploy, FRAMES, MELS)
    params = nets.count_params(deploy)
    teacher = nets.Teacher(n_labels=22, n_mels=MELS)
    print(
        f"student {macs / 1e6:.2f} M MACs, {params} params; "
        f"teacher {nets.count_macs(teacher, FRAMES, MELS) / 1e6:.1f} M MACs, "
        f"{nets.count_params(teacher)} params"
    )
    assert macs <= 6_000_000
    assert params <= 60_000
    assert nets.count_params(teacher) >= 300_000


def test_custom_model_epochs_depend_on_the_data_not_the_machine() -> None:
    """`edge-asr train` (small preset) repeats on any machine: its budgets count samples."""
    from edge_asr.train.recipe import PRESETS

    small = PRESETS["small"]
    assert small.teacher_budget_samples and small.student_budget_samples

    def epochs(n_train: int) -> tuple[int, int]:
        return (
            fit.epochs_for_samples(n_train, small.teacher_budget_samples, small.teacher.epochs),
            fit.epochs_for_samples(n_train, small.student_budget_samples, small.student.epochs),
        )

    # The README's three-phrase example has 8108 training windows: what the wall-clock
    # budgets this replaced allowed on the 2-core VM.
    assert epochs(8108) == (23, 29)
    assert epochs(3 * 8108) == (7, 9)  # more commands, fewer passes over the data
    assert epochs(10**7) == (1, 1)
    assert epochs(10) == (small.teacher.epochs, small.student.epochs)


def test_folded_student_gives_same_logits() -> None:
    torch.manual_seed(0)
    student = nets.Student(n_labels=6, n_mels=MELS)
    x = torch.randn(8, FRAMES, MELS) * 2 - 7
    student.norm.set_stats(x)
    student.train()
    student(x)  # move BN running stats away from the identity
    student.eval()
    with torch.no_grad():
        assert torch.allclose(nets.deploy_copy(student)(x), student(x), atol=1e-4)


def test_tiny_training_learns_above_chance(fake_dataset: Path) -> None:
    torch.set_num_threads(1)
    train = fit.load_split(fake_dataset, "train")
    val = fit.load_split(fake_dataset, "val")
    student = nets.Student(n_labels=len(LABELS), n_mels=MELS)
    student.norm.set_stats(train.x)
    cfg = fit.TrainConfig(epochs=4, batch_size=32, lr=1e-2, seed=0)
    result = fit.fit(student, train, val, cfg, name="student", progress=False)
    report = fit.evaluate(student, val)
    assert result.best_val_top1 == pytest.approx(report["top1"])
    assert report["top1"] > 2.0 / len(LABELS)
    assert set(report["by_snr_db"]) == {"clean", "5", "20"}


def test_distillation_from_a_live_teacher_follows_the_teacher(fake_dataset: Path) -> None:
    """With `teacher` and kd_alpha 1 the student learns what the teacher says of each batch as
    the student sees it, not the labels: a teacher taught a permutation of the labels passes
    the permutation on."""
    torch.set_num_threads(1)
    train = fit.load_split(fake_dataset, "train")
    val = fit.load_split(fake_dataset, "val")
    perm = torch.roll(torch.arange(len(LABELS)), 1)
    swapped = [fit.Split(s.x, perm[s.y.long()].to(s.y.dtype), s.snr_db) for s in (train, val)]
    cfg = fit.TrainConfig(epochs=4, batch_size=32, lr=1e-2, seed=0)
    teacher = nets.Student(n_labels=len(LABELS), n_mels=MELS)
    teacher.norm.set_stats(train.x)
    fit.fit(teacher, *swapped, cfg, name="teacher", progress=False)
    taught = fit.predict_logits(teacher, val.x).argmax(1)
    assert (taught == perm[val.y.long()]).float().mean() > 0.8

    student = nets.Student(n_labels=len(LABELS), n_mels=MELS)
    student.norm.set_stats(train.x)
    kd = replace(cfg, kd_alpha=1.0, seed=1)
    # trained on the true labels; the epoch is picked on the teacher's, as a teacher's would be
    fit.fit(student, train, swapped[1], kd, name="student", teacher=teacher, progress=False)
    said = fit.predict_logits(student, val.x).argmax(1)
    assert (said == taught).float().mean() > 0.8
    assert (said == val.y.long()).float().mean() < 0.3


def _tone_frame(hz: float) -> torch.Tensor:
    """The mean log-mel frame of a 1 s tone, through the real frontend."""
    t = np.arange(16000) / 16000.0
    audio = (12000 * np.sin(2 * np.pi * hz * t)).astype(np.int16)
    return torch.from_numpy(log_mel(audio, FrontendParams()).mean(0))


@pytest.mark.parametrize("alpha_index, factor", [(0, 0.85), (fit.WARP_STEPS - 1, 1.15)])
def test_vocal_tract_warp_moves_a_formant_by_its_factor(alpha_index: int, factor: float) -> None:
    """warp_bank's stretched frame of a 1 kHz tone peaks where the frontend puts a tone at
    factor x 1 kHz; the middle factor is 1 and changes nothing."""
    bank = fit.warp_bank(FrontendParams(), 0.15)
    assert torch.equal(bank[fit.WARP_STEPS // 2], torch.eye(MELS))
    assert torch.allclose(bank.sum(1), torch.ones(fit.WARP_STEPS, MELS))  # each output a blend
    warped = _tone_frame(1000.0) @ bank[alpha_index]
    assert int(warped.argmax()) == int(_tone_frame(1000.0 * factor).argmax())
    assert int(warped.argmax()) != int(_tone_frame(1000.0).argmax())


def test_random_eq_colours_every_frame_alike_within_its_bound() -> None:
    """Each window gets one smooth gain curve, the same in all its frames, at most eq_db dB
    either way and different per window; nothing goes below the frontend's log floor."""
    floor = float(np.log(FrontendParams().log_floor))
    x = torch.cat([torch.zeros(8, 20, MELS), torch.full((8, 20, MELS), floor)], dim=1)
    out = fit.random_eq(x, 12.0, floor, torch.Generator().manual_seed(0))
    gain_db = (out[:, :20] - x[:, :20]) / (np.log(10.0) / 10.0)
    assert torch.allclose(gain_db, gain_db[:, :1].expand_as(gain_db))  # one curve per window
    assert float(gain_db.abs().max()) <= 12.0
    assert float(gain_db.std(dim=2).min()) > 0.1  # a curve, not a plain gain
    assert not torch.allclose(gain_db[0, 0], gain_db[1, 0])
    assert float(out.min()) >= float(np.float32(floor))  # the floor as the features hold it


@pytest.mark.parametrize("field, value", [("eq_db", 12.0), ("word_aux", 0.5), ("focal_gamma", 2.0)])
def test_training_options_off_keep_the_recipe_and_its_cache_keys(field: str, value: float) -> None:
    from edge_asr.train import recipe

    cfg = fit.TrainConfig()
    assert field not in recipe._cfg_key(cfg)  # runs from before the field keep their caches
    assert recipe._cfg_key(replace(cfg, **{field: value}))[field] == value


@pytest.mark.parametrize(
    "option, reason",
    [
        ({"warp": 0.1}, r"warp 0\.1 needs the frontend"),  # the mel filters' frequencies
        ({"word_aux": 0.5}, r"word_aux 0\.5 needs Split\.word"),  # which word each window holds
    ],
)
def test_training_option_without_what_it_needs_is_refused(
    fake_dataset: Path, option: dict[str, float], reason: str
) -> None:
    train = fit.load_split(fake_dataset, "train")
    student = nets.Student(n_labels=len(LABELS), n_mels=MELS)
    cfg = fit.TrainConfig(epochs=1, batch_size=32, **option)
    with pytest.raises(ValueError, match=reason):
        fit.fit(student, train, train, cfg, name="student", progress=False)


def test_focal_loss_weighs_the_windows_the_network_gets_wrong() -> None:
    """focal_gamma 0 is the plain loss; above it a window already right counts less, one still
    wrong nearly as much as before."""
    logits = torch.tensor([[6.0, 0.0, 0.0], [0.0, 6.0, 0.0]])  # both say class of row
    target = F.one_hot(torch.tensor([0, 0]), 3).float()  # the first right, the second wrong
    w = torch.ones(1)
    plain = fit.TrainConfig()
    per_window = [fit._loss(logits[i : i + 1], target[i : i + 1], w, None, plain) for i in range(2)]
    focal = replace(plain, focal_gamma=2.0)
    scaled = [fit._loss(logits[i : i + 1], target[i : i + 1], w, None, focal) for i in range(2)]
    assert torch.allclose(
        fit._loss(logits, target, torch.ones(2), None, plain), sum(per_window) / 2
    )
    assert float(scaled[0] / per_window[0]) < 1e-4  # p = 0.995: (1 - p)^2
    assert float(scaled[1] / per_window[1]) > 0.99  # p = 0.0025


def test_word_aux_trains_a_head_that_leaves_the_network_as_it_was(fake_dataset: Path) -> None:
    """word_aux adds a cross-entropy on Split.word through a layer of its own: the loss carries
    it, and the trained student has the same parameters and no hook left on its head."""
    torch.set_num_threads(1)
    train = fit.load_split(fake_dataset, "train")
    val = fit.load_split(fake_dataset, "val")
    # two "words" in each label: the parity of the window's index
    words = replace(train, word=train.y.long() * 2 + torch.arange(len(train)) % 2)
    cfg = fit.TrainConfig(epochs=1, batch_size=32, lr=1e-2, seed=0)
    runs = {}
    for weight in (0.0, 1.0):
        student = nets.Student(n_labels=len(LABELS), n_mels=MELS)
        student.norm.set_stats(train.x)
        keys = set(student.state_dict())
        result = fit.fit(
            student, words, val, replace(cfg, word_aux=weight), name="s", progress=False
        )
        assert set(student.state_dict()) == keys
        assert not student.head._forward_pre_hooks
        runs[weight] = result.history[0]["loss"]
    # the word term is at least ln 2 nats of a coin it cannot call, on top of the same task
    assert runs[1.0] > runs[0.0] + 0.5


def test_tiny_recipe_exports_int8_models_that_agree(fake_dataset: Path, tmp_path: Path) -> None:
    pytest.importorskip("litert_torch")
    pytest.importorskip("tflite_runtime")
    from edge_asr.train import export, recipe

    started = time.perf_counter()
    out = tmp_path / "model"
    metrics = recipe.train_model(
        fake_dataset,
        out,
        "fake-tiny",
        "0.0.1",
        preset="tiny",
        cache_dir=tmp_path / "cache",
        progress=False,
    )
    print(f"tiny recipe: {time.perf_counter() - started:.1f} s")
    spec = load_spec(out)
    assert spec.labels == tuple(LABELS)
    assert spec.input_frames == FRAMES
    io = export.tflite_io_details(out / "model.tflite")
    assert io["input"]["dtype"] == "int8" and io["output"]["dtype"] == "int8"
    assert io["input"]["shape"] == [1, FRAMES, MELS]
    assert io["output"]["shape"] == [1, len(LABELS)]
    # Both files quantize the input and the logits with the same scale and zero point (one
    # PT2E calibration feeds both exporters), so they round alike.
    onnx_io = onnx_io_quantization(out / "model.onnx")
    for kind in ("input", "output"):
        assert onnx_io[kind][0] == pytest.approx(io[kind]["scale"], rel=1e-5)
        assert onnx_io[kind][1] == io[kind]["zero_point"]
    agreement = metrics["agreement"]
    print(agreement)
    assert agreement["agree_onnx_fp32"] >= 0.9
    assert agreement["agree_tflite_fp32"] >= 0.9
    assert metrics["test"]["student_kd"]["top1"] > 2.0 / len(LABELS)
    # A second call reuses every training stage from the cache.
    again = time.perf_counter()
    recipe.train_model(
        fake_dataset,
        tmp_path / "model2",
        "fake-tiny",
        "0.0.1",
        preset="tiny",
        cache_dir=tmp_path / "cache",
        progress=False,
    )
    assert (
        json.loads((tmp_path / "model2" / "model.json").read_text())["metrics"]["test"]
        == (json.loads((out / "model.json").read_text())["metrics"]["test"])
    )
    print(f"cached rerun: {time.perf_counter() - again:.1f} s")


WRAPPER = """
from torch import nn


class Wrapped(nn.Module):
    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x):
        return self.net(x)
"""


def test_onnx_export_does_not_depend_on_where_the_code_lies(tmp_path: Path) -> None:
    """torch's exporter records each node's Python stack trace (absolute paths); the same
    network exported from two checkouts must still write the same model.onnx."""
    import importlib.util

    from edge_asr.train import export

    torch.manual_seed(0)
    net = nets.deploy_copy(nets.Student(n_labels=len(LABELS), n_mels=MELS).eval())
    calib = (np.random.default_rng(0).normal(0, 2, (32, FRAMES, MELS)) - 7).astype(np.float32)
    written = []
    for checkout in ("a", "another-checkout"):
        source = tmp_path / checkout / "wrapper.py"
        source.parent.mkdir()
        source.write_text(WRAPPER)
        spec = importlib.util.spec_from_file_location(f"wrapper_{len(written)}", source)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        out = tmp_path / checkout / "model.onnx"
        export.export_onnx_int8(module.Wrapped(net), calib, out)
        data = out.read_bytes()
        assert str(tmp_path).encode() not in data
        written.append(data)
    assert written[0] == written[1]


def test_onnx_export_stops_when_onnxruntime_cannot_optimize_the_graph(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """quant_pre_process logs a failed optimization and quantizes the unoptimized graph, which
    writes another model.onnx from the same network; the export must stop instead."""
    import onnxruntime

    from edge_asr.train import export

    torch.manual_seed(0)
    net = nets.deploy_copy(nets.Student(n_labels=len(LABELS), n_mels=MELS).eval())
    calib = (np.random.default_rng(0).normal(0, 2, (32, FRAMES, MELS)) - 7).astype(np.float32)
    assert export.export_onnx_int8(net, calib, tmp_path / "ok.onnx")["bytes"] > 0

    real = onnxruntime.InferenceSession

    def no_optimizer(model: object, options: object = None, *args: object, **kw: object) -> object:
        if getattr(options, "optimized_model_filepath", ""):
            raise RuntimeError("optimizer unavailable (test)")
        return real(model, options, *args, **kw)

    monkeypatch.setattr(onnxruntime, "InferenceSession", no_optimizer)
    failed = r"(?s)pre-processing failed.*Optimization Failed.*unavailable \(test\)"
    with pytest.raises(RuntimeError, match=failed):
        export.export_onnx_int8(net, calib, tmp_path / "bad.onnx")
