"""A bounded, seeded fuzz of `edgekit serve`: 300 random or mutated requests (JSON bodies, bytes, headers,
methods, paths) over raw sockets to a real server on 127.0.0.1. Every request gets an HTTP reply (a JSON
error in the OpenAI shape, or a success), nothing is logged with a traceback, and the server still answers
at the end. A failure prints the seed and case number to replay."""

from __future__ import annotations

import json
import logging
import random
import time

import httpx
import pytest
from edgekit.sdk.serve import serve_in_thread

from tests.sdk.serve_support import raw_request

SEED = 20261202
CASES = 300

_FIELDS = [
    "model",
    "messages",
    "max_tokens",
    "max_completion_tokens",
    "temperature",
    "top_p",
    "top_k",
    "min_p",
    "repetition_penalty",
    "seed",
    "stop",
    "stream",
    "stream_options",
    "n",
    "logprobs",
    "top_logprobs",
    "frequency_penalty",
    "presence_penalty",
    "logit_bias",
    "tools",
    "response_format",
    "user",
    "prompt",
    "tool_choice",
    "modalities",
]
_PATHS = [
    "/v1/chat/completions",
    "/v1/completions",
    "/v1/models",
    "/v1/models/x",
    "/health",
    "/metrics",
    "/",
    "/index.html",
    "/bundle/edgekit.json",
    "/policy.json",
    "/v1/",
    "/%00",
    "/..%2f..%2fetc/passwd",
    "//v1/models",
    "/v1/chat/completions?x=1",
    "/\u00e9",
]
_METHODS = ["GET", "GET", "HEAD", "OPTIONS", "PUT", "DELETE", "PATCH", "BREW", "G\u00c9T"]


def _value(rng: random.Random, depth: int = 0):
    kind = rng.randrange(12 if depth < 3 else 8)
    if kind == 0:
        return None
    if kind == 1:
        return rng.choice([True, False])
    if kind == 2:
        return rng.choice([0, 1, 2, -1, 5, 2**63, -(2**70), 10**400 if rng.random() < 0.1 else 3])
    if kind == 3:
        return rng.choice([0.0, 0.5, 1.0, -0.1, 2.5, 1e308, float("inf")])
    if kind == 4:
        return rng.choice(["", "x", "user", "assistant", "tool", "\ud83d", "\u0000", "a" * 5000, "\u00e9\u4e2d"])
    if kind in (5, 6, 7):
        return rng.choice(["hi", "What is 2+2?", "stop", "\n"])
    if kind in (8, 9):
        return [_value(rng, depth + 1) for _ in range(rng.randrange(4))]
    return {
        rng.choice(_FIELDS + ["role", "content", "type", "text"]): _value(rng, depth + 1)
        for _ in range(rng.randrange(4))
    }


def _body(rng: random.Random, model_id: str) -> bytes:
    body = {"model": model_id, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2}
    if rng.random() < 0.3:
        body = {"model": model_id, "prompt": "Once", "max_tokens": 2}
    for _ in range(rng.randrange(4)):
        op = rng.randrange(5)
        if op == 0 and body:
            body.pop(rng.choice(list(body)))
        elif op == 1:
            name = rng.choice(_FIELDS)
            body[name] = _value(rng)
            if name in ("max_tokens", "max_completion_tokens") and isinstance(body[name], int):
                body[name] = max(-1, min(body[name], 4))  # bounded generations keep the run short
        elif op == 2:
            body["messages"] = [{"role": _value(rng), "content": _value(rng)} for _ in range(rng.randrange(3))]
        elif op == 3:
            body[f"x_{rng.randrange(100)}"] = _value(rng)
        else:
            body["stream"] = rng.choice([True, False, "yes"])
    try:
        raw = json.dumps(body, allow_nan=True).encode("utf-8", "surrogatepass")
    except (ValueError, OverflowError):
        raw = b"{}"
    mutation = rng.randrange(10)
    if mutation == 0 and raw:
        raw = raw[: rng.randrange(len(raw))]
    elif mutation == 1 and raw:
        i = rng.randrange(len(raw))
        raw = raw[:i] + bytes([rng.randrange(256)]) + raw[i + 1 :]
    elif mutation == 2:
        raw = b"[" * rng.choice([10, 5000, 100_000]) + b"]" * rng.choice([0, 10, 100_000])
    elif mutation == 3:
        raw = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 300)))
    return raw


def _request(rng: random.Random, model_id: str, port: int) -> bytes:
    method = "POST" if rng.random() < 0.6 else rng.choice(_METHODS)
    if method == "POST" and rng.random() < 0.8:
        path = rng.choice(["/v1/chat/completions", "/v1/completions"])
    else:
        path = rng.choice(_PATHS)
    body = _body(rng, model_id) if method in ("POST", "PUT", "PATCH") or rng.random() < 0.1 else b""
    headers = {"Host": f"127.0.0.1:{port}", "Content-Type": "application/json", "Content-Length": str(len(body))}
    for _ in range(rng.randrange(3)):
        name = rng.choice(
            [
                "Host",
                "Origin",
                "Authorization",
                "Content-Length",
                "Content-Type",
                "Transfer-Encoding",
                "X-Junk",
                "Connection",
            ]
        )
        headers[name] = rng.choice(
            [
                "",
                "evil.example",
                "http://localhost:1",
                "null",
                "Bearer x",
                "-1",
                "abc",
                str(len(body) + rng.choice([-1, 1, 1000])),
                "chunked",
                "keep-alive",
                "\u00ff" * 9,
                "x" * 9000,
                "127.0.0.1",
            ]
        )
    if rng.random() < 0.05:
        headers.pop("Host", None)
    head = f"{method} {path} HTTP/1.{rng.choice([0, 1])}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    return head.encode("utf-8", "surrogatepass") + b"\r\n" + body


@pytest.fixture(scope="module")
def server(tiny_local):
    with serve_in_thread(tiny_local, idle_timeout=0.5, workers=4) as srv:
        yield srv


def test_fuzzed_requests_all_get_a_reply_and_the_server_survives(server, caplog):
    caplog.set_level(logging.INFO, logger="edgekit.sdk.serve")
    rng = random.Random(SEED)
    port = server.server_address[1]
    started = time.monotonic()
    statuses: dict[int, int] = {}
    for case in range(CASES):
        data = _request(rng, server.options.model_id, port)
        reply = raw_request(server.url, data, timeout=15)
        where = f"seed {SEED} case {case}: {data[:200]!r}"
        assert reply.status != 0, f"no HTTP reply; {where}"
        statuses[reply.status] = statuses.get(reply.status, 0) + 1
        head_only = data.startswith(b"HEAD ") or reply.status in (204, 304)
        ctype = reply.headers.get("content-type", "")
        if reply.status >= 400:
            assert ctype == "application/json", where
            if not head_only:
                err = json.loads(reply.body)["error"]
                assert set(err) == {"message", "type", "param", "code"}, where
        elif ctype == "application/json" and not head_only:
            json.loads(reply.body)
        elif ctype.startswith("text/event-stream"):
            assert reply.body.startswith(b"data: "), where
    elapsed = time.monotonic() - started
    assert httpx.get(server.url + "/health", timeout=10).status_code == 200
    tracebacks = [r.getMessage() for r in caplog.records if r.exc_info]
    assert not tracebacks, tracebacks[:3]
    assert elapsed < 60, f"{CASES} cases took {elapsed:.0f} s"
    assert len(statuses) >= 6 and 200 in statuses, statuses  # the fuzz reached many code paths
    print(f"\n{CASES} fuzz cases in {elapsed:.1f} s; statuses {dict(sorted(statuses.items()))}")
