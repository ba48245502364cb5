"""Checking a call that did not come from the call grammar (a cloud's answer) against the tool's schema.

The check is llguidance itself, the engine that holds local calls to the same schema (tool_grammar.py), so a
cloud call is accepted exactly when the local grammar could have produced it: the arguments are written out as
compact JSON with each object's keys in the schema's ``properties`` order (llguidance's JSON grammar emits
properties in that order; JSON objects are unordered, so this changes nothing a schema can see), and the
schema's matcher must consume them and accept.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from .constraints import Constraint, GrammarVocabulary, _llg
from .errors import ToolError
from .tools import Tool, ToolCall, new_call_id

__all__ = ["checked_call", "schema_order"]


def schema_order(value: Any, schema: Any) -> Any:
    """``value`` with object keys in the order of ``schema``'s ``properties`` (then the others), recursively."""
    if not isinstance(schema, Mapping):
        return value
    if isinstance(value, dict):
        found = schema.get("properties")
        properties: Mapping[str, Any] = found if isinstance(found, Mapping) else {}
        ordered = {k: schema_order(value[k], properties[k]) for k in properties if k in value}
        extra = schema.get("additionalProperties")
        ordered.update({k: schema_order(v, extra) for k, v in value.items() if k not in ordered})
        return ordered
    if isinstance(value, list):
        return [schema_order(item, schema.get("items")) for item in value]
    return value


def _accepts(vocabulary: GrammarVocabulary, schema: Mapping[str, Any], text: str) -> bool:
    tokenizer = vocabulary.tokenizer()
    matcher = _llg().LLMatcher(tokenizer, Constraint.json_schema(schema).grammar(), log_level=0)
    return bool(matcher.consume_tokens(tokenizer.tokenize_str(text)) and matcher.is_accepting())


def checked_call(raw: Any, tools: Sequence[Tool], vocabulary: GrammarVocabulary, where: str = "tool call") -> ToolCall:
    """An OpenAI call object (``{"id", "type": "function", "function": {"name", "arguments"}}``) as a
    ``ToolCall``, or ``ToolError`` when it names no known tool or its arguments fail the tool's schema."""
    function = raw.get("function") if isinstance(raw, Mapping) else None
    name = function.get("name") if isinstance(function, Mapping) else None
    by_name = {t.name: t for t in tools}
    if name not in by_name:
        raise ToolError(f"{where}.function.name", name, f"it is not one of the tools ({', '.join(by_name)})")
    assert isinstance(function, Mapping)  # name was found in it
    text = function.get("arguments")
    try:
        arguments = json.loads(text) if isinstance(text, str) else None
    except ValueError:
        arguments = None
    if not isinstance(arguments, dict):
        raise ToolError(f"{where}.function.arguments", text, "the arguments are not a JSON object")
    schema = by_name[name].schema()
    canonical = json.dumps(schema_order(arguments, schema), ensure_ascii=False, separators=(",", ":"))
    if not _accepts(vocabulary, schema, canonical):
        raise ToolError(f"{where}.function.arguments", text, f"they do not follow the parameters schema of {name!r}")
    call_id = raw.get("id") if isinstance(raw.get("id"), str) and raw.get("id") else new_call_id()
    return ToolCall(call_id, name, json.dumps(arguments, ensure_ascii=False, separators=(",", ":")))
