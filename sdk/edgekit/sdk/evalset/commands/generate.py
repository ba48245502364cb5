"""Generate the labelled on-device command set (deterministic; phrasings in phrasings.py, tools in tools.json).

    python -m edgekit.sdk.evalset.commands.generate      # rewrites commands.jsonl next to this file

Each tool's phrasing templates are split by a seeded draw: about a third of them are held out, so every held-out
utterance is a way of asking that the train split never shows (the same holds for the chat and no-tool lists,
whose every line is its own phrasing). Each tool template is filled ``PER_TEMPLATE`` times from the seeded
generator. One item per line:
``{"id", "group", "kind", "split", "template", "utterance", "expected"}`` where ``kind`` is ``call`` (``expected``
is ``{"name", "arguments"}``), ``chat`` (a plain answer is expected) or ``no_tool`` (no listed tool serves it: the
answer must not be a call, the cloud should take it).
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from .. import seeded_set
from . import DEFAULT_PATH, SPLITS
from .phrasings import CHAT, NO_TOOL, TEMPLATES

__all__ = ["generate", "write", "DEFAULT_PATH", "SEED", "PER_TEMPLATE", "HELD_OUT_SHARE", "SPLITS"]

SEED = 20261202
PER_TEMPLATE = 5
HELD_OUT_SHARE = 1 / 3


def _held_out(rng: random.Random, n: int) -> set[int]:
    return set(rng.sample(range(n), max(1, round(n * HELD_OUT_SHARE))))


def _tool_items(rng: random.Random) -> list[dict[str, Any]]:
    items = []
    for tool, templates in TEMPLATES.items():
        held = _held_out(rng, len(templates))
        for t, (pattern, slots) in enumerate(templates):
            seen: set[str] = set()
            for _ in range(20 * PER_TEMPLATE):  # distinct fillings; a few templates have few
                if len(seen) == PER_TEMPLATE:
                    break
                fields, arguments = slots(rng)
                utterance = pattern.format(**fields)
                if utterance in seen:
                    continue
                seen.add(utterance)
                items.append(
                    {
                        "group": tool,
                        "kind": "call",
                        "split": SPLITS[t in held],
                        "template": f"{tool}/{t}",
                        "utterance": utterance,
                        "expected": {"name": tool, "arguments": arguments},
                    }
                )
    return items


def _text_items(rng: random.Random, group: str, lines: list[str]) -> list[dict[str, Any]]:
    held = _held_out(rng, len(lines))
    return [
        {
            "group": group,
            "kind": group,
            "split": SPLITS[i in held],
            "template": f"{group}/{i}",
            "utterance": line,
            "expected": None,
        }
        for i, line in enumerate(lines)
    ]


def generate(seed: int = SEED) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    items = _tool_items(rng) + _text_items(rng, "chat", CHAT) + _text_items(rng, "no_tool", NO_TOOL)
    return [{"id": f"cmd-{i:03d}", **item} for i, item in enumerate(items)]


def render(seed: int = SEED) -> str:
    return seeded_set.render(generate(seed))


def write(path: Path = DEFAULT_PATH, seed: int = SEED) -> Path:
    return seeded_set.write(path, generate(seed))


def main(argv: list[str] | None = None) -> None:
    seeded_set.main(__doc__, generate, DEFAULT_PATH, SEED, argv)


if __name__ == "__main__":
    main()
