"""``--tools FILE``: OpenAI-shaped tool definitions read from a JSON file, and how a call is shown.

The file holds OpenAI's ``tools`` array (``[{"type": "function", "function": {...}}, ...]``) or an object
with a ``tools`` key (a saved request body works as is). Problems are one ``ToolError`` line naming the file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from edgekit.runtime.errors import ToolError
from edgekit.runtime.tool_examples import ToolExamples
from edgekit.runtime.tools import Tool, ToolCall, parse_tools

__all__ = ["read_tools_file", "read_tool_examples", "show_call"]


def read_tools_file(path: str | Path) -> tuple[Tool, ...]:
    try:
        data: Any = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ToolError(
            "--tools", str(path), f"cannot read the file ({exc.strerror or exc}); pass a JSON file"
        ) from None
    except ValueError as exc:
        raise ToolError("--tools", str(path), f"the file is not JSON ({exc}); fix it") from None
    if isinstance(data, dict) and "tools" in data:
        data = data["tools"]
    try:
        tools = parse_tools(data)
    except ToolError as exc:
        raise ToolError(f"{exc.field} in {path}", exc.value, exc.rule) from None
    if not tools:
        raise ToolError("--tools", str(path), "the file lists no tools; give at least one")
    return tools


def read_tool_examples(path: str | Path) -> ToolExamples:
    """``--tool-examples FILE``: JSON Lines (or a JSON array) of ``{"utterance": ..., "call": {"name": ...,
    "arguments": {...}}}``; the command set's labelled rows (``expected`` instead of ``call``) are read too."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ToolError("--tool-examples", str(path), f"cannot read the file ({exc.strerror or exc})") from None
    try:
        stripped = text.lstrip()
        rows: Any = (
            json.loads(text) if stripped.startswith("[") else [json.loads(x) for x in text.splitlines() if x.strip()]
        )
    except ValueError as exc:
        raise ToolError("--tool-examples", str(path), f"not JSON Lines or a JSON array ({exc}); fix it") from None
    rows = [r for r in rows if not isinstance(r, dict) or r.get("kind", "call") == "call"]
    try:
        examples = ToolExamples(rows)
    except ToolError as exc:
        raise ToolError(f"{exc.field} in {path}", exc.value, exc.rule) from None
    if not examples.examples:
        raise ToolError("--tool-examples", str(path), "the file holds no examples; give at least one")
    return examples


def show_call(call: ToolCall) -> str:
    """One line per call, as the chat prints it: ``-> set_timer({"minutes":5})  [call_…]``."""
    return f"-> {call.name}({call.arguments})  [{call.id}]"
