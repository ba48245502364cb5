"""`edgekit serve` tool calling: OpenAI's tools / tool_choice, plain and streamed, with tool results fed back.

A real server on 127.0.0.1 and the official openai client, over toy decoder bundles (tests/runtime/toy_bundle.py):
one scripted to answer a set_timer call (through the call grammar, greedy), one of near-uniform noise whose sampled
calls must still parse and follow the tool's schema.
"""

from __future__ import annotations

import json

import openai
import pytest
from edgekit.runtime import load
from edgekit.runtime.tool_grammar import call_text
from edgekit.sdk.serve import serve_in_thread

from tests.fixtures.require import import_or_skip_or_fail
from tests.runtime.toy_bundle import IM_END, build_toy_bundle, encode_bytes, script_table
from tests.sdk.serve_support import openai_client

MAX_CONTEXT = 2048
MSGS = [{"role": "user", "content": "Set a timer for 5 minutes."}]
TIMER = {
    "type": "function",
    "function": {
        "name": "set_timer",
        "description": "Start a countdown timer",
        "parameters": {
            "type": "object",
            "properties": {
                "minutes": {"type": "integer", "minimum": 1, "maximum": 120},
                "unit": {"enum": ["s", "min", "h"]},
            },
            "required": ["minutes", "unit"],
            "additionalProperties": False,
        },
    },
}
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {
            "type": "object",
            "properties": {"city": {"enum": ["Paris", "Oslo"]}},
            "required": ["city"],
            "additionalProperties": False,  # else noise fills free extra keys until max_tokens
        },
    },
}
TOOLS = [TIMER, WEATHER]
ARGS = {"minutes": 5, "unit": "min"}


@pytest.fixture(scope="module")
def noise(tmp_path_factory):
    model = load(build_toy_bundle(tmp_path_factory.mktemp("serve-tools-noise"), max_context=MAX_CONTEXT))
    yield model
    model.close()


@pytest.fixture(scope="module")
def scripted(tmp_path_factory, noise):
    start = noise.generate(MSGS, tools=TOOLS, max_new_tokens=1).prompt_tokens - 1
    table = script_table(MAX_CONTEXT, encode_bytes(call_text("set_timer", ARGS)) + [IM_END], start=start)
    model = load(build_toy_bundle(tmp_path_factory.mktemp("serve-tools"), table, max_context=MAX_CONTEXT))
    yield model
    model.close()


@pytest.fixture(scope="module")
def server(scripted):
    with serve_in_thread(scripted) as srv:
        yield srv


@pytest.fixture(scope="module")
def noise_server(noise):
    with serve_in_thread(noise) as srv:
        yield srv


def _chat(server, **kw):
    kw.setdefault("messages", MSGS)
    return openai_client(server).chat.completions.create(model=server.options.model_id, **kw)


def test_a_call_comes_back_in_openai_shape(server):
    reply = _chat(server, tools=TOOLS, temperature=0, max_tokens=120)
    choice = reply.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content is None
    (call,) = choice.message.tool_calls
    assert call.type == "function" and call.id.startswith("call_") and call.function.name == "set_timer"
    assert json.loads(call.function.arguments) == ARGS


def test_a_streamed_call_arrives_as_indexed_deltas(server):
    stream = _chat(server, tools=TOOLS, tool_choice="required", temperature=0, max_tokens=120, stream=True)
    calls: dict[int, dict] = {}
    content, finish = "", None
    for chunk in stream:
        for choice in chunk.choices:
            content += choice.delta.content or ""
            finish = choice.finish_reason or finish
            for delta in choice.delta.tool_calls or []:
                entry = calls.setdefault(delta.index, {"id": None, "name": "", "arguments": ""})
                entry["id"] = delta.id or entry["id"]
                entry["name"] += delta.function.name or "" if delta.function else ""
                entry["arguments"] += delta.function.arguments or "" if delta.function else ""
    assert finish == "tool_calls" and content == ""
    assert list(calls) == [0] and calls[0]["name"] == "set_timer" and calls[0]["id"].startswith("call_")
    assert json.loads(calls[0]["arguments"]) == ARGS


def test_the_openai_stream_helper_accumulates_the_call(server):
    client = openai_client(server)
    with client.chat.completions.stream(
        model=server.options.model_id, messages=MSGS, tools=TOOLS, temperature=0, max_tokens=120
    ) as stream:
        final = stream.get_final_completion()
    (call,) = final.choices[0].message.tool_calls
    assert call.function.name == "set_timer" and json.loads(call.function.arguments) == ARGS


