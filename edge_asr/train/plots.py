"""Model-card plots: confusion matrix and DET curve (false rejects vs false accepts per hour)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from ..model import ModelSpec, is_internal


def plot_confusion(confusion: dict[str, dict[str, int]], spec: ModelSpec, out: Path) -> Path:
    rows = [label for label in spec.labels if not is_internal(label)] + ["_unknown_"]
    rows = [r for r in rows if r in confusion]
    cols = [label for label in spec.labels if not is_internal(label)] + ["(none)"]
    matrix = np.array([[confusion.get(r, {}).get(c, 0) for c in cols] for r in rows], float)
    share = matrix / np.maximum(1, matrix.sum(axis=1, keepdims=True))
    fig, ax = plt.subplots(figsize=(0.42 * len(cols) + 2, 0.42 * len(rows) + 1.5))
    ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(cols)), cols, rotation=90)
    ax.set_yticks(range(len(rows)), rows)
    ax.set_xlabel("first detection")
    ax.set_ylabel("spoken (held-out TTS engine, clean)")
    for i in range(len(rows)):
        for j in range(len(cols)):
            if matrix[i, j]:
                colour = "white" if share[i, j] > 0.5 else "black"
                ax.text(j, i, int(matrix[i, j]), ha="center", va="center", fontsize=6, color=colour)
    ax.set_title(f"{spec.name} {spec.version}: streaming confusion")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def plot_det(det: dict[str, Any], threshold: float, out: Path) -> Path:
    fa = np.array(det["false_accepts_per_hour"], float)
    fr = 100 * np.array(det["false_reject_rate"], float)
    fig, ax = plt.subplots(figsize=(5.5, 4.2))
    ax.plot(fa, fr, marker=".", lw=1)
    idx = int(np.argmin(np.abs(np.array(det["threshold"]) - threshold)))
    ax.plot(fa[idx], fr[idx], "o", color="red", label=f"shipped threshold {threshold:.2f}")
    ax.set_xscale("symlog", linthresh=0.1)
    ax.set_xlabel("false accepts per hour (negative stream)")
    ax.set_ylabel("false rejects % (held-out clean clips)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    ax.set_title("DET curve through the streaming recognizer")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
