"""The OpenAI wire format (chat completions and legacy completions), as `edgekit serve` speaks it.

Every request field is in exactly one registry below: read and honoured (``_CHAT_FIELDS``),
accepted and ignored because it cannot change this server's answer (``IGNORED_FIELDS``), or
refused with a 400 naming it (``UNSUPPORTED_FIELDS``, and any name in none of them, as OpenAI
itself answers "Unrecognized request argument"). Nothing is dropped silently.

Errors have OpenAI's shape ``{"error": {"message", "type", "param", "code"}}``
(https://platform.openai.com/docs/guides/error-codes), so the official client raises its usual
typed exceptions.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from edgekit.runtime.constraints import Constraint, ConstraintError
from edgekit.runtime.errors import ToolError
from edgekit.runtime.tools import parse_tool_choice, parse_tools

__all__ = [
    "response_format_constraint",
    "ApiError",
    "ChatRequest",
    "CompletionRequest",
    "parse_chat_request",
    "parse_completion_request",
    "completion_body",
    "text_completion_body",
    "chunk_body",
    "tool_call_deltas",
    "text_chunk_body",
    "logprobs_body",
    "error_body",
    "usage",
    "new_id",
    "FINISH_MAP",
    "IGNORED_FIELDS",
    "UNSUPPORTED_FIELDS",
]

# edgekit finish reasons -> OpenAI's
FINISH_MAP = {"eos": "stop", "stop": "stop", "length": "length", "context": "length", "tool_calls": "tool_calls"}

# Sent by OpenAI clients and SDKs for bookkeeping on OpenAI's side (end-user ids, stored completions, billing tier,
# prompt caching); none can change what a local model generates, so they are accepted and ignored.
IGNORED_FIELDS = frozenset({"user", "store", "metadata", "service_tier", "prompt_cache_key", "safety_identifier"})

# Features this server does not have yet: a clear 400 rather than an answer that silently ignores them.
UNSUPPORTED_FIELDS = {
    "functions": "the deprecated functions field is not supported; send tools (type function) instead",
    "function_call": "the deprecated function_call field is not supported; send tool_choice instead",
    "audio": "audio output is not supported by this on-device text model",
    "modalities": "only the text modality is supported by this on-device model",
    "prediction": "predicted outputs are not supported yet by edgekit serve",
    "web_search_options": "web search is not available to an on-device model",
    "reasoning_effort": "this model has no reasoning modes; omit reasoning_effort",
    "echo": "echo is not supported by edgekit serve",
    "best_of": "best_of is not supported by edgekit serve (one sequence per request)",
    "suffix": "suffix (insertion) is not supported by edgekit serve",
}


class ApiError(Exception):
    """An error to send back as an OpenAI-shaped JSON body."""

    def __init__(
        self,
        status: int,
        message: str,
        type_: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
    ):
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type_
        self.param = param
        self.code = code

    def body(self) -> dict[str, Any]:
        return error_body(self.message, self.type, self.param, self.code)


def error_body(message: str, type_: str, param: str | None = None, code: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def _invalid(name: str, value: Any, rule: str) -> ApiError:
    return ApiError(400, f"{name}={value!r} is invalid: {rule}", param=name, code="invalid_value")


@dataclass
class _Parsed:
    """What the field parsers fill in."""

    options: dict[str, Any] = field(default_factory=dict)  # keyword arguments for LocalModel.stream
    stream: bool = False
    include_usage: bool = False
    logprobs: bool = False
    top_logprobs: int = 0  # alternatives per token (chat top_logprobs, legacy logprobs=N)
    tool_choice: Any = None  # read once the tools are known (a named choice must name one)
    response_format: dict[str, Any] | None = None  # as the client sent it (options has its Constraint)


@dataclass
class ChatRequest:
    model: str
    messages: list[dict[str, Any]]
    stream: bool = False
    include_usage: bool = False
    logprobs: bool = False
    options: dict[str, Any] = field(default_factory=dict)
    top_logprobs: int = 0
    response_format: dict[str, Any] | None = None  # as sent (options["constraint"] is what the runtime enforces)


@dataclass
class CompletionRequest:
    model: str
    prompt: str
    stream: bool = False
    include_usage: bool = False
    logprobs: bool = False
    options: dict[str, Any] = field(default_factory=dict)
    top_logprobs: int = 0


# -- field parsers: (value, parsed, name) -> None -------------------------------------------------
def _number(option: str, lo: float, hi: float, lo_open: bool = False, hi_open: bool = False) -> Callable:
    def parse(value: Any, out: _Parsed, name: str) -> None:
        if value is None:
            return
        ok = not isinstance(value, bool) and isinstance(value, (int, float))
        ok = ok and (lo < value if lo_open else lo <= value) and (value < hi if hi_open else value <= hi)
        if not ok:
            bounds = f"{'(' if lo_open else '['}{lo}, {hi}{')' if hi_open else ']'}"
            raise _invalid(name, value, f"use a number in {bounds}")
        out.options[option] = float(value)

    return parse


def _integer(option: str, lo: int, hi: int | None = None) -> Callable:
    def parse(value: Any, out: _Parsed, name: str) -> None:
        if value is None:
            return
        if isinstance(value, bool) or not isinstance(value, int) or value < lo or (hi is not None and value > hi):
            raise _invalid(name, value, f"use an integer >= {lo}" + (f" and <= {hi}" if hi is not None else ""))
        out.options[option] = value

    return parse


def _stop(value: Any, out: _Parsed, name: str) -> None:
    if value is None:
        return
    stops = [value] if isinstance(value, str) else value
    if not isinstance(stops, list) or not all(isinstance(s, str) for s in stops) or len(stops) > 4:
        raise _invalid(name, value, "use a string or an array of up to 4 strings")
    out.options["stop"] = stops


def _bool_into(attr: str) -> Callable:
    def parse(value: Any, out: _Parsed, name: str) -> None:
        if value is None:
            return
        if not isinstance(value, bool):
            raise _invalid(name, value, "use true or false")
        setattr(out, attr, value)

    return parse


def _stream_options(value: Any, out: _Parsed, name: str) -> None:
    if value is None:
        return
    if not isinstance(value, dict):
        raise _invalid(name, value, "use an object like {'include_usage': true}")
    include = value.get("include_usage", False)
    if not isinstance(include, bool):
        raise _invalid(f"{name}.include_usage", include, "use true or false")
    out.include_usage = include


def _n(value: Any, out: _Parsed, name: str) -> None:
    if value not in (1, None) or isinstance(value, bool):
        raise ApiError(400, f"n={value!r}: this server returns one choice (n=1)", param=name, code="invalid_value")


def _logit_bias(value: Any, out: _Parsed, name: str) -> None:
    """OpenAI's map of token id (a JSON object key, so a string) to a bias in [-100, 100] added to its logit.

    Ids outside the model's vocabulary are refused by the runtime (it knows the vocabulary), also as a 400.
    """
    if value is None:
        return
    if not isinstance(value, dict):
        raise _invalid(name, value, "use an object mapping token ids to a bias in [-100, 100]")
    bias: dict[int, float] = {}
    for key, b in value.items():
        if not (isinstance(key, str) and key.isascii() and key.isdigit()):
            raise ApiError(
                400,
                f"{name} key {key!r} is invalid: use a token id (a non-negative integer, as a string)",
                param=name,
                code="invalid_value",
            )
        if isinstance(b, bool) or not isinstance(b, (int, float)) or not -100 <= b <= 100:
            raise ApiError(
                400, f"{name}[{key!r}]={b!r} is invalid: use a bias in [-100, 100]", param=name, code="invalid_value"
            )
        bias[int(key)] = float(b)
    if bias:
        out.options["logit_bias"] = bias


def _top_logprobs(value: Any, out: _Parsed, name: str) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 20:
        raise _invalid(name, value, "use an integer in [0, 20]")
    out.top_logprobs = value
    if value:
        out.options["top_logprobs"] = value


def _legacy_logprobs(value: Any, out: _Parsed, name: str) -> None:
    """/v1/completions: ``logprobs`` is an integer (how many top alternatives, 0 = the chosen token only)."""
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 5:
        raise _invalid(name, value, "use an integer in [0, 5]")
    out.logprobs = True
    out.top_logprobs = value
    if value:
        out.options["top_logprobs"] = value


# OpenAI's rule for response_format.json_schema.name ("a-z, A-Z, 0-9, or contain underscores and dashes, with a
# maximum length of 64", API reference: chat/create)
_SCHEMA_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")


def _format_error(where: str, value: Any, rule: str) -> ApiError:
    # param is the top-level field, as OpenAI names response_format in its schema errors; the message has the path
    return ApiError(400, f"{where}={value!r} is invalid: {rule}", param="response_format", code="invalid_value")


def _format_keys(value: dict, allowed: set[str], where: str, name: str) -> None:
    extra = sorted(set(value) - allowed)
    if extra:
        raise ApiError(
            400,
            f"{where}: unrecognized key {extra[0]!r}; it takes {sorted(allowed)}",
            param=name,
            code="invalid_value",
        )


def _text_format(value: dict, name: str) -> Constraint | None:
    _format_keys(value, {"type"}, name, name)
    return None


def _json_object_format(value: dict, name: str) -> Constraint | None:
    _format_keys(value, {"type"}, name, name)
    return Constraint.json_object()


def _json_schema_format(value: dict, name: str) -> Constraint | None:
    """OpenAI's ``{"type": "json_schema", "json_schema": {"name", "description", "schema", "strict"}}``.

    The schema is always enforced (as vLLM does), whatever ``strict`` says; a missing schema accepts any JSON
    value (the API reference marks ``schema`` optional).
    """
    _format_keys(value, {"type", "json_schema"}, name, name)
    spec = value.get("json_schema")
    where = f"{name}.json_schema"
    if not isinstance(spec, dict):
        raise ApiError(
            400,
            f"{where} is required with type 'json_schema': an object like {{'name': 'answer', 'schema': {{...}}}}",
            param=name,
            code="invalid_value" if spec is not None else "missing_required_parameter",
        )
    _format_keys(spec, {"name", "description", "schema", "strict"}, where, name)
    schema_name = spec.get("name")
    if not isinstance(schema_name, str) or not _SCHEMA_NAME.fullmatch(schema_name):
        raise _format_error(f"{where}.name", schema_name, "use 1 to 64 of a-z, A-Z, 0-9, '_' and '-'")
    if not isinstance(spec.get("description", ""), str):
        raise _format_error(f"{where}.description", spec["description"], "use a string")
    if spec.get("strict") is not None and not isinstance(spec["strict"], bool):
        raise _format_error(f"{where}.strict", spec["strict"], "use true or false")
    schema = spec.get("schema", {})
    if not isinstance(schema, dict):
        raise _format_error(f"{where}.schema", schema, "use a JSON Schema object")
    try:
        return Constraint.json_schema(schema)
    except ConstraintError as exc:
        raise ApiError(400, f"{where}.schema is invalid: {exc.detail}", param=name, code="invalid_value") from None


_RESPONSE_FORMATS: dict[str, Callable[[dict, str], Constraint | None]] = {
    "text": _text_format,
    "json_object": _json_object_format,
    "json_schema": _json_schema_format,
}


def _response_format(value: Any, out: _Parsed, name: str) -> None:
    """Structured output: json_object / json_schema become a runtime ``Constraint`` (llguidance enforces it while
    decoding). A schema llguidance refuses is a 400 naming ``response_format`` too, raised by the runtime before
    any compute (handler.py maps its ``ConstraintError``)."""
    if value is None:
        return
    constraint = response_format_constraint(value, name)
    out.response_format = value  # as sent: a hybrid server passes it to the cloud unchanged
    if constraint is not None:
        out.options["constraint"] = constraint


def response_format_constraint(value: Any, name: str = "response_format") -> Constraint | None:
    """The runtime ``Constraint`` of an OpenAI ``response_format`` (None for ``{"type": "text"}``); a malformed one
    is an ``ApiError`` naming the field."""
    if not isinstance(value, dict) or not isinstance(value.get("type"), str) or value["type"] not in _RESPONSE_FORMATS:
        raise _invalid(name, value, f"use an object whose type is one of {sorted(_RESPONSE_FORMATS)}")
    return _RESPONSE_FORMATS[value["type"]](value, name)


def _modalities(value: Any, out: _Parsed, name: str) -> None:
    if value is None or value == ["text"]:
        return
    raise ApiError(400, f"{name}={value!r}: {UNSUPPORTED_FIELDS[name]}", param=name, code="unsupported_parameter")


def _tool_error(exc: ToolError) -> ApiError:
    return ApiError(400, str(exc), param=exc.field, code="invalid_value")


def _tools(value: Any, out: _Parsed, name: str) -> None:
    """OpenAI's tools array, typed by the runtime (tools.py); the runtime builds the call grammar from it."""
    if value is None:
        return
    try:
        out.options["tools"] = parse_tools(value)
    except ToolError as exc:
        raise _tool_error(exc) from None


