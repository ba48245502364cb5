"""The labelled on-device command set: a phone assistant's tools (tools.json) and utterances (commands.jsonl)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from edgekit.runtime.errors import ConfigError

__all__ = ["TOOLS_PATH", "DEFAULT_PATH", "SPLITS", "KINDS", "load_tools", "load_commands"]

TOOLS_PATH = Path(__file__).with_name("tools.json")
DEFAULT_PATH = Path(__file__).with_name("commands.jsonl")
SPLITS = ("train", "held-out")
KINDS = ("call", "chat", "no_tool")
_REQUIRED = ("id", "group", "kind", "split", "template", "utterance", "expected")


def load_tools(names: list[str] | None = None) -> list[dict[str, Any]]:
    """The shipped tools in OpenAI's shape; ``names`` keeps only those (an unknown name is a ``ConfigError``)."""
    tools = json.loads(TOOLS_PATH.read_text(encoding="utf-8"))
    if not names:
        return tools
    known = [t["function"]["name"] for t in tools]
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ConfigError(f"--tools {','.join(unknown)!r} is unknown; known tools: {', '.join(known)}")
    return [t for t in tools if t["function"]["name"] in names]


def load_commands(
    path: str | Path = DEFAULT_PATH, split: str = "held-out", tools: list[str] | None = None
) -> list[dict[str, Any]]:
    """Items of one split (``train``, ``held-out`` or ``all``); ``tools`` keeps the calls to those tools (and every
    chat and no-tool item)."""
    if split not in (*SPLITS, "all"):
        raise ConfigError(f"--split {split!r} is unknown; use one of: {', '.join((*SPLITS, 'all'))}")
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"command set {str(path)!r} does not exist; the shipped set is {DEFAULT_PATH}")
    items = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{path}:{n}: not valid JSON ({exc})") from None
        missing = [k for k in _REQUIRED if k not in item] if isinstance(item, dict) else list(_REQUIRED)
        if missing:
            raise ConfigError(f"{path}:{n}: item lacks {', '.join(missing)} (needs {', '.join(_REQUIRED)})")
        if item["kind"] not in KINDS:
            raise ConfigError(f"{path}:{n}: kind {item['kind']!r} is unknown; use one of: {', '.join(KINDS)}")
        if split != "all" and item["split"] != split:
            continue
        if tools and item["kind"] == "call" and item["expected"]["name"] not in tools:
            continue
        items.append(item)
    return items
