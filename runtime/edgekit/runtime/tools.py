"""Tool calling, typed: OpenAI's ``tools`` and ``tool_choice`` parsed into dataclasses, and the calls made.

The request shapes are OpenAI's chat completions API (https://platform.openai.com/docs/api-reference/chat/create):

- a tool is ``{"type": "function", "function": {"name", "description", "parameters"}}``; ``parameters`` is a
  JSON Schema object (absent: a function without arguments);
- ``tool_choice`` is ``"auto"`` (a call or a plain answer), ``"none"`` (a plain answer), ``"required"`` (at
  least one call) or ``{"type": "function", "function": {"name": ...}}`` (a call to that tool).

Every bad value is a ``ToolError`` naming the field, the value and the fix, raised before any compute. How
the tools reach the prompt is tool_prompt.py; how the output is held to them, tool_grammar.py.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

from .errors import ToolError

__all__ = ["Tool", "ToolCall", "ToolChoice", "ToolChoiceMode", "parse_tools", "parse_tool_choice", "new_call_id"]

# OpenAI's rule for function names: "a-z, A-Z, 0-9, or contain underscores and dashes, with a maximum length of 64"
_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
_NAME_RULE = "use 1 to 64 of a-z, A-Z, 0-9, '_' and '-'"


@dataclass(frozen=True)
class Tool:
    """One function the model may call. ``parameters`` is the JSON Schema of its arguments (an object)."""

    name: str
    description: str = ""
    parameters: Mapping[str, Any] | None = None

    def schema(self) -> dict[str, Any]:
        """The arguments' schema; a tool without parameters takes an empty object (OpenAI's reading)."""
        if self.parameters is None:
            return {"type": "object", "properties": {}, "additionalProperties": False}
        return dict(self.parameters)

    def to_openai(self) -> dict[str, Any]:
        """The OpenAI shape, which is also what Hugging Face chat templates take as ``tools``."""
        function: dict[str, Any] = {"name": self.name}
        if self.description:
            function["description"] = self.description
        function["parameters"] = self.schema()
        return {"type": "function", "function": function}


class ToolChoiceMode(str, Enum):
    AUTO = "auto"  # a plain answer or one or more calls: the model decides
    NONE = "none"  # a plain answer; the tools are not shown to the model
    REQUIRED = "required"  # one or more calls to any of the tools
    NAMED = "named"  # a call to the one tool ``ToolChoice.name``

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class ToolChoice:
    mode: ToolChoiceMode = ToolChoiceMode.AUTO
    name: str | None = None  # NAMED only

    def check(self, tools: Sequence[Tool]) -> None:
        """A named choice must name one of the tools; a call needs tools to call."""
        names = [t.name for t in tools]
        if self.mode is ToolChoiceMode.NAMED and self.name not in names:
            raise ToolError(
                "tool_choice.function.name",
                self.name,
                f"it is not one of the tools ({', '.join(names) or 'none were given'}); name one of them or use 'auto'",
            )
        if self.mode is ToolChoiceMode.REQUIRED and not tools:
            raise ToolError("tool_choice", "required", "there are no tools to call; pass tools or use 'auto'")


@dataclass(frozen=True)
class ToolCall:
    """A call the model made: ``arguments`` is JSON text (an object), as OpenAI sends it."""

    id: str
    name: str
    arguments: str

    def parsed_arguments(self) -> dict[str, Any]:
        value = json.loads(self.arguments)
        assert isinstance(value, dict)
        return value

    def to_openai(self) -> dict[str, Any]:
        return {"id": self.id, "type": "function", "function": {"name": self.name, "arguments": self.arguments}}

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "arguments": self.arguments}


def new_call_id() -> str:
    return "call_" + uuid.uuid4().hex[:24]


def _tool(value: Any, where: str) -> Tool:
    if isinstance(value, Tool):
        return value
    if not isinstance(value, Mapping):
        raise ToolError(where, value, "use an object like {'type': 'function', 'function': {'name': ...}}")
    if value.get("type", "function") != "function":
        raise ToolError(f"{where}.type", value.get("type"), "only 'function' tools are supported")
    function = value.get("function")
    if not isinstance(function, Mapping):
        raise ToolError(f"{where}.function", function, "use an object with 'name', 'description', 'parameters'")
    extra = sorted(set(function) - {"name", "description", "parameters", "strict"})
    if extra:
        raise ToolError(f"{where}.function", extra[0], "unknown key; a function takes name, description, parameters")
    name = function.get("name")
    if name is None:
        raise ToolError(f"{where}.function.name", None, f"every tool needs a name; {_NAME_RULE}")
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ToolError(f"{where}.function.name", name, _NAME_RULE)
    description = function.get("description") or ""
    if not isinstance(description, str):
        raise ToolError(f"{where}.function.description", description, "use a string")
    parameters = function.get("parameters")
    if parameters is not None:
        _check_schema(parameters, f"{where}.function.parameters")
    return Tool(name, description, parameters)


def _check_schema(schema: Any, where: str) -> None:
    """The schema must be a JSON object that llguidance can compile (the grammar is built from it)."""
    if not isinstance(schema, Mapping):
        raise ToolError(where, schema, "use a JSON Schema object, like {'type': 'object', 'properties': {...}}")
    if schema.get("type", "object") != "object":
        raise ToolError(f"{where}.type", schema.get("type"), "a tool's arguments are a JSON object: use 'object'")
    from .tool_grammar import schema_problem  # compiling needs llguidance; imported with the first tools

    problem = schema_problem(schema)
    if problem:
        raise ToolError(where, schema, f"llguidance cannot compile this JSON Schema ({problem}); fix the schema")


def parse_tools(value: Any) -> tuple[Tool, ...]:
    """OpenAI's ``tools`` array (or ``Tool`` objects) as typed tools; names must be unique."""
    if value is None:
        return ()
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise ToolError("tools", value, "use an array of {'type': 'function', 'function': {...}} objects")
    tools = tuple(_tool(item, f"tools[{i}]") for i, item in enumerate(value))
    seen: set[str] = set()
    for i, tool in enumerate(tools):
        if tool.name in seen:
            raise ToolError(f"tools[{i}].function.name", tool.name, "another tool has this name; names must be unique")
        seen.add(tool.name)
    return tools


_MODES = {m.value: m for m in ToolChoiceMode if m is not ToolChoiceMode.NAMED}


def parse_tool_choice(value: Any, tools: Sequence[Tool] = ()) -> ToolChoice:
    """OpenAI's ``tool_choice``; None is ``auto`` with tools and ``none`` without (OpenAI's defaults)."""
    if isinstance(value, ToolChoice):
        choice = value
    elif value is None:
        choice = ToolChoice(ToolChoiceMode.AUTO if tools else ToolChoiceMode.NONE)
    elif isinstance(value, str):
        if value not in _MODES:
            raise ToolError("tool_choice", value, f"use one of {sorted(_MODES)} or {{'type': 'function', ...}}")
        choice = ToolChoice(_MODES[value])
    elif isinstance(value, Mapping):
        function = value.get("function")
        name = function.get("name") if isinstance(function, Mapping) else None
        if value.get("type") != "function" or not isinstance(name, str):
            raise ToolError(
                "tool_choice", value, "use {'type': 'function', 'function': {'name': 'the_tool'}} or a mode string"
            )
        choice = ToolChoice(ToolChoiceMode.NAMED, name)
    else:
        raise ToolError("tool_choice", value, f"use one of {sorted(_MODES)} or {{'type': 'function', ...}}")
    choice.check(tools)
    return choice
