"""The shipped command set: generated deterministically, its labels follow the tools' schemas, and the held-out
split asks in ways the train split never does."""

from __future__ import annotations

import json
from collections import Counter

import pytest
from edgekit.runtime.errors import ConfigError
from edgekit.runtime.tools import parse_tools
from edgekit.sdk.commands_match import same_call
from edgekit.sdk.evalset.commands import DEFAULT_PATH, TOOLS_PATH, load_commands, load_tools
from edgekit.sdk.evalset.commands.generate import PER_TEMPLATE, generate, render
from edgekit.sdk.evalset.commands.phrasings import TEMPLATES, words

from tests.fixtures.require import import_or_skip_or_fail

ITEMS = [json.loads(line) for line in DEFAULT_PATH.read_text(encoding="utf-8").splitlines()]


def test_the_generator_is_deterministic_and_the_shipped_file_is_its_output():
    assert render() == render()
    assert DEFAULT_PATH.read_text(encoding="utf-8") == render(), "run python -m edgekit.sdk.evalset.commands.generate"
    assert render(seed=1) != render()  # the seed decides the fillings and the held-out phrasings


def test_the_set_has_hundreds_of_utterances_of_every_kind_and_tool():
    kinds = Counter((i["kind"], i["split"]) for i in ITEMS)
    assert len(ITEMS) >= 300
    for kind in ("call", "chat", "no_tool"):
        assert kinds[(kind, "train")] > 0 and kinds[(kind, "held-out")] > 0, kinds
    tools = {t["function"]["name"] for t in load_tools()}
    assert len(tools) == 8
    for split in ("train", "held-out"):
        assert {i["group"] for i in ITEMS if i["kind"] == "call" and i["split"] == split} == tools
    assert len({i["id"] for i in ITEMS}) == len(ITEMS)
    assert len({i["utterance"] for i in ITEMS}) == len(ITEMS)  # no utterance twice, so no leak across splits
    # numbers in words and deliberate typos are in there
    assert any(f"{words(5)} minutes" in i["utterance"] for i in ITEMS)
    assert any(w in i["utterance"] for i in ITEMS for w in ("timmer", "alrm", "calender", "trun", "convrt"))


def test_every_expected_call_validates_against_its_tool_schema():
    jsonschema = import_or_skip_or_fail("jsonschema", "pip install -e '.[dev]' (jsonschema is in the dev extra)")
    schemas = {t["function"]["name"]: t["function"]["parameters"] for t in load_tools()}
    parse_tools(load_tools())  # the runtime takes the tools as they are
    for item in ITEMS:
        if item["kind"] != "call":
            assert item["expected"] is None, item
            continue
        expected = item["expected"]
        assert expected["name"] == item["group"]
        jsonschema.validate(expected["arguments"], schemas[expected["name"]])
    # and the schemas are strict: an extra key or an out-of-range number is refused
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"minutes": 5, "note": "x"}, schemas["set_timer"])
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"time": {"hour": 24, "minute": 0}}, schemas["set_alarm"])


def test_held_out_phrasings_never_occur_in_train():
    train = [i for i in ITEMS if i["split"] == "train"]
    held = [i for i in ITEMS if i["split"] == "held-out"]
    assert not {i["template"] for i in train} & {i["template"] for i in held}
    assert not {i["utterance"] for i in train} & {i["utterance"] for i in held}
    # about a third of each tool's phrasings are held out, and every template is used
    for tool, templates in TEMPLATES.items():
        used = {i["template"] for i in ITEMS if i["group"] == tool}
        assert len(used) == len(templates)
        held_here = {i["template"] for i in held if i["group"] == tool}
        assert 1 <= len(held_here) <= len(templates) // 2


def test_the_loader_filters_by_split_and_tool_and_refuses_bad_input(tmp_path):
    held = load_commands(split="held-out")
    assert held and {i["split"] for i in held} == {"held-out"}
    assert len(load_commands(split="all")) == len(ITEMS)
    timers = load_commands(split="all", tools=["set_timer"])
    assert {i["group"] for i in timers if i["kind"] == "call"} == {"set_timer"}
    assert {"chat", "no_tool"} <= {i["kind"] for i in timers}
    with pytest.raises(ConfigError, match="--split 'test' is unknown; use one of: train, held-out, all"):
        load_commands(split="test")
    with pytest.raises(ConfigError, match="--tools 'nope' is unknown; known tools: set_timer"):
        load_tools(["nope"])
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "x"}\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="bad.jsonl:1: item lacks group"):
        load_commands(bad, split="all")
    assert TOOLS_PATH.is_file()


def test_a_call_matches_its_label_after_normalization_only():
    label = {"name": "send_message", "arguments": {"to": "Mom", "text": "I'm on my way"}}
    assert same_call("send_message", '{"text":"i\'m on my way.","to":"mom"}', label)
    assert not same_call("send_message", '{"to":"Mom","text":"I am on my way"}', label)
    assert not same_call("make_call", '{"to":"Mom","text":"I\'m on my way"}', label)
    assert not same_call("send_message", '{"to":"Mom"}', label)
    assert not same_call("send_message", "not json", label)
    number = {"name": "convert_units", "arguments": {"value": 5, "from_unit": "km", "to_unit": "mi"}}
    assert same_call("convert_units", '{"value":5.0,"from_unit":"km","to_unit":"mi"}', number)
    assert not same_call("convert_units", '{"value":6,"from_unit":"km","to_unit":"mi"}', number)
    flag = {"name": "make_call", "arguments": {"contact": "Sam", "speaker": True}}
    assert not same_call("make_call", '{"contact":"Sam","speaker":1}', flag)  # a boolean is not a number


def test_generate_fills_each_template_five_times_with_distinct_utterances():
    per = Counter(i["template"] for i in generate() if i["kind"] == "call")
    # "Set a timer for {hw} hour{s}" draws from one to four hours: four distinct fillings are all there are
    assert {t for t, n in per.items() if n != PER_TEMPLATE} == {"set_timer/6"} and per["set_timer/6"] == 4