def _tool_choice(value: Any, out: _Parsed, name: str) -> None:
    out.tool_choice = value


def _parallel_tool_calls(value: Any, out: _Parsed, name: str) -> None:
    if value is None:
        return
    if not isinstance(value, bool):
        raise _invalid(name, value, "use true or false")
    out.options["parallel_tool_calls"] = value


# fields both endpoints read
_COMMON_FIELDS: dict[str, Callable] = {
    "max_tokens": _integer("max_new_tokens", 1),
    "temperature": _number("temperature", 0.0, 2.0),
    "top_p": _number("top_p", 0.0, 1.0, lo_open=True),
    # sampling extensions that vLLM and llama.cpp servers accept too; the runtime sampler has them
    "top_k": _integer("top_k", 0),
    "min_p": _number("min_p", 0.0, 1.0, hi_open=True),
    "repetition_penalty": _number("repetition_penalty", 0.0, 10.0, lo_open=True),
    "seed": _integer("seed", 0, 2**63 - 1),
    "stop": _stop,
    "stream": _bool_into("stream"),
    "stream_options": _stream_options,
    "n": _n,
    # OpenAI's penalties on the counts of generated tokens (the runtime sampler applies them)
    "frequency_penalty": _number("frequency_penalty", -2.0, 2.0),
    "presence_penalty": _number("presence_penalty", -2.0, 2.0),
    "logit_bias": _logit_bias,
}

