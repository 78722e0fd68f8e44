"""The README documents what the code does: every config key, every CLI command."""

from __future__ import annotations

import re
import typing
from pathlib import Path

from pydantic import BaseModel

from edge_asr.cli import _parser
from edge_asr.config import Settings

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


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
