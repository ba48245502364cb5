"""What every seeded set generator shares: one JSON object per line, and the ``--out``/``--seed`` command line."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

__all__ = ["render", "write", "main"]


def render(items: Iterable[dict[str, Any]]) -> str:
    """The items as JSON lines, non-ASCII kept as written (the fact aliases carry accents)."""
    return "".join(json.dumps(item, ensure_ascii=False) + "\n" for item in items)


def write(path: Path, items: Iterable[dict[str, Any]]) -> Path:
    path.write_text(render(items), encoding="utf-8")
    return path


def main(
    doc: str | None,
    generate: Callable[[int], list[dict[str, Any]]],
    default_path: Path,
    seed: int,
    argv: list[str] | None = None,
) -> None:
    """Command line of a generator module: rewrite its set (or ``--out``) from ``--seed``."""
    parser = argparse.ArgumentParser(description=(doc or "").split("\n")[0])
    parser.add_argument("--out", type=Path, default=default_path)
    parser.add_argument("--seed", type=int, default=seed)
    args = parser.parse_args(argv)
    write(args.out, generate(args.seed))