def test_a_tool_result_fed_back_reaches_the_prompt(server, scripted):
    reply = _chat(server, tools=TOOLS, temperature=0, max_tokens=120)
    assistant = reply.choices[0].message.model_dump(exclude_none=True)
    call_id = assistant["tool_calls"][0]["id"]
    history = [*MSGS, assistant, {"role": "tool", "tool_call_id": call_id, "content": "timer started"}]
    answer = _chat(server, messages=history, tools=TOOLS, tool_choice="none", temperature=0, max_tokens=6)
    local = scripted.generate(
        [*MSGS, {**assistant, "content": None}, history[-1]], max_new_tokens=6, temperature=0.0, tool_choice="none"
    )
    assert answer.choices[0].message.content == local.text and answer.usage.prompt_tokens == local.prompt_tokens
    short = _chat(server, messages=[*history[:-1], {**history[-1], "content": "ok"}], tool_choice="none", max_tokens=1)
    # the byte-level toy tokenizer: one token per byte of the result, in a <tool_response> user turn
    assert answer.usage.prompt_tokens - short.usage.prompt_tokens == len("timer started") - len("ok")


@pytest.mark.parametrize("seed", range(4))
def test_sampled_calls_from_noise_follow_the_schema(noise_server, seed):
    reply = _chat(noise_server, tools=TOOLS, tool_choice="required", temperature=1.0, seed=seed, max_tokens=300)
    (call,) = reply.choices[0].message.tool_calls
    args = json.loads(call.function.arguments)
    jsonschema = import_or_skip_or_fail("jsonschema", "pip install -e '.[dev]' (jsonschema is in the dev extra)")
    (tool,) = [t for t in TOOLS if t["function"]["name"] == call.function.name]
    jsonschema.Draft202012Validator(tool["function"]["parameters"]).validate(args)
    if call.function.name == "set_timer":
        assert set(args) == {"minutes", "unit"} and 1 <= args["minutes"] <= 120 and args["unit"] in ("s", "min", "h")
    else:
        assert call.function.name == "get_weather" and args["city"] in ("Paris", "Oslo"), args
    named = {"type": "function", "function": {"name": "get_weather"}}
    reply = _chat(noise_server, tools=TOOLS, tool_choice=named, temperature=1.0, seed=seed, max_tokens=300)
    assert reply.choices[0].message.tool_calls[0].function.name == "get_weather"


@pytest.mark.parametrize(
    "extra, param, words",
    [
        ({"tools": [{"type": "function", "function": {"description": "x"}}]}, "tools[0].function.name", "needs a name"),
        (
            {"tools": [{"type": "function", "function": {"name": "t", "parameters": {"type": "wibble"}}}]},
            "tools[0].function.parameters.type",
            "use 'object'",
        ),
        (
            {"tools": TOOLS, "tool_choice": {"type": "function", "function": {"name": "nope"}}},
            "tool_choice.function.name",
            "set_timer, get_weather",
        ),
        ({"tool_choice": "required"}, "tool_choice", "no tools to call"),
        ({"tools": TOOLS, "tool_choice": "sometimes"}, "tool_choice", "use one of"),
        ({"tools": TOOLS, "response_format": {"type": "json_object"}}, "response_format", "cannot be combined"),
        ({"tools": TOOLS, "parallel_tool_calls": "yes"}, "parallel_tool_calls", "true or false"),
        ({"functions": [{"name": "f"}]}, "functions", "send tools"),
    ],
)
def test_bad_tool_input_is_an_openai_400(server, extra, param, words):
    with pytest.raises(openai.BadRequestError) as info:
        _chat(server, max_tokens=2, extra_body=extra)
    err = info.value.body
    assert err["param"] == param and words in err["message"], err


def test_a_broken_earlier_call_is_a_400_naming_it(server):
    bad = {
        "role": "assistant",
        "tool_calls": [{"id": "c", "type": "function", "function": {"name": "t", "arguments": "{"}}],
    }
    with pytest.raises(openai.BadRequestError) as info:
        _chat(server, messages=[*MSGS, bad], max_tokens=2)
    assert info.value.body["param"] == "messages[1].tool_calls[0].function.arguments", info.value.body
    on_user = {"role": "user", "content": "x", "tool_calls": [{"function": {"name": "t"}}]}
    with pytest.raises(openai.BadRequestError, match="only an assistant message"):
        _chat(server, messages=[on_user], max_tokens=2)


def test_tool_examples_are_shown_to_requests_with_tools(noise):
    from edgekit.runtime.tool_examples import ToolExamples, example_turns

    rows = [
        {
            "utterance": "Set a timer for 9 minutes",
            "call": {"name": "set_timer", "arguments": {"minutes": 9, "unit": "min"}},
        }
    ]
    pool = ToolExamples(rows)
    with serve_in_thread(noise, tool_examples=pool) as srv:
        shown = _chat(srv, tools=TOOLS, temperature=0, max_tokens=2)
        untooled = _chat(srv, temperature=0, max_tokens=2)
    by_hand = noise.generate([*example_turns(pool.examples), *MSGS], tools=TOOLS, max_new_tokens=1)
    assert shown.usage.prompt_tokens == by_hand.prompt_tokens  # the example, as turns before the request
    assert untooled.usage.prompt_tokens == noise.generate(MSGS, max_new_tokens=1).prompt_tokens