_CHAT_FIELDS: dict[str, Callable] = {
    **_COMMON_FIELDS,
    "max_completion_tokens": _integer("max_new_tokens", 1),
    "logprobs": _bool_into("logprobs"),
    "top_logprobs": _top_logprobs,
    "response_format": _response_format,
    "modalities": _modalities,
    "tools": _tools,
    "tool_choice": _tool_choice,
    "parallel_tool_calls": _parallel_tool_calls,
}

# response_format on /v1/completions too, as vLLM's server accepts it (OpenAI's legacy endpoint has none)
_COMPLETION_FIELDS: dict[str, Callable] = {
    **_COMMON_FIELDS,
    "logprobs": _legacy_logprobs,
    "response_format": _response_format,
}


def _read_fields(data: dict, known: dict[str, Callable], required: tuple[str, ...]) -> _Parsed:
    out = _Parsed()
    for name, value in data.items():
        if name in required or name in IGNORED_FIELDS:
            continue
        parser = known.get(name)
        if parser is not None:
            parser(value, out, name)
        elif name in UNSUPPORTED_FIELDS:
            if value is None:
                continue
            raise ApiError(400, f"{name}: {UNSUPPORTED_FIELDS[name]}", param=name, code="unsupported_parameter")
        else:
            supported = sorted({*known, *required})
            raise ApiError(
                400,
                f"unrecognized request argument supplied: {name!r}; this server reads {supported} "
                f"and ignores {sorted(IGNORED_FIELDS)}",
                param=name,
                code="unknown_parameter",
            )
    return out


