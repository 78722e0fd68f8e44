"""Config dataclasses as cache keys that survive new fields."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import MISSING, asdict, fields
from typing import Any


def stable_dict(config: Any, added_later: Iterable[str]) -> dict[str, Any]:
    """asdict(config) minus the fields in `added_later` that still hold their default, so a
    field added to a recipe leaves the keys (and caches) of earlier runs valid until it is set."""
    names = set(added_later)
    defaults = {
        f.name: f.default for f in fields(config) if f.name in names and f.default is not MISSING
    }
    if names - defaults.keys():
        raise ValueError(f"not fields with a plain default: {sorted(names - defaults.keys())}")
    return {k: v for k, v in asdict(config).items() if k not in defaults or v != defaults[k]}
