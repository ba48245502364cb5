"""Helpers for the sdk tests: OpenAI-shaped bodies and an httpx MockTransport factory.

MockTransport is used only to inject cloud faults (team rule); the integration
tests run real servers on 127.0.0.1.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest

SECRET = "sk-test-SECRET-0123456789abcdef"
KEY_ENV = "EDGEKIT_TEST_CLOUD_KEY"


def completion_body(text: str, finish: str = "stop", usage: bool = True) -> dict:
    body = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 0,
        "model": "cloud-model",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish}],
    }
    if usage:
        body["usage"] = {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}
    return body


def sse_body(pieces: list[str], done: bool = True, finish: bool = True) -> bytes:
    out = []
    for piece in pieces:
        event = {
            "object": "chat.completion.chunk",
            "model": "cloud-model",
            "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}],
        }
        out.append(f"data: {json.dumps(event)}\n\n")
    if finish:
        event = {
            "object": "chat.completion.chunk",
            "model": "cloud-model",
            "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
        }
        out.append(f"data: {json.dumps(event)}\n\n")
        out.append(
            'data: {"object": "chat.completion.chunk", "choices": [], "usage": '
            '{"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8}}\n\n'
        )
    if done:
        out.append("data: [DONE]\n\n")
    return "".join(out).encode()


class Recorder:
    """A MockTransport handler that replays a script of responses and records requests."""

    def __init__(self, script: list[Callable[[httpx.Request], httpx.Response] | httpx.Response]):
        self.script = list(script)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        step = self.script.pop(0) if len(self.script) > 1 else self.script[0]
        return step(request) if callable(step) else step

    @property
    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self)


@pytest.fixture
def api_key(monkeypatch) -> str:
    monkeypatch.setenv(KEY_ENV, SECRET)
    return SECRET


def _bundle_from_pipeline(request, name: str, recipe: str):
    """The shared session fixture (tests/fixtures): tiny_bundle(recipe) / default_bundle(recipe)."""
    try:
        value = request.getfixturevalue(name)
    except pytest.FixtureLookupError:
        return None
    return value(recipe) if callable(value) else value


@pytest.fixture(scope="session")
def tiny_local(request):
    """A loaded tiny real model (random weights, real tokenizer and chat template)."""
    import os

    from edgekit.runtime import load

    path = _bundle_from_pipeline(request, "tiny_bundle", "int8") or os.environ.get("EDGEKIT_TEST_TINY_BUNDLE")
    if not path:
        from tests.fixtures.require import skip_or_fail

        skip_or_fail(
            "no tiny bundle: tests/fixtures tiny_bundle is not registered, EDGEKIT_TEST_TINY_BUNDLE unset",
            "register tiny_bundle in tests/conftest.py or set EDGEKIT_TEST_TINY_BUNDLE=<bundle folder>",
        )
    model = load(path)
    model.bundle_dir = path
    yield model
    model.close()


@pytest.fixture(scope="module")
def cloud_model(tiny_bundle):
    """The cloud side's model: the tiny fp32 bundle, a different one from ``tiny_local``'s int8."""
    from edgekit.runtime import load

    with load(tiny_bundle("fp32")) as model:
        yield model


@pytest.fixture(scope="module")
def cloud_server(cloud_model):
    """A real `edgekit serve` of ``cloud_model`` on 127.0.0.1, model id ``cloud-tiny``."""
    from edgekit.sdk.serve import serve_in_thread

    with serve_in_thread(cloud_model, model_id="cloud-tiny") as server:
        yield server
