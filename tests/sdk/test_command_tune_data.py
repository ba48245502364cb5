"""The command set as `edgekit tune` data: each conversation is prompted exactly as the runtime prompts the tiny
real model (SmolLM2's template, tools in the system turn), and each call reply is one the runtime parses back
into the expected call and validates against its tool's schema."""

from __future__ import annotations

import json

import jsonschema
from edgekit.runtime.tool_grammar import parse_calls
from edgekit.runtime.tool_prompt import prepare_messages
from edgekit.runtime.tools import parse_tools
from edgekit.sdk.evalset.commands import load_commands, load_tools
from edgekit.sdk.evalset.commands.tune_data import NO_TOOL_REPLY, main, tune_conversations


def test_conversations_are_prompted_as_the_runtime_prompts_and_calls_parse_back(tiny_local):
    tools = load_tools()
    typed = parse_tools(tools)
    schemas = {t["function"]["name"]: t["function"]["parameters"] for t in tools}
    items = [i for i in load_commands(split="train") if i["kind"] != "chat"]
    rows = tune_conversations()
    assert len(rows) == len(items) and not tiny_local.chat_template.takes_tools
    for item, row in zip(items, rows):
        system, user, reply = row["messages"]
        assert user == {"role": "user", "content": item["utterance"]}
        assert [system, user] == prepare_messages([user], typed, False)  # the runtime's own prompt
        if item["kind"] == "no_tool":
            assert reply["content"] == NO_TOOL_REPLY and parse_calls(reply["content"], typed) is None
            continue
        (call,) = parse_calls(reply["content"], typed)
        assert (call.name, call.parsed_arguments()) == (item["expected"]["name"], item["expected"]["arguments"])
        jsonschema.validate(call.parsed_arguments(), schemas[call.name])
    rendered = tiny_local.render_chat(rows[0]["messages"][:2])
    assert "<tools>" in rendered and rendered.endswith("<|im_start|>assistant\n")


def test_chat_answers_and_limit(tmp_path, tiny_bundle):
    answered = tune_conversations(chat_answer=lambda q: f"answer to {q}", limit=40)
    assert len(answered) == 40
    chat = [r for r in answered if r["messages"][2]["content"].startswith("answer to ")]
    assert chat and all(r["messages"][2]["content"] == "answer to " + r["messages"][1]["content"] for r in chat)
    out = tmp_path / "train.jsonl"
    assert main([str(out), "--limit", "12", "--chat-answers", str(tiny_bundle("int8")), "--max-new-tokens", "3"]) == 0
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(lines) == 12 and all(len(r["messages"]) == 3 for r in lines)
