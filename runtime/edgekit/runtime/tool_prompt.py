"""Tools, earlier calls and tool results in the prompt: through the bundle's template, or a generic format.

A chat template that reads ``tools`` (Hugging Face templates take ``tools=`` in ``apply_chat_template``) gets
the tools in OpenAI's shape, assistant turns with ``tool_calls`` (arguments as a mapping, transformers'
convention in its chat templating docs) and ``tool`` turns as they are.

A template that does not (SmolLM2's, the default model's) gets the generic format of docs/runtime.md, the
wording of Qwen2.5-Instruct's template, whose output format tool_grammar.py enforces:

- the tools, described in the system turn (appended to the caller's system message, or as a new one);
- an assistant turn with calls: its text, then each call as ``<tool_call>\\n{json}\\n</tool_call>``;
- ``tool`` turns: one user turn holding each result in ``<tool_response>\\n...\\n</tool_response>``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from .errors import ToolError
from .tool_grammar import call_text
from .tools import Tool

__all__ = ["tools_section", "prepare_messages", "has_tool_turns"]


def tools_section(tools: Sequence[Tool]) -> str:
    listed = "\n".join(json.dumps(t.to_openai(), ensure_ascii=False) for t in tools)
    return (
        "# Tools\n\nYou may call one or more functions to assist with the user query.\n\n"
        "You are provided with function signatures within <tools></tools> XML tags:\n"
        f"<tools>\n{listed}\n</tools>\n\n"
        "For each function call, return a json object with function name and arguments within "
        "<tool_call></tool_call> XML tags:\n"
        '<tool_call>\n{"name": <function-name>, "arguments": <args-json-object>}\n</tool_call>'
    )


def has_tool_turns(messages: Sequence[Mapping[str, Any]]) -> bool:
    return any(m.get("role") == "tool" or m.get("tool_calls") for m in messages if isinstance(m, Mapping))


def _calls(message: Mapping[str, Any], where: str) -> list[tuple[str, str | None, dict[str, Any]]]:
    """(name, id, arguments) of each call of an assistant turn; arguments are JSON text or an object."""
    raw = message.get("tool_calls")
    if not isinstance(raw, list):
        raise ToolError(f"{where}.tool_calls", raw, "use an array of {'id', 'type': 'function', 'function'} objects")
    out = []
    for j, call in enumerate(raw):
        function = call.get("function") if isinstance(call, Mapping) else None
        name = function.get("name") if isinstance(function, Mapping) else None
        if not isinstance(function, Mapping) or not isinstance(name, str) or not name:
            raise ToolError(f"{where}.tool_calls[{j}]", call, "use {'function': {'name': ..., 'arguments': '{...}'}}")
        arguments: Any = function.get("arguments", "{}")
        if isinstance(arguments, str):
            try:
                arguments = json.loads(arguments or "{}")
            except ValueError:
                arguments = None
        if not isinstance(arguments, dict):
            raise ToolError(
                f"{where}.tool_calls[{j}].function.arguments", function.get("arguments"), "use a JSON object (as text)"
            )
        call_id = call.get("id")
        out.append((name, call_id if isinstance(call_id, str) else None, arguments))
    return out


def _text(message: Mapping[str, Any]) -> str:
    content = message.get("content")
    return content if isinstance(content, str) else ""


def _template_turn(message: Mapping[str, Any], where: str) -> dict[str, Any]:
    turn = dict(message)
    turn["content"] = _text(message)
    if message.get("tool_calls"):
        turn["tool_calls"] = [
            {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}
            if call_id
            else {"type": "function", "function": {"name": name, "arguments": arguments}}
            for name, call_id, arguments in _calls(message, where)
        ]
    return turn


def _generic_turns(messages: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for i, message in enumerate(messages):
        role = message.get("role")
        if role == "tool":
            response = f"<tool_response>\n{_text(message)}\n</tool_response>"
            if out and out[-1].get("edgekit_tool_results"):  # consecutive results share one user turn (as Qwen)
                out[-1]["content"] += "\n" + response
            else:
                out.append({"role": "user", "content": response, "edgekit_tool_results": True})
        elif message.get("tool_calls"):
            calls = [call_text(name, arguments) for name, _, arguments in _calls(message, f"messages[{i}]")]
            text = _text(message)
            out.append({"role": role, "content": "\n".join([text, *calls] if text else calls)})
        else:
            out.append({k: v for k, v in message.items() if k != "tool_calls"})
    for turn in out:
        turn.pop("edgekit_tool_results", None)
    return out


def _with_tools_in_system(messages: list[dict[str, Any]], tools: Sequence[Tool]) -> list[dict[str, Any]]:
    section = tools_section(tools)
    if messages and messages[0].get("role") == "system":
        first = dict(messages[0])
        first["content"] = (_text(first) + "\n\n" + section) if _text(first) else section
        return [first, *messages[1:]]
    return [{"role": "system", "content": section}, *messages]


def prepare_messages(
    messages: Sequence[Mapping[str, Any]], tools: Sequence[Tool], template_takes_tools: bool
) -> list[dict[str, Any]]:
    """The turns to render: calls and results in the template's form or the generic one, tools in the
    system turn when the template does not take them (``tools`` empty: nothing is added)."""
    if template_takes_tools:
        return [_template_turn(m, f"messages[{i}]") for i, m in enumerate(messages)]
    turns = _generic_turns(messages) if has_tool_turns(messages) else [dict(m) for m in messages]
    return _with_tools_in_system(turns, tools) if tools else turns
