"""`edgekit chat BUNDLE --tools tools.json`: each call the model makes is shown, /result feeds its result back.

Over a toy decoder bundle (tests/runtime/toy_bundle.py) scripted to answer a set_timer call through the call grammar.
"""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from edgekit.runtime import load
from edgekit.runtime.tool_grammar import call_text
from edgekit.sdk.cli import main

from tests.runtime.toy_bundle import IM_END, build_toy_bundle, encode_bytes, script_table

MAX_CONTEXT = 2048
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
ASK = "Set a timer for 5 minutes"


@pytest.fixture(scope="module")
def tools_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("tools") / "tools.json"
    path.write_text(json.dumps({"tools": [TIMER]}))
    return path


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    noise = load(build_toy_bundle(tmp_path_factory.mktemp("chat-tools-noise"), max_context=MAX_CONTEXT))
    start = noise.generate([{"role": "user", "content": ASK}], tools=[TIMER], max_new_tokens=1).prompt_tokens - 1
    noise.close()
    table = script_table(MAX_CONTEXT, encode_bytes(call_text("set_timer", {"minutes": 5})) + [IM_END], start=start)
    return build_toy_bundle(tmp_path_factory.mktemp("chat-tools"), table, max_context=MAX_CONTEXT)


def _chat(*args, input):
    return CliRunner().invoke(main, ["chat", *map(str, args)], input=input)


def test_chat_shows_each_call_and_takes_its_result(bundle, tools_file):
    result = _chat(bundle, "--tools", tools_file, "-n", "120", "--temperature", "0", input=f"{ASK}\n/result done\n")
    assert result.exit_code == 0, result.output
    first = result.stdout.splitlines()[0]
    assert (
        first.startswith('-> set_timer({"minutes":5})  [call_')
        and "(answer the call with /result TEXT)" in result.stderr
    )
    assert "no tool call to answer" not in result.stderr  # /result found the call and got an answer


def test_chat_result_without_a_call_and_bad_tool_input_are_clean(bundle, tools_file, tmp_path):
    result = _chat(bundle, "--tools", tools_file, "-n", "2", input="/result x\n")
    assert result.exit_code == 0 and "(no tool call to answer yet)" in result.stderr
    result = _chat(bundle, "--tools", tools_file, "--tool-choice", "nope", input="")
    assert result.exit_code == 1 and "tool_choice.function.name='nope' is invalid" in result.output
    assert "set_timer" in result.output and "Traceback" not in result.output
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"type": "function", "function": {"description": "no name"}}]))
    result = _chat(bundle, "--tools", bad, input="")
    assert result.exit_code == 1 and f"tools[0].function.name in {bad}=None is invalid" in result.output
    result = _chat(bundle, "--tools", tmp_path / "missing.json", input="")
    assert result.exit_code == 1 and "cannot read the file" in result.output


def test_hybrid_chat_shows_the_call_and_its_route(bundle, tools_file):
    result = _chat(bundle, "--tools", tools_file, "--local-only", "-n", "120", "--temperature", "0", input=f"{ASK}\n")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith('-> set_timer({"minutes":5})  [call_'), result.stdout
    assert "local" in result.stderr


def test_chat_tool_examples_file_is_read_and_bad_ones_are_one_line(bundle, tools_file, tmp_path):
    good = tmp_path / "examples.jsonl"
    rows = [{"utterance": "Set a timer for 9 minutes", "call": {"name": "set_timer", "arguments": {"minutes": 9}}}]
    good.write_text("".join(json.dumps(r) + "\n" for r in rows))
    args = ("--tools", tools_file, "--tool-choice", "required", "-n", "120", "--temperature", "0")
    result = _chat(bundle, *args, "--tool-examples", good, input=f"{ASK}\n")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("-> set_timer(")  # the grammar's call, with the example in the prompt
    cases = [
        ("[{]", "not JSON Lines or a JSON array"),
        (
            json.dumps([{"utterance": "x", "call": {"name": "set_timer", "arguments": {"minutes": 500}}}]),
            "tool_examples[0].call.function.arguments in",
        ),
        ("", "the file holds no examples"),
    ]
    for text, message in cases:
        bad = tmp_path / "bad.jsonl"
        bad.write_text(text)
        result = _chat(bundle, *args, "--tool-examples", bad, input=f"{ASK}\n")
        assert result.exit_code == 1 and "Traceback" not in result.output, result.output
        assert message in result.output and len(result.output.strip().splitlines()) == 1, result.output
    result = _chat(bundle, "--tool-examples", good, input="")
    assert result.exit_code == 1 and "examples need --tools FILE" in result.output
