"""The labelled escalation set: items, checkers, and the loader."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from edgekit.runtime.errors import ConfigError

from .checkers import CHECKERS, check
from .generate import DEFAULT_PATH

__all__ = ["load_items", "check", "CHECKERS", "DEFAULT_PATH"]

_REQUIRED = ("id", "family", "question", "checker", "expected")


def load_items(
    path: str | Path = DEFAULT_PATH, limit: int | None = None, families: list[str] | None = None
) -> list[dict[str, Any]]:
    """Items of a JSONL set (one object per line with id, family, question, checker, expected)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"data set {str(path)!r} does not exist; the shipped set is {DEFAULT_PATH}")
    items = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{path}:{n}: not valid JSON ({exc})") from None
        missing = [k for k in _REQUIRED if k not in item]
        if missing:
            raise ConfigError(f"{path}:{n}: item lacks {', '.join(missing)} (needs {', '.join(_REQUIRED)})")
        if item["checker"] not in CHECKERS:
            raise ConfigError(f"{path}:{n}: unknown checker {item['checker']!r}; known: {', '.join(CHECKERS.names())}")
        if families and item["family"] not in families:
            continue
        items.append(item)
    if limit is not None:
        items = _spread(items, limit)
    return items


def _spread(items: list[dict[str, Any]], limit: int) -> list[dict[str, Any]]:
    """An evenly spaced slice, so a small CI slice still covers every family and level."""
    if limit >= len(items):
        return items
    step = len(items) / limit
    return [items[int(i * step)] for i in range(limit)]