def _model(data: dict, served_model: str) -> str:
    model = data.get("model")
    if not isinstance(model, str) or not model:
        raise ApiError(400, "you must provide a model parameter", param="model", code="missing_required_parameter")
    if model != served_model:
        raise ApiError(
            404,
            f"the model {model!r} does not exist on this server; it serves {served_model!r}",
            param="model",
            code="model_not_found",
        )
    return model


# -- messages ------------------------------------------------------------------------------------
_ROLES = ("system", "developer", "user", "assistant", "tool")
_ROLE_MAP = {"developer": "system"}  # OpenAI's newer name for the system role


def _content_text(content: Any, where: str) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # [{"type": "text", "text": ...}, ...]
        parts = []
        for part in content:
            if isinstance(part, dict) and part.get("type") == "text" and isinstance(part.get("text"), str):
                parts.append(part["text"])
            else:
                raise ApiError(
                    400,
                    f"{where}.content: only text parts are supported by this on-device model",
                    param=f"{where}.content",
                    code="invalid_value",
                )
        return "".join(parts)
    if content is None:
        return ""
    raise ApiError(400, f"{where}.content must be a string or a list of text parts", param=f"{where}.content")


def _messages(data: dict) -> list[dict[str, Any]]:
    messages = data.get("messages")
    if not isinstance(messages, list) or not messages:
        raise ApiError(
            400,
            "messages must be a non-empty array of {role, content} objects",
            param="messages",
            code="missing_required_parameter" if messages is None else "invalid_value",
        )
    clean = []
    for i, message in enumerate(messages):
        where = f"messages[{i}]"
        if not isinstance(message, dict) or message.get("role") not in _ROLES:
            raise ApiError(
                400, f"{where}.role must be one of {list(_ROLES)}", param=f"{where}.role", code="invalid_value"
            )
        role = _ROLE_MAP.get(message["role"], message["role"])
        entry: dict[str, Any] = {"role": role, "content": _content_text(message.get("content"), where)}
        if message.get("tool_calls"):  # an earlier answer's calls; the runtime checks each (a 400 naming it)
            if role != "assistant" or not isinstance(message["tool_calls"], list):
                raise ApiError(
                    400,
                    f"{where}.tool_calls: only an assistant message has tool_calls, an array of calls",
                    param=f"{where}.tool_calls",
                    code="invalid_value",
                )
            entry["tool_calls"] = message["tool_calls"]
        for key in ("name", "tool_call_id"):  # templates that know tool turns read these (transformers' convention)
            if isinstance(message.get(key), str):
                entry[key] = message[key]
        clean.append(entry)
    return clean


