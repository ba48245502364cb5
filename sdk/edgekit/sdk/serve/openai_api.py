"""The OpenAI chat-completions wire format, as `edgekit serve` speaks it.

Request fields read: model, messages, max_tokens / max_completion_tokens,
temperature, top_p, stop, seed, stream, stream_options.include_usage, n (only 1).
Errors have OpenAI's shape ``{"error": {"message", "type", "param", "code"}}``
(https://platform.openai.com/docs/guides/error-codes), so the official client
raises its usual typed exceptions.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ApiError", "ChatRequest", "parse_chat_request", "completion_body", "chunk_body", "error_body", "FINISH_MAP"]

# edgekit finish reasons -> OpenAI's
FINISH_MAP = {"eos": "stop", "stop": "stop", "length": "length", "context": "length"}


class ApiError(Exception):
    """An error to send back as an OpenAI-shaped JSON body."""

    def __init__(self, status: int, message: str, type_: str = "invalid_request_error", param: str | None = None, code: str | None = None):
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


@dataclass
class ChatRequest:
    model: str
    messages: list[dict[str, str]]
    stream: bool = False
    include_usage: bool = False
    options: dict[str, Any] = field(default_factory=dict)  # keyword arguments for LocalModel.generate


_ROLES = {"system", "user", "assistant", "developer"}


def _number(data: dict, name: str, lo: float, hi: float) -> float | None:
    value = data.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not lo <= value <= hi:
        raise ApiError(400, f"{name}={value!r} must be a number in [{lo}, {hi}]", param=name, code="invalid_value")
    return float(value)


def _content_text(content: Any, index: int) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # [{"type": "text", "text": ...}, ...]
        parts = []
        for part in content:
            if isinstance(part, dict) and part.get("type") == "text" and isinstance(part.get("text"), str):
                parts.append(part["text"])
            else:
                raise ApiError(400, f"messages[{index}].content: only text parts are supported by this on-device model",
                               param=f"messages[{index}].content", code="invalid_value")
        return "".join(parts)
    if content is None:
        return ""
    raise ApiError(400, f"messages[{index}].content must be a string or a list of text parts", param=f"messages[{index}].content")


def parse_chat_request(data: Any, served_model: str) -> ChatRequest:
    if not isinstance(data, dict):
        raise ApiError(400, "request body must be a JSON object")
    model = data.get("model")
    if not isinstance(model, str) or not model:
        raise ApiError(400, "you must provide a model parameter", param="model", code="missing_required_parameter")
    if model != served_model:
        raise ApiError(404, f"the model {model!r} does not exist on this server; it serves {served_model!r}",
                       param="model", code="model_not_found")
    messages = data.get("messages")
    if not isinstance(messages, list) or not messages:
        raise ApiError(400, "messages must be a non-empty array of {role, content} objects", param="messages",
                       code="missing_required_parameter" if messages is None else "invalid_value")
    clean = []
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in _ROLES:
            raise ApiError(400, f"messages[{i}].role must be one of {sorted(_ROLES)}", param=f"messages[{i}].role", code="invalid_value")
        role = "system" if message["role"] == "developer" else message["role"]
        clean.append({"role": role, "content": _content_text(message.get("content"), i)})
    n = data.get("n", 1)
    if n not in (1, None):
        raise ApiError(400, f"n={n!r}: this server returns one choice (n=1)", param="n", code="invalid_value")
    options: dict[str, Any] = {}
    max_tokens = data.get("max_completion_tokens", data.get("max_tokens"))
    if max_tokens is not None:
        if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
            raise ApiError(400, f"max_tokens={max_tokens!r} must be an integer >= 1", param="max_tokens", code="invalid_value")
        options["max_new_tokens"] = max_tokens
    temperature = _number(data, "temperature", 0.0, 2.0)
    if temperature is not None:
        options["temperature"] = temperature
    top_p = _number(data, "top_p", 0.0, 1.0)
    if top_p is not None:
        options["top_p"] = top_p
    seed = data.get("seed")
    if seed is not None:
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ApiError(400, f"seed={seed!r} must be an integer", param="seed", code="invalid_value")
        options["seed"] = seed
    stop = data.get("stop")
    if stop is not None:
        if isinstance(stop, str):
            stop = [stop]
        if not isinstance(stop, list) or not all(isinstance(s, str) for s in stop) or len(stop) > 4:
            raise ApiError(400, "stop must be a string or an array of up to 4 strings", param="stop", code="invalid_value")
        options["stop"] = stop
    stream = data.get("stream", False)
    if not isinstance(stream, bool):
        raise ApiError(400, f"stream={stream!r} must be true or false", param="stream", code="invalid_value")
    stream_options = data.get("stream_options") or {}
    include_usage = bool(isinstance(stream_options, dict) and stream_options.get("include_usage"))
    return ChatRequest(model=model, messages=clean, stream=stream, include_usage=include_usage, options=options)


def new_id() -> str:
    return "chatcmpl-" + uuid.uuid4().hex[:24]


def usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens, "total_tokens": prompt_tokens + completion_tokens}


def completion_body(cid: str, model: str, text: str, finish: str, prompt_tokens: int, completion_tokens: int,
                    extra: dict[str, Any] | None = None) -> dict[str, Any]:
    body = {
        "id": cid,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "logprobs": None, "finish_reason": finish}],
        "usage": usage(prompt_tokens, completion_tokens),
    }
    if extra:
        body["edgekit"] = extra  # extension field; OpenAI clients ignore unknown keys
    return body


def chunk_body(cid: str, model: str, created: int, delta: dict[str, Any] | None, finish: str | None,
               usage_: dict[str, int] | None = None) -> dict[str, Any]:
    choices = [] if delta is None else [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]
    body = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": model, "choices": choices}
    if usage_ is not None:
        body["usage"] = usage_
    return body
