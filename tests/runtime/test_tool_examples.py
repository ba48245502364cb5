"""Worked tool-call examples chosen per request (tool_examples.py): the selection, and the turns they become.

Selection is checked on hand-made pools; the turns through real onnxruntime sessions of a toy bundle
(tests/runtime/toy_bundle.py): a request with a pool must produce exactly the prompt (and greedy tokens) of the
same request with the chosen examples written out as earlier turns by hand.
"""

from __future__ import annotations

import json

import pytest
from edgekit.runtime import load
from edgekit.runtime.errors import ToolError
from edgekit.runtime.tool_examples import ToolExample, ToolExamples, example_turns

from .toy_bundle import build_toy_bundle

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
CALL = {
    "type": "function",
    "function": {
        "name": "make_call",
        "parameters": {
            "type": "object",
            "properties": {"contact": {"type": "string"}},
            "required": ["contact"],
            "additionalProperties": False,
        },
    },
}
POOL = [
    {"utterance": "Set a timer for 10 minutes", "call": {"name": "set_timer", "arguments": {"minutes": 10}}},
    {"utterance": "timer for twenty minutes please", "call": {"name": "set_timer", "arguments": {"minutes": 20}}},
    {"utterance": "Call Omar", "call": {"name": "make_call", "arguments": {"contact": "Omar"}}},
    {"utterance": "Phone my sister Ana", "call": {"name": "make_call", "arguments": {"contact": "Ana"}}},
]


def test_the_most_similar_examples_are_chosen_and_the_best_comes_last():
    pool = ToolExamples(POOL, k=2, min_similarity=0.0)
    chosen = pool.select("Set a timer for 15 minutes")
    assert [e.name for e in chosen] == ["set_timer", "set_timer"]
    assert chosen[-1].utterance == "Set a timer for 10 minutes"  # nearest the question
    sims = pool.similarities("Set a timer for 15 minutes")
    assert sims[0] == max(sims) and all(0.0 <= s <= 1.0 + 1e-9 for s in sims)
    assert pool.similarities("Call Omar")[2] == pytest.approx(1.0)
    assert [e.utterance for e in pool.select("call omar now")][-1] == "Call Omar"  # case and extra words


def test_a_request_unlike_every_example_gets_none_and_tools_filter_the_pool():
    pool = ToolExamples(POOL)  # default k=4, min_similarity 0.3
    assert pool.select("What is the capital of France?") == []
    assert all(e.name == "make_call" for e in pool.select("Set a timer for 15 minutes", ["make_call"]))
    assert len(ToolExamples(POOL, k=1, min_similarity=0.0).select("anything")) == 1


@pytest.mark.parametrize(
    ("examples", "kw", "field"),
    [
        (POOL, {"k": 0}, "tool_examples.k"),
        (POOL, {"min_similarity": 1.5}, "tool_examples.min_similarity"),
        ([{"utterance": "", "call": {"name": "set_timer"}}], {}, "tool_examples[0].utterance"),
        ([{"utterance": "hi", "call": {"arguments": {}}}], {}, "tool_examples[0].call"),
        ([{"utterance": "hi", "call": {"name": "x", "arguments": [1]}}], {}, "tool_examples[0].call.arguments"),
        (["Set a timer"], {}, "tool_examples[0]"),
    ],
)
def test_bad_examples_name_the_field(examples, kw, field):
    with pytest.raises(ToolError) as caught:
        ToolExamples(examples, **kw)
    assert caught.value.field == field


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    model = load(build_toy_bundle(tmp_path_factory.mktemp("tool-examples"), max_context=2048))
    yield model
    model.close()


def test_examples_become_earlier_turns_just_before_the_request(toy):
    request = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Set a timer for 15 minutes"}]
    pool = ToolExamples(POOL, k=2, min_similarity=0.0)
    with_pool = toy.generate(request, tools=[TIMER, CALL], tool_examples=pool, max_new_tokens=8, temperature=0)
    chosen = pool.select(request[-1]["content"])
    by_hand = [request[0], *example_turns(chosen), request[-1]]
    written = toy.generate(by_hand, tools=[TIMER, CALL], max_new_tokens=8, temperature=0)
    plain = toy.generate(request, tools=[TIMER, CALL], max_new_tokens=8, temperature=0)
    assert with_pool.prompt_tokens == written.prompt_tokens > plain.prompt_tokens
    assert with_pool.token_ids == written.token_ids
    # a plain list of rows is taken too (a pool with the defaults)
    listed = toy.generate(request, tools=[TIMER, CALL], tool_examples=POOL, max_new_tokens=8, temperature=0)
    default_chosen = ToolExamples(POOL).select(request[-1]["content"])
    assert default_chosen  # the timer examples pass the default 0.3 similarity
    by_hand_default = [request[0], *example_turns(default_chosen), request[-1]]
    assert listed.prompt_tokens == toy.generate(by_hand_default, tools=[TIMER, CALL], max_new_tokens=1).prompt_tokens


def test_an_example_the_schema_refuses_fails_before_any_compute(toy):
    bad = [{"utterance": "Set a timer for 500 minutes", "call": {"name": "set_timer", "arguments": {"minutes": 500}}}]
    with pytest.raises(ToolError) as caught:
        toy.generate("Set a timer for 400 minutes", tools=[TIMER], tool_examples=bad, max_new_tokens=4)
    assert caught.value.field.startswith("tool_examples[0].call")
    with pytest.raises(ToolError, match="tool_examples"):
        toy.generate("Set a timer", tools=[TIMER], tool_examples="examples.jsonl", max_new_tokens=4)


def test_examples_of_tools_not_offered_are_never_shown(toy):
    only_calls = [POOL[2], POOL[3]]
    request = [{"role": "user", "content": "Call Omar"}]
    offered_timer = toy.generate(request, tools=[TIMER], tool_examples=only_calls, max_new_tokens=4, temperature=0)
    plain = toy.generate(request, tools=[TIMER], max_new_tokens=4, temperature=0)
    assert offered_timer.prompt_tokens == plain.prompt_tokens


def test_example_turns_carry_the_call_as_json_text():
    (user, assistant) = example_turns([ToolExample("Call Omar", "make_call", {"contact": "Omar"})])
    assert user == {"role": "user", "content": "Call Omar"}
    call = assistant["tool_calls"][0]["function"]
    assert call["name"] == "make_call" and json.loads(call["arguments"]) == {"contact": "Omar"}


def test_a_pool_without_one_example_keeps_the_checks_made_for_the_others(toy):
    pool = toy.check_tool_examples(POOL, [TIMER, CALL])
    rest = pool.without(0)
    assert [e.utterance for e in rest.examples] == [e["utterance"] for e in POOL[1:]]
    (done,) = rest._checked.values()  # the one tool set checked above, less the dropped example
    assert [e.utterance for e in done] == [e["utterance"] for e in POOL[1:]]
    assert "Set a timer for 10 minutes" not in [e.utterance for e in rest.select("Set a timer for 10 minutes")]