def parse_chat_request(data: Any, served_model: str) -> ChatRequest:
    if not isinstance(data, dict):
        raise ApiError(400, "request body must be a JSON object")
    model = _model(data, served_model)
    messages = _messages(data)
    parsed = _read_fields(data, _CHAT_FIELDS, ("model", "messages"))
    if parsed.tool_choice is not None or "tools" in parsed.options:
        try:
            parsed.options["tool_choice"] = parse_tool_choice(parsed.tool_choice, parsed.options.get("tools", ()))
        except ToolError as exc:
            raise _tool_error(exc) from None
    if parsed.top_logprobs and not parsed.logprobs:
        # OpenAI: "logprobs must be set to true if this parameter is used"; without it the alternatives would
        # be computed and dropped
        raise ApiError(
            400,
            f"top_logprobs={parsed.top_logprobs} needs logprobs=true; send both or omit top_logprobs",
            param="top_logprobs",
            code="invalid_value",
        )
    return ChatRequest(
        model,
        messages,
        parsed.stream,
        parsed.include_usage,
        parsed.logprobs,
        parsed.options,
        top_logprobs=parsed.top_logprobs,
        response_format=parsed.response_format,
    )


def parse_completion_request(data: Any, served_model: str) -> CompletionRequest:
    if not isinstance(data, dict):
        raise ApiError(400, "request body must be a JSON object")
    model = _model(data, served_model)
    prompt = data.get("prompt")
    if isinstance(prompt, list) and len(prompt) == 1 and isinstance(prompt[0], str):
        prompt = prompt[0]
    if not isinstance(prompt, str) or not prompt:
        raise ApiError(
            400,
            "prompt must be a non-empty string (one prompt per request)",
            param="prompt",
            code="missing_required_parameter" if prompt is None else "invalid_value",
        )
    parsed = _read_fields(data, _COMPLETION_FIELDS, ("model", "prompt"))
    return CompletionRequest(
        model,
        prompt,
        parsed.stream,
        parsed.include_usage,
        parsed.logprobs,
        parsed.options,
        top_logprobs=parsed.top_logprobs,
    )


# -- responses -----------------------------------------------------------------------------------
def new_id(prefix: str = "chatcmpl-") -> str:
    return prefix + uuid.uuid4().hex[:24]


def usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


def logprobs_body(tokens: list[Any]) -> dict[str, Any]:
    """Chat ``choices[].logprobs`` for runtime TokenInfo objects.

    Every number is the log-softmax of the raw logits (nats), the one the runtime reports as per-token
    confidence: before logit bias, penalties, temperature and truncation. ``top_logprobs`` lists the runtime's
    most likely alternatives (``TokenInfo.top_logprobs``; empty when none were asked for), best first.
    """
    return {
        "content": [
            {
                "token": t.text,
                "logprob": t.logprob,
                "bytes": list(t.text.encode("utf-8")),
                "top_logprobs": [
                    {"token": a.text, "logprob": a.logprob, "bytes": list(a.utf8)} for a in t.top_logprobs
                ],
            }
            for t in tokens
        ]
    }


