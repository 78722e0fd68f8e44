"""DET curves (false rejects vs false accepts per hour) of edge-asr and pocketsphinx."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def plot_det(edge: dict[str, Any], ps: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    floor = 0.05  # zero false accepts drawn at the axis floor
    fig, ax = plt.subplots(figsize=(6.4, 4.6))
    d = edge["det"]
    ax.plot(
        [max(f, floor) for f in d["false_accepts_per_hour"]],
        d["false_reject_rate"],
        "-",
        color="C0",
        label=f"edge-asr ({edge['backend']}), threshold 0.30-0.99",
    )
    ax.plot(
        [max(edge["false_accepts_per_hour"], floor)],
        [1 - edge["top1"]["clean"]],
        "o",
        color="C0",
        label=f"edge-asr at its threshold {edge['threshold']}",
    )
    p = ps["det"]
    ax.plot(
        [max(f, floor) for f in p["false_accepts_per_hour"]],
        p["false_reject_rate"],
        "s-",
        color="C3",
        label="pocketsphinx kws, exponent offset sweep",
    )
    for o, f, r in zip(
        p["offset"], p["false_accepts_per_hour"], p["false_reject_rate"], strict=True
    ):
        ax.annotate(
            f"{o:+g}",
            (max(f, floor), r),
            textcoords="offset points",
            xytext=(4, 4),
            fontsize=7,
            color="C3",
        )
    ax.set_xscale("log")
    ax.set_xlabel("false accepts per hour (negative stream)")
    ax.set_ylabel("false reject rate (clean held-out command clips)")
    ax.set_ylim(0, 1.02)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="upper right")
    ax.set_title("DET: edge-asr vs pocketsphinx keyword spotting (20 commands)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
