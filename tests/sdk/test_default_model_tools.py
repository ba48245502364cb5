"""Tool calling on the real default model (SmolLM2-135M-Instruct, slow): its template has no tools, so the generic
format carries them, and the call grammar makes its answer a valid call, through the runtime and through serve."""

from __future__ import annotations

import json

import pytest
from edgekit.runtime import load
from edgekit.runtime.results import FinishReason
from edgekit.sdk.serve import serve_in_thread

from tests.sdk.serve_support import openai_client

pytestmark = pytest.mark.slow

TIMER = {
    "type": "function",
    "function": {
        "name": "set_timer",
        "description": "Start a countdown timer",
        "parameters": {
            "type": "object",
            "properties": {
                "minutes": {"type": "integer", "minimum": 1, "maximum": 180},
                "label": {"type": "string", "maxLength": 30},
            },
            "required": ["minutes"],
        },
    },
}
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}
ASK = [{"role": "user", "content": "Set a timer for 5 minutes."}]


@pytest.fixture(scope="module")
def default_model(default_bundle):
    with load(default_bundle("gguf")) as model:
        yield model


def test_a_timer_request_becomes_a_valid_timer_call(default_model):
    assert not default_model.chat_template.takes_tools  # the generic format is the one in use
    result = default_model.generate(
        ASK, tools=[TIMER, WEATHER], tool_choice="required", temperature=0.0, max_new_tokens=80
    )
    assert result.finish_reason is FinishReason.TOOL_CALLS, result.text
    (call,) = result.tool_calls
    assert call.name == "set_timer" and json.loads(call.arguments)["minutes"] == 5, call


def test_served_call_and_the_fed_back_result(default_model):
    with serve_in_thread(default_model) as server:
        client = openai_client(server)
        reply = client.chat.completions.create(
            model=server.options.model_id,
            messages=ASK,
            tools=[TIMER, WEATHER],
            tool_choice="required",
            temperature=0,
            max_tokens=80,
        )
        (call,) = reply.choices[0].message.tool_calls
        assert reply.choices[0].finish_reason == "tool_calls" and call.function.name == "set_timer"
        assert json.loads(call.function.arguments)["minutes"] == 5
        history = [
            *ASK,
            reply.choices[0].message.model_dump(exclude_none=True),
            {"role": "tool", "tool_call_id": call.id, "content": "Timer set: 5 minutes."},
        ]
        answer = client.chat.completions.create(
            model=server.options.model_id, messages=history, tools=[TIMER, WEATHER], tool_choice="none", max_tokens=16
        )
        assert answer.choices[0].message.content and not answer.choices[0].message.tool_calls