def _legacy_top(token: Any) -> dict[str, float]:
    """Legacy ``top_logprobs`` entry: text -> logprob, best first (two ids with the same text keep the better)."""
    top: dict[str, float] = {}
    for a in token.top_logprobs:
        top.setdefault(a.text, a.logprob)
    return top


def _legacy_logprobs_body(tokens: list[Any], offset: int = 0, alternatives: bool = False) -> dict[str, Any]:
    offsets, at = [], offset
    for t in tokens:
        offsets.append(at)
        at += len(t.text)
    return {
        "tokens": [t.text for t in tokens],
        "token_logprobs": [t.logprob for t in tokens],
        "top_logprobs": [_legacy_top(t) for t in tokens] if alternatives else None,
        "text_offset": offsets,
    }


def completion_body(
    cid: str,
    model: str,
    text: str,
    finish: str,
    prompt_tokens: int,
    completion_tokens: int,
    extra: dict[str, Any] | None = None,
    tokens: list[Any] | None = None,
    tool_calls: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": text}
    if tool_calls:  # OpenAI's shape: content null, the calls with id, type "function", function name/arguments
        message = {"role": "assistant", "content": None, "tool_calls": tool_calls}
    choice = {
        "index": 0,
        "message": message,
        "logprobs": logprobs_body(tokens) if tokens is not None else None,
        "finish_reason": finish,
    }
    body = {
        "id": cid,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [choice],
        "usage": usage(prompt_tokens, completion_tokens),
    }
    if extra:
        body["edgekit"] = extra  # extension field; OpenAI clients ignore unknown keys
    return body


def text_completion_body(
    cid: str,
    model: str,
    text: str,
    finish: str,
    prompt_tokens: int,
    completion_tokens: int,
    extra: dict[str, Any] | None = None,
    tokens: list[Any] | None = None,
    alternatives: bool = False,
) -> dict[str, Any]:
    choice = {
        "index": 0,
        "text": text,
        "logprobs": _legacy_logprobs_body(tokens, 0, alternatives) if tokens is not None else None,
        "finish_reason": finish,
    }
    body = {
        "id": cid,
        "object": "text_completion",
        "created": int(time.time()),
        "model": model,
        "choices": [choice],
        "usage": usage(prompt_tokens, completion_tokens),
    }
    if extra:
        body["edgekit"] = extra
    return body


def tool_call_deltas(calls: Any) -> list[dict[str, Any]]:
    """OpenAI's streamed calls: per call, a delta with index, id, type and name, then one with the arguments."""
    deltas: list[dict[str, Any]] = []
    for index, call in enumerate(calls):
        head = {"index": index, "id": call.id, "type": "function", "function": {"name": call.name, "arguments": ""}}
        deltas += [head, {"index": index, "function": {"arguments": call.arguments}}]
    return deltas


def chunk_body(
    cid: str,
    model: str,
    created: int,
    delta: dict[str, Any] | None,
    finish: str | None,
    usage_: dict[str, int] | None = None,
    tokens: list[Any] | None = None,
) -> dict[str, Any]:
    choices = (
        []
        if delta is None
        else [
            {
                "index": 0,
                "delta": delta,
                "logprobs": logprobs_body(tokens) if tokens is not None else None,
                "finish_reason": finish,
            }
        ]
    )
    body = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": model, "choices": choices}
    if usage_ is not None:
        body["usage"] = usage_
    return body


def text_chunk_body(
    cid: str,
    model: str,
    created: int,
    text: str | None,
    finish: str | None,
    usage_: dict[str, int] | None = None,
    tokens: list[Any] | None = None,
    offset: int = 0,
    alternatives: bool = False,
) -> dict[str, Any]:
    choices = (
        []
        if text is None
        else [
            {
                "index": 0,
                "text": text,
                "logprobs": _legacy_logprobs_body(tokens, offset, alternatives) if tokens is not None else None,
                "finish_reason": finish,
            }
        ]
    )
    body = {"id": cid, "object": "text_completion", "created": created, "model": model, "choices": choices}
    if usage_ is not None:
        body["usage"] = usage_
    return body
