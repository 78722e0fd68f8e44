"""Earlier recipes of the default model, for the experiments that were measured on them (they run
as files, so this sits beside them)."""

from __future__ import annotations

import re
import sys
from dataclasses import replace
from pathlib import Path

from edge_asr.train import dataset, recipe, vocab
from edge_asr.train.cli import main


def pin_1_4_0() -> None:
    """Make the full data preset the one 1.3.0 and 1.4.0 were built with (and every experiment
    before 1.5.0 was measured on): the factory's 150 unknown words, each spoken by three styles
    of every espeak-ng and Piper training voice, all of them in validation and test too. Its
    datasets hash as they did then, so their caches are found again."""
    dataset.SIZES["full"] = replace(
        dataset.SIZES["full"],
        n_unknown=150,
        espeak_unknown_styles=3,
        piper_unknown_styles=3,
        eval_unknown=0,
    )


def link_streams(cache: Path, name: str, source: str = "speech-commands-20") -> None:
    """Let the arm `name` evaluate on `source`'s negative streams: its stream folder holds a link
    to each of `source`'s stream files. A stream the arm's data makes differently (its key
    changes with the vocabulary the mining stream speaks, say) is then written over the link,
    in the arm's own folder, and never over `source`'s file, as a link to the whole folder once
    did. Streams `source` gets later are not linked; the arm makes its own."""
    if name == source:
        return
    own, shared = cache / "streams" / name, cache / "streams" / source
    if own.is_symlink():  # an earlier run's link to the whole folder
        own.unlink()
    own.mkdir(parents=True, exist_ok=True)
    for path in shared.glob("*"):
        if path.is_file() and not path.name.startswith(".") and not (own / path.name).exists():
            (own / path.name).symlink_to(path.resolve())


def no_kd() -> None:
    """Both student stages become the student without distillation (so it is "chosen"); the
    teacher still trains, or comes from the twin's cache, for the card's table."""
    key, cfg = recipe._Setup.student_key, recipe._Setup.student_cfg
    recipe._Setup.student_key = lambda self, kind: key(self, "no_kd")  # type: ignore[method-assign]
    recipe._Setup.student_cfg = lambda self, kind: cfg(self, "no_kd")  # type: ignore[method-assign]


def use_teacher(path: Path, runs: Path) -> None:
    """Key every setup's teacher as `path`, linked into this arm's run cache."""
    runs.mkdir(parents=True, exist_ok=True)
    link = runs / path.name
    if not link.exists():
        link.symlink_to(path.resolve())
    setup = recipe._setup

    def keyed(*args: object) -> recipe._Setup:
        return replace(setup(*args), t_key=path.stem)  # type: ignore[arg-type]

    recipe._setup = keyed  # type: ignore[assignment]


def no_kd_arm(name: str, version: str, args: list[str]) -> int:
    """One arm of a 1.5.0-recipe ablation whose data preset the caller has already changed:
    args are OUT_DIR [CACHE [TRAIN_SEED [TEACHER]]]. OUT_DIR "data" builds the training data on
    two worker processes, cached as `name`; otherwise the student without distillation trains
    from it into OUT_DIR. The negative streams are speech-commands-20's (`link_streams`)."""
    if re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") != name:  # as edge-asr train names
        raise SystemExit(f"{name}: not a cache folder name edge-asr train would use (a-z, 0-9, -)")
    out = args[0]
    cache = Path(args[1]).expanduser() if len(args) > 1 else Path.home() / ".cache/edge-asr"
    link_streams(cache, name)
    commands = list(vocab.DEFAULT_COMMANDS)
    if out == "data":
        info = dataset.build_dataset(
            commands, cache / "datasets" / name, seed=0, size="full", cache_dir=cache, workers=2
        )
        print(info.counts["train"], "in", round(info.seconds), "s")
        return 0
    no_kd()
    if len(args) > 3:
        use_teacher(Path(args[3]).expanduser(), cache / "runs" / name)
    argv = ["--commands", ", ".join(commands), "--out", out, "--name", name, "--version", version]
    argv += ["--size", "full", "--seed", "0", "--cache", str(cache), "--jobs", "1"]
    if len(args) > 2:
        argv += ["--train-seed", args[2]]
    print("edge-asr train", *argv, file=sys.stderr)
    return main("train", argv)
