#!/usr/bin/env python3
"""Screen behind build/results/probe-bc-resnet.json (kept so its figures can be re-made; not
part of the product): would a broadcasted-residual network (BC-ResNet, Kim et al., Interspeech
2021), the other small-footprint family the model-factory issue names, hear the held-out
engine's voices better than the shipped DS-CNN at the same size?

Each block filters along frequency (depthwise 3 taps), then averages over frequency, filters the
result along time (depthwise 3 taps, dilated 1/2/4/8 by stage), mixes channels (1x1) and
broadcasts it back over every frequency: a residual sum of a 2-D and a 1-D path, so most
channel mixing happens on one row instead of the whole map. Changed from the paper so that
both INT8 exports could carry it: ReLU instead of SiLU, plain BatchNorm instead of
sub-spectral norm (both fold into the convolutions), a stem without padding (so the scalar input
normalisation folds exactly, as in the DS-CNN). Width 2 has the DS-CNN's parameter count
(24.7k against 23.9k) at 3.0 M MACs against 4.15 M; width 2.5 36k and 4.4 M. Ops: Conv2d
(depthwise and 1x1), ReLU, mean, broadcast add, Linear.

  OMP_NUM_THREADS=1 OPENBLAS_CORETYPE=Cooperlake .venv/bin/python build/experiments/bc-resnet.py \\
      WIDTH [--epochs N] [--train-seed S] [--cache DIR] [--json OUT]

WIDTH = 0 trains the shipped DS-CNN, the twin. Figures as in lifter.py (`_screen.py`).
"""

from __future__ import annotations

import sys

import torch
from _screen import emit, load, parse, train_and_report
from torch import nn

from edge_asr.train import fit, nets


class _BCBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, f_stride: int, dilation: int, dropout: float):
        super().__init__()
        self.transition = c_in != c_out or f_stride != 1
        self.pre: nn.Module = nn.Identity()
        if c_in != c_out:
            self.pre = nn.Sequential(
                nn.Conv2d(c_in, c_out, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU()
            )
        self.freq = nn.Sequential(
            nn.Conv2d(c_out, c_out, (1, 3), (1, f_stride), (0, 1), groups=c_out, bias=False),
            nn.BatchNorm2d(c_out),
        )
        self.time = nn.Sequential(
            nn.Conv2d(
                c_out,
                c_out,
                (3, 1),
                padding=(dilation, 0),
                dilation=(dilation, 1),
                groups=c_out,
                bias=False,
            ),
            nn.BatchNorm2d(c_out),
            nn.ReLU(),
        )
        self.mix = nn.Conv2d(c_out, c_out, 1)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pre(x)
        f2 = self.freq(x)  # (B, C, T, F')
        f1 = self.drop(self.mix(self.time(f2.mean(dim=3, keepdim=True))))  # (B, C, T, 1)
        out = f2 + f1
        return torch.relu(out if self.transition else out + x)


class BCResNet(nn.Module):
    """x (B, T, F) -> logits; maps are (B, C, T, F). BC-ResNet-1's stages times `width`."""

    def __init__(
        self,
        n_labels: int,
        n_mels: int = 40,
        width: float = 2.0,
        blocks: tuple[int, ...] = (2, 2, 4, 4),
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        c = [round(v * width) for v in (16, 8, 12, 16, 20, 32)]
        self.norm = nets.InputNorm(n_mels, per_bin=False)
        self.stem = nn.Sequential(
            nn.Conv2d(1, c[0], (5, 5), stride=(1, 2)), nn.BatchNorm2d(c[0]), nn.ReLU()
        )
        layers: list[nn.Module] = []
        c_in = c[0]
        for stage, (n, f_stride, dilation) in enumerate(
            zip(blocks, (1, 2, 2, 1), (1, 2, 4, 8), strict=True)
        ):
            for i in range(n):
                layers.append(
                    _BCBlock(c_in, c[stage + 1], f_stride if i == 0 else 1, dilation, dropout)
                )
                c_in = c[stage + 1]
        self.blocks = nn.Sequential(*layers)
        self.head_dw = nn.Sequential(
            nn.Conv2d(c_in, c_in, (1, 5), groups=c_in, bias=False), nn.BatchNorm2d(c_in), nn.ReLU()
        )
        self.head_pw = nn.Sequential(
            nn.Conv2d(c_in, c[5], 1, bias=False), nn.BatchNorm2d(c[5]), nn.ReLU()
        )
        self.head = nn.Linear(c[5], n_labels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.stem(self.norm(x).unsqueeze(1))
        h = self.head_pw(self.head_dw(self.blocks(h)))
        return self.head(h.mean(dim=(2, 3)))


def main(argv: list[str]) -> int:
    args = parse(__doc__, argv, "width", float, "BC-ResNet width (0: the shipped DS-CNN)")
    s, test, test_meta = load(args.cache, args.train_seed)
    fit.set_seed(args.train_seed)
    net: nn.Module
    if args.width:
        net = BCResNet(len(s.labels), s.n_mels, width=args.width)
    else:
        net = nets.Student(len(s.labels), s.n_mels, **s.preset.student_kwargs)
    row = {
        "net": f"bc-resnet width {args.width:g}" if args.width else "ds-cnn (shipped)",
        **nets.describe("screen", net, s.input_frames, s.n_mels),
        **train_and_report(
            net,
            s,
            (s.train, s.val, test),
            test_meta,
            args.epochs,
            args.train_seed,
            f"bc-{args.width:g}",
        ),
    }
    return emit(row, args.json)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
