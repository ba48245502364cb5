"""HybridClient with tools: they go to the cloud unchanged on escalation; a cloud call is checked against the
tool's schema and one that fails it is never returned (the local answer stands in, error_kind "protocol").

Clouds on 127.0.0.1: `edgekit serve` over a toy bundle scripted to answer a set_timer call (through its own call
grammar), and a canned OpenAI-shaped server whose calls break the schema (plain JSON and SSE).
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from edgekit.runtime import load
from edgekit.runtime.tool_grammar import call_text
from edgekit.sdk import CloudConfig, HybridClient, Policy
from edgekit.sdk.hybrid_answer import EventKind, Route
from edgekit.sdk.policy.base import BASE_FAMILIES
from edgekit.sdk.policy.policy import RouterRule
from edgekit.sdk.serve import serve_in_thread

from tests.runtime.toy_bundle import IM_END, build_toy_bundle, encode_bytes, script_table

MAX_CONTEXT = 2048
TO_CLOUD = Policy(families=BASE_FAMILIES, router_rules=(RouterRule("all", "min_chars", value=0),), post_models={})
MSGS = [{"role": "user", "content": "Set a timer for 5 minutes."}]
TIMER = {
    "type": "function",
    "function": {
        "name": "set_timer",
        "parameters": {
            "type": "object",
            "properties": {"minutes": {"type": "integer", "minimum": 1, "maximum": 120}},
            "required": ["minutes"],
            "additionalProperties": False,
        },
    },
}
TOOLS = [TIMER]
ASK = {"tools": TOOLS, "tool_choice": "required", "temperature": 1.0, "seed": 3, "max_new_tokens": 200}


@pytest.fixture(scope="module")
def local(tmp_path_factory):
    model = load(build_toy_bundle(tmp_path_factory.mktemp("hybrid-tools-local"), max_context=MAX_CONTEXT))
    yield model
    model.close()


@pytest.fixture(scope="module")
def served_cloud(tmp_path_factory, local):
    start = local.generate(MSGS, tools=TOOLS, max_new_tokens=1).prompt_tokens - 1
    table = script_table(MAX_CONTEXT, encode_bytes(call_text("set_timer", {"minutes": 5})) + [IM_END], start=start)
    model = load(build_toy_bundle(tmp_path_factory.mktemp("hybrid-tools-cloud"), table, max_context=MAX_CONTEXT))
    with serve_in_thread(model) as server:
        yield server
    model.close()


class CannedCloud:
    """An OpenAI-shaped cloud that answers every request with ``calls`` (JSON, or SSE deltas when streamed)."""

    def __init__(self, calls: list[dict]):
        self.calls = calls
        self.requests: list[dict] = []
        cloud = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):  # noqa: N802 (http.server's naming)
                request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                cloud.requests.append(request)
                body = cloud._sse() if request.get("stream") else cloud._json()
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream" if request.get("stream") else "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def _json(self) -> bytes:
        message = {"role": "assistant", "content": None, "tool_calls": self.calls}
        usage = {"prompt_tokens": 10, "completion_tokens": 5}
        choice = {"index": 0, "message": message, "finish_reason": "tool_calls"}
        return json.dumps({"id": "x", "model": "canned", "choices": [choice], "usage": usage}).encode()

    def _sse(self) -> bytes:
        events = []
        for i, call in enumerate(self.calls):
            head = {"index": i, "id": call["id"], "type": "function", "function": {"name": call["function"]["name"]}}
            arguments = call["function"]["arguments"]
            events += [head, {"index": i, "function": {"arguments": arguments[:3]}}]
            events.append({"index": i, "function": {"arguments": arguments[3:]}})
        chunks = [{"choices": [{"index": 0, "delta": {"tool_calls": [e]}, "finish_reason": None}]} for e in events]
        chunks.append({"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]})
        return b"".join(b"data: " + json.dumps(c).encode() + b"\n\n" for c in chunks) + b"data: [DONE]\n\n"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _client(local, url, model="canned"):
    config = CloudConfig(base_url=url, model=model, api_key_env=None, max_tokens=200, max_retries=0)
    return HybridClient(local, config, TO_CLOUD)


def _final(events):
    return [e for e in events if e.kind is EventKind.FINAL][0].answer


def test_a_valid_cloud_call_is_returned(local, served_cloud):
    with _client(local, served_cloud.url + "/v1", served_cloud.options.model_id) as client:
        answer = client.ask(MSGS, **ASK)
        streamed = _final(client.stream(MSGS, **ASK))
    for got in (answer, streamed):
        assert got.route is Route.CLOUD and got.error is None, got.error
        (call,) = got.tool_calls
        assert call.name == "set_timer" and json.loads(call.arguments) == {"minutes": 5} and call.id.startswith("call_")


def call(name, arguments):
    return {"id": "call_c1", "type": "function", "function": {"name": name, "arguments": arguments}}


@pytest.mark.parametrize(
    "bad, words",
    [
        (call("set_timer", '{"minutes":999}'), "do not follow the parameters schema of 'set_timer'"),
        (call("set_timer", '{"minutes":"5"}'), "do not follow the parameters schema"),
        (call("set_timer", '{"minutes":5,"extra":1}'), "do not follow the parameters schema"),
        (call("rm_rf", "{}"), "not one of the tools (set_timer)"),
        (call("set_timer", "[5]"), "not a JSON object"),
    ],
)
def test_a_cloud_call_that_fails_its_schema_is_never_returned(local, bad, words):
    cloud = CannedCloud([bad])
    try:
        with _client(local, cloud.url) as client:
            answers = [client.ask(MSGS, **ASK), _final(client.stream(MSGS, **ASK))]
        assert cloud.requests[0]["tools"] == TOOLS and cloud.requests[0]["tool_choice"] == "required"
        for answer in answers:
            assert answer.route is Route.LOCAL_FALLBACK and answer.error_kind == "protocol"
            assert words in answer.error, answer.error
            (local_call,) = answer.tool_calls  # the local answer, held to the schema by the grammar
            assert local_call.name == "set_timer" and 1 <= json.loads(local_call.arguments)["minutes"] <= 120
    finally:
        cloud.close()


def test_valid_canned_calls_in_any_key_order_pass(local):
    schema = {"type": "object", "properties": {"a": {"type": "integer"}, "b": {"enum": ["x", "y"]}}, "required": ["a"]}
    tools = [{"type": "function", "function": {"name": "pair", "parameters": schema}}]
    cloud = CannedCloud([call("pair", '{"b": "y", "a": 2}')])  # keys out of schema order, spaces: still valid
    try:
        with _client(local, cloud.url) as client:
            answer = client.ask(MSGS, tools=tools, max_new_tokens=50)
        assert answer.route is Route.CLOUD, answer.error
        assert answer.tool_calls[0].id == "call_c1" and json.loads(answer.tool_calls[0].arguments) == {"b": "y", "a": 2}
    finally:
        cloud.close()
