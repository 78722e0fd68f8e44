"""KWS networks: a ResNet-style fp32 teacher and a DS-CNN student that quantizes to INT8."""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

log = logging.getLogger(__name__)


class InputNorm(nn.Module):
    """Fixed affine (x - mean) / std with statistics of the training data, stored as buffers.

    `mean` and `std` are broadcast over the input (B, T, F): a scalar for the student (so the
    affine folds exactly into its first conv), per mel bin for the teacher.
    """

    def __init__(self, n_mels: int, per_bin: bool) -> None:
        super().__init__()
        shape = (n_mels,) if per_bin else (1,)
        self.register_buffer("mean", torch.zeros(shape))
        self.register_buffer("std", torch.ones(shape))
        self.per_bin = per_bin

    def set_stats(self, x: torch.Tensor) -> None:
        """Take mean/std from training features (N, T, F)."""
        dims = (0, 1) if self.per_bin else (0, 1, 2)
        mean = x.float().mean(dim=dims).reshape(self.mean.shape)
        std = x.float().std(dim=dims).reshape(self.std.shape).clamp_min(1e-3)
        self.mean.copy_(mean)
        self.std.copy_(std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


def _conv_bn(c_in: int, c_out: int, k: int, stride: int, groups: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, k, stride=stride, padding=k // 2, groups=groups, bias=False),
        nn.BatchNorm2d(c_out),
    )


class _ResBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.a = _conv_bn(c_in, c_out, 3, stride)
        self.b = _conv_bn(c_out, c_out, 3, 1)
        self.skip: nn.Module = (
            _conv_bn(c_in, c_out, 1, stride) if stride != 1 or c_in != c_out else nn.Identity()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.b(torch.relu(self.a(x))) + self.skip(x))


class Teacher(nn.Module):
    """ResNet-style 2-D CNN on (T, F); never deployed, so it can use residuals and dropout.

    Downsamples early (stride 2 stem and stages) so one CPU core can train it on ~40k windows
    in minutes per epoch while keeping ~0.5 M parameters of capacity at low resolution.
    """

    def __init__(
        self,
        n_labels: int,
        n_mels: int = 40,
        widths: tuple[int, ...] = (32, 64, 128),
        dropout: float = 0.2,
    ) -> None:
        super().__init__()
        self.norm = InputNorm(n_mels, per_bin=True)
        self.stem = nn.Sequential(
            nn.Conv2d(1, 32, (5, 3), stride=2, padding=(2, 1), bias=False),
            nn.BatchNorm2d(32),
            nn.ReLU(),
        )
        blocks: list[nn.Module] = []
        c_in = 32
        for i, width in enumerate(widths):
            blocks.append(_ResBlock(c_in, width, stride=2 if i < 2 else 1))
            blocks.append(_ResBlock(width, width, stride=1))
            c_in = width
        self.blocks = nn.Sequential(*blocks)
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(c_in, n_labels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.stem(self.norm(x).unsqueeze(1))
        h = self.blocks(h).mean(dim=(2, 3))
        return self.head(self.drop(h))


class _DSBlock(nn.Module):
    """Depthwise 3x3 -> BN -> ReLU -> pointwise 1x1 -> BN -> ReLU (MobileNet-v1 style)."""

    def __init__(self, channels: int, stride: int) -> None:
        super().__init__()
        self.dw = _conv_bn(channels, channels, 3, stride, groups=channels)
        self.pw = _conv_bn(channels, channels, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.pw(torch.relu(self.dw(x))))


class Student(nn.Module):
    """DS-CNN: conv 10x4 stride 2 (no padding) -> 4 depthwise-separable blocks -> GAP -> linear.

    Only Conv2d (incl. depthwise), BatchNorm (folded on export), ReLU, mean and Linear, which
    map one-to-one onto ONNX QDQ and TFLite int8 kernels. The first conv has no padding so the
    scalar input normalisation folds into it exactly (zero padding would be a different value
    after folding). A stride in the second block cuts the MACs of the last three by 4x.
    """

    def __init__(
        self,
        n_labels: int,
        n_mels: int = 40,
        channels: int = 64,
        n_blocks: int = 4,
        strides: tuple[int, ...] = (1, 2, 1, 1),
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        if len(strides) != n_blocks:
            raise ValueError(f"strides must have {n_blocks} entries, got {strides}")
        self.norm = InputNorm(n_mels, per_bin=False)
        self.stem = nn.Sequential(
            nn.Conv2d(1, channels, (10, 4), stride=2, padding=0, bias=True),
            nn.BatchNorm2d(channels),
            nn.ReLU(),
        )
        self.blocks = nn.Sequential(*[_DSBlock(channels, s) for s in strides])
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(channels, n_labels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.stem(self.norm(x).unsqueeze(1))
        h = self.blocks(h).mean(dim=(2, 3))
        return self.head(self.drop(h))


class DeployNet(nn.Module):
    """The student as shipped: BN and input normalisation folded in; Conv/ReLU/mean/Linear only."""

    def __init__(self, layers: nn.Sequential, head: nn.Linear) -> None:
        super().__init__()
        self.layers = layers
        self.head = head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.layers(x.unsqueeze(1))
        return self.head(h.mean(dim=(2, 3)))


def deploy_copy(student: Student) -> DeployNet:
    """Fold BN into convs and the input affine into the stem, giving identical logits in eval."""
    s = copy.deepcopy(student).eval()
    stem_conv, stem_bn = s.stem[0], s.stem[1]
    assert isinstance(stem_conv, nn.Conv2d) and isinstance(stem_bn, nn.BatchNorm2d)
    stem = fuse_conv_bn_eval(stem_conv, stem_bn)
    mean, std = float(s.norm.mean.item()), float(s.norm.std.item())
    with torch.no_grad():
        # W * (x - m) / s + b == (W / s) * x + (b - m / s * sum(W)); exact with no padding.
        assert stem.bias is not None
        stem.bias -= mean / std * stem.weight.sum(dim=(1, 2, 3))
        stem.weight /= std
    layers: list[nn.Module] = [stem, nn.ReLU()]
    for block in s.blocks:
        assert isinstance(block, _DSBlock)
        for part in (block.dw, block.pw):
            conv, bn = part[0], part[1]
            assert isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d)
            layers += [fuse_conv_bn_eval(conv, bn), nn.ReLU()]
    return DeployNet(nn.Sequential(*layers), s.head).eval()


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def count_macs(model: nn.Module, input_frames: int, n_mels: int) -> int:
    """Multiply-accumulates of conv and linear layers for one (1, input_frames, n_mels) input."""
    total = 0

    def conv_hook(mod: nn.Module, _inp: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
        nonlocal total
        assert isinstance(mod, nn.Conv2d)
        per_output = (mod.in_channels // mod.groups) * mod.kernel_size[0] * mod.kernel_size[1]
        total += out.numel() * per_output

    def linear_hook(mod: nn.Module, _inp: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
        nonlocal total
        assert isinstance(mod, nn.Linear)
        total += out.numel() * mod.in_features

    hooks = []
    for mod in model.modules():
        hook: Callable[[nn.Module, tuple[torch.Tensor, ...], torch.Tensor], None] | None = None
        if isinstance(mod, nn.Conv2d):
            hook = conv_hook
        elif isinstance(mod, nn.Linear):
            hook = linear_hook
        if hook is not None:
            hooks.append(mod.register_forward_hook(hook))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(torch.zeros(1, input_frames, n_mels))
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    return total


def describe(name: str, model: nn.Module, input_frames: int, n_mels: int) -> dict[str, int]:
    """Log and return MACs and parameter count of a model."""
    macs = count_macs(model, input_frames, n_mels)
    params = count_params(model)
    log.info("%s: %.2f M MACs, %d params", name, macs / 1e6, params)
    return {"macs": macs, "params": params}


if __name__ == "__main__":
    for label, net in (("teacher", Teacher(22)), ("student", Student(22))):
        figures = describe(label, net, 49, 40)
        print(f"{label}: {figures['macs'] / 1e6:.2f} M MACs, {figures['params']} params")
