"""The grammar that holds a model's output to the tools, and the parser of what it produced.

A call is written the way Qwen 2.5 and Hermes templates teach their models (the "For each function call,
return a json object with function name and arguments within <tool_call></tool_call> XML tags" block of
Qwen2.5-Instruct's chat template)::

    <tool_call>
    {"name":"set_timer","arguments":{"minutes":5}}
    </tool_call>

several calls one per line. The grammar is an llguidance Lark grammar (guidance-ai/llguidance docs/syntax.md)
whose calls embed each tool's JSON Schema with ``%json``, so the arguments follow that tool's schema while
decoding (enums, bounds, nested objects, arrays):

- ``auto``: a plain answer (any text not starting with ``<tool_call>``, llguidance's ``&``/``~`` regex
  operators) or calls;
- ``required``: calls to any tool; a named choice: one call to that tool; ``none``: no grammar at all.

JSON has no free whitespace (as constraints.py: a small model can emit whitespace until max_new_tokens).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from .constraints import Constraint
from .errors import ToolError
from .tools import Tool, ToolCall, ToolChoice, ToolChoiceMode, new_call_id

__all__ = ["CALL_OPEN", "CALL_CLOSE", "tool_constraint", "parse_calls", "schema_problem", "call_text"]

CALL_OPEN = "<tool_call>\n"
CALL_CLOSE = "\n</tool_call>"
_SEPARATOR = "\n"
_STRICT_JSON = {"whitespace_flexible": False}


def _call_schema(tool: Tool) -> dict[str, Any]:
    """A call to ``tool``: its name, then arguments that follow its parameters schema."""
    return {
        "type": "object",
        "properties": {"name": {"const": tool.name}, "arguments": tool.schema()},
        "required": ["name", "arguments"],
        "additionalProperties": False,
        "x-guidance": _STRICT_JSON,
    }


def schema_problem(parameters: Mapping[str, Any]) -> str:
    """Why llguidance cannot compile ``parameters`` as a tool's arguments schema ("" when it can)."""
    from .constraints import _llg

    llg = _llg()
    try:
        grammar = llg.LLMatcher.grammar_from_json_schema(
            json.dumps(_call_schema(Tool("t", "", parameters)), ensure_ascii=False, allow_nan=False)
        )
    except (TypeError, ValueError) as exc:
        return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    message = str(llg.LLMatcher.validate_grammar(grammar))
    return message.strip().splitlines()[0] if message.strip() else ""


def _lark_string(text: str) -> str:
    return json.dumps(text)  # a JSON string literal is a Lark string literal (same escapes)


def tool_constraint(tools: Sequence[Tool], choice: ToolChoice, parallel: bool = False) -> Constraint | None:
    """The Lark grammar for ``choice`` over ``tools``; None when the output is free (``none``)."""
    if choice.mode is ToolChoiceMode.NONE or not tools:
        return None
    wanted = [t for t in tools if choice.mode is not ToolChoiceMode.NAMED or t.name == choice.name]
    rules = [f"tool_{i}: %json {json.dumps(_call_schema(t), ensure_ascii=False)}" for i, t in enumerate(wanted)]
    body = " | ".join(f"tool_{i}" for i in range(len(wanted)))
    repeat = parallel and choice.mode is not ToolChoiceMode.NAMED
    lines = [
        f"call: {_lark_string(CALL_OPEN)} ({body}) {_lark_string(CALL_CLOSE)}",
        f"calls: call ({_lark_string(_SEPARATOR)} call)*" if repeat else "calls: call",
        *rules,
    ]
    if choice.mode is ToolChoiceMode.AUTO:
        # a plain answer: any text that does not open a call (llguidance's regex intersection and negation)
        lines = ["start: TEXT | calls", f"TEXT: /(?s:.*)/ & ~/{_regex_literal(CALL_OPEN.strip())}(?s:.*)/", *lines]
    else:
        lines = ["start: calls", *lines]
    return Constraint.lark("\n".join(lines) + "\n")


_REGEX_SPECIAL = frozenset("\\.+*?()|[]{}^$#&-~/")


def _regex_literal(text: str) -> str:
    return "".join("\\" + ch if ch in _REGEX_SPECIAL else ch for ch in text)


def call_text(name: str, arguments: Mapping[str, Any]) -> str:
    """A call as the model writes it (also how an earlier call is shown back in the generic format)."""
    payload = {"name": name, "arguments": dict(arguments)}
    return CALL_OPEN + json.dumps(payload, ensure_ascii=False, separators=(",", ":")) + CALL_CLOSE


def could_be_call(text: str) -> bool:
    """True while ``text`` is still a prefix of a call's opening (a stream holds such text back)."""
    opening = CALL_OPEN.strip()
    return opening.startswith(text) or text.startswith(opening)


def parse_calls(text: str, tools: Sequence[Tool]) -> tuple[ToolCall, ...] | None:
    """The calls in ``text``, or None when it is a plain answer (it does not open a call).

    The grammar guarantees the shape; this still checks each call (a complete JSON object naming a known tool,
    arguments an object) and raises ``ToolError`` if one is not, so a caller never gets a broken call.
    """
    if not text.startswith(CALL_OPEN.strip()):
        return None
    known = {t.name for t in tools}
    decoder = json.JSONDecoder()
    calls: list[ToolCall] = []
    at = 0
    while at < len(text):
        if not text.startswith(CALL_OPEN, at):
            raise _broken(text, at, f"expected {CALL_OPEN!r}")
        try:
            payload, end = decoder.raw_decode(text, at + len(CALL_OPEN))
        except ValueError as exc:
            raise _broken(text, at, f"the call is not JSON ({exc})") from None
        if not isinstance(payload, dict) or set(payload) != {"name", "arguments"}:
            raise _broken(text, at, "a call is an object with exactly 'name' and 'arguments'")
        name, arguments = payload["name"], payload["arguments"]
        if name not in known or not isinstance(arguments, dict):
            raise _broken(text, at, f"{name!r} is not one of the tools, or its arguments are not an object")
        if not text.startswith(CALL_CLOSE, end):
            raise _broken(text, end, f"expected {CALL_CLOSE!r}")
        compact = json.dumps(arguments, ensure_ascii=False, separators=(",", ":"))  # as the grammar wrote it
        calls.append(ToolCall(new_call_id(), name, compact))
        at = end + len(CALL_CLOSE)
        if text.startswith(_SEPARATOR, at):
            at += len(_SEPARATOR)
    return tuple(calls)


def _broken(text: str, at: int, rule: str) -> ToolError:
    return ToolError("tool call output", text[at : at + 80], f"{rule}; the model's output is not a valid call")
