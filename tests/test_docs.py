"""The docs match the code: every config key and CLI command is in the README, every build script
answers --help."""

from __future__ import annotations

import re
import subprocess
import sys
import typing
from pathlib import Path

import pytest
from pydantic import BaseModel
from repo import ROOT

from edge_asr.cli import _parser
from edge_asr.config import Settings

README = (ROOT / "README.md").read_text()


def leaf_keys(model: type[BaseModel], prefix: str = "") -> list[str]:
    keys = []
    for name, field in model.model_fields.items():
        nested = [
            t
            for t in (field.annotation, *typing.get_args(field.annotation))
            if isinstance(t, type) and issubclass(t, BaseModel)
        ]
        keys += leaf_keys(nested[0], f"{prefix}{name}.") if nested else [prefix + name]
    return keys


def test_every_config_key_is_in_the_readme_table() -> None:
    rows = [line for line in README.splitlines() if line.startswith("| `")]
    missing = []
    for key in leaf_keys(Settings):
        section, _, last = key.rpartition(".")
        ok = any(
            f"`{key}`" in row or (f"`{section}." in row and re.search(rf"\b{last}\b", row))
            for row in rows
        )
        if not ok:
            missing.append(key)
    assert not missing, f"README configuration table lacks {missing}"


def test_every_cli_command_is_in_the_readme() -> None:
    sub = next(a for a in _parser()._actions if a.dest == "command")
    for command in sub.choices:  # type: ignore[union-attr]
        assert f"edge-asr {command}" in README, command


SCRIPTS = sorted(
    p
    for p in [
        *ROOT.joinpath("build").iterdir(),
        *ROOT.joinpath("build", "experiments").glob("*.py"),
    ]
    if p.is_file()
    and not p.name.startswith("_")
    and p.read_text().startswith("#!/usr/bin/env python")
)


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_python_build_script_answers_help(script: Path) -> None:
    """The scripts that re-make the figures in build/results still import (several reach into
    the trainer's internals) and say how they are run, instead of a traceback."""
    run = subprocess.run(
        [sys.executable, str(script), "--help"], capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stderr[-2000:]
    text = run.stdout + run.stderr
    assert "usage:" in text or "build/" in text, text[:500]
