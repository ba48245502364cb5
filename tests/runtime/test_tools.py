"""Tool calling in the runtime: typed tools, the call grammar, the prompt formats, calls as results.

The toy decoder bundle (toy_bundle.py) is a real onnxruntime session whose output a test scripts: unscripted,
its logits are near-uniform noise, so at temperature 1 every byte the grammar allows is about equally likely.
Calls sampled that way must still parse and follow each tool's schema (enums, bounded numbers, nested objects,
arrays), for every seed; scripted, it shows ``auto`` telling a call from a plain answer.
"""

from __future__ import annotations

import json

import pytest
from edgekit.runtime import load
from edgekit.runtime.chat import ChatTemplate
from edgekit.runtime.errors import ConfigError, RuntimeGenerationError, ToolError
from edgekit.runtime.results import FinishReason
from edgekit.runtime.tool_grammar import call_text
from edgekit.runtime.tool_prompt import prepare_messages
from edgekit.runtime.tools import ToolChoiceMode, parse_tool_choice, parse_tools

from tests.fixtures.require import import_or_skip_or_fail
from tests.runtime.toy_bundle import CHATML, IM_END, build_toy_bundle, encode_bytes, script_table

MAX_CONTEXT = 2048
ASK = [{"role": "user", "content": "hi"}]


def _fn(name, parameters=None, description=""):
    function = {"name": name, "description": description}
    if parameters is not None:
        function["parameters"] = parameters
    return {"type": "function", "function": function}


TOOLS = [
    _fn(
        "set_timer",
        {
            "type": "object",
            "properties": {
                "minutes": {"type": "integer", "minimum": 1, "maximum": 120},
                "unit": {"enum": ["s", "min", "h"]},
            },
            "required": ["minutes", "unit"],
            "additionalProperties": False,
        },
        "Start a countdown {timer}",  # braces inside the schema's strings must not end %json
    ),
    _fn(
        "move",
        {
            "type": "object",
            "properties": {
                "speed": {"type": "number", "minimum": 0, "maximum": 2.5},
                "target": {
                    "type": "object",
                    "properties": {
                        "x": {"type": "integer", "minimum": -10, "maximum": 10},
                        "y": {"type": "integer", "minimum": -10, "maximum": 10},
                    },
                    "required": ["x", "y"],
                    "additionalProperties": False,
                },
            },
            "required": ["speed", "target"],
            "additionalProperties": False,
        },
    ),
    _fn(
        "tag",
        {
            "type": "object",
            "properties": {
                "labels": {"type": "array", "items": {"enum": ["a", "b", "c"]}, "minItems": 1, "maxItems": 3},
                "note": {"type": "string", "maxLength": 6},
            },
            "required": ["labels"],
            "additionalProperties": False,
        },
    ),
    _fn("ping"),  # no parameters: an empty object
]


def _follows_schema(name, args):
    # an independent check first: the jsonschema package (the dev extra), then the rules spelled out
    jsonschema = import_or_skip_or_fail("jsonschema", "pip install -e '.[dev]' (jsonschema is in the dev extra)")
    (tool,) = [t for t in TOOLS if t["function"]["name"] == name]
    schema = tool["function"].get("parameters", {"type": "object", "additionalProperties": False})
    jsonschema.Draft202012Validator(schema).validate(args)
    if name == "set_timer":
        assert set(args) == {"minutes", "unit"} and args["unit"] in ("s", "min", "h"), args
        assert isinstance(args["minutes"], int) and 1 <= args["minutes"] <= 120, args
    elif name == "move":
        assert set(args) == {"speed", "target"} and set(args["target"]) == {"x", "y"}, args
        assert isinstance(args["speed"], (int, float)) and 0 <= args["speed"] <= 2.5, args
        assert all(isinstance(v, int) and -10 <= v <= 10 for v in args["target"].values()), args
    elif name == "tag":
        assert set(args) <= {"labels", "note"} and "labels" in args, args
        assert 1 <= len(args["labels"]) <= 3 and set(args["labels"]) <= {"a", "b", "c"}, args
        assert len(args.get("note", "")) <= 6, args
    else:
        assert name == "ping" and args == {}, (name, args)


@pytest.fixture(scope="module")
def noise(tmp_path_factory):
    model = load(build_toy_bundle(tmp_path_factory.mktemp("tools-noise"), max_context=MAX_CONTEXT))
    yield model
    model.close()


def _scripted(tmp_path_factory, noise, text, **call):
    """A toy model that answers ``text`` (then eos) to ASK with the call options ``call``."""
    start = noise.generate(ASK, max_new_tokens=1, **call).prompt_tokens - 1
    table = script_table(MAX_CONTEXT, encode_bytes(text) + [IM_END], start=start)
    return load(build_toy_bundle(tmp_path_factory.mktemp("tools-script"), table, max_context=MAX_CONTEXT))


@pytest.mark.parametrize("seed", range(8))
def test_sampled_required_calls_parse_and_follow_their_schema(noise, seed):
    result = noise.generate(ASK, tools=TOOLS, tool_choice="required", temperature=1.0, seed=seed, max_new_tokens=400)
    assert result.finish_reason is FinishReason.TOOL_CALLS and result.text == "", result.text
    (call,) = result.tool_calls
    assert call.id.startswith("call_") and call.name in {t["function"]["name"] for t in TOOLS}
    _follows_schema(call.name, json.loads(call.arguments))


@pytest.mark.parametrize("name", ["move", "tag", "ping"])
def test_a_named_tool_choice_calls_that_tool(noise, name):
    choice = {"type": "function", "function": {"name": name}}
    for seed in range(3):
        result = noise.generate(ASK, tools=TOOLS, tool_choice=choice, temperature=1.0, seed=seed, max_new_tokens=400)
        (call,) = result.tool_calls
        assert call.name == name
        _follows_schema(name, call.parsed_arguments())


def test_none_keeps_the_tools_out_of_the_prompt_and_the_output_free(noise):
    plain = noise.generate(ASK, max_new_tokens=4, temperature=1.0, seed=1)
    result = noise.generate(ASK, tools=TOOLS, tool_choice="none", max_new_tokens=4, temperature=1.0, seed=1)
    assert result.prompt_tokens == plain.prompt_tokens and result.text == plain.text
    assert result.tool_calls == () and result.finish_reason is not FinishReason.TOOL_CALLS
    shown = noise.generate(ASK, tools=TOOLS, tool_choice="auto", max_new_tokens=1)
    assert shown.prompt_tokens > plain.prompt_tokens + 500  # the tools section is in the system turn


def test_auto_returns_a_scripted_call_as_a_call_and_streams_no_call_text(tmp_path_factory, noise):
    text = call_text("set_timer", {"minutes": 5, "unit": "min"})
    model = _scripted(tmp_path_factory, noise, text, tools=TOOLS)
    pieces = list(model.stream(ASK, tools=TOOLS, temperature=0.0, max_new_tokens=100))
    result = pieces[-1].result
    assert result.finish_reason is FinishReason.TOOL_CALLS and result.text == ""
    assert [(c.name, c.parsed_arguments()) for c in result.tool_calls] == [("set_timer", {"minutes": 5, "unit": "min"})]
    assert "".join(p.text for p in pieces) == "" and sum(p.token is not None for p in pieces) == len(result.token_ids)
    model.close()


def test_auto_returns_a_scripted_plain_answer_as_text(tmp_path_factory, noise):
    model = _scripted(tmp_path_factory, noise, "<tools are fun", tools=TOOLS)  # opens like a call, then is not
    pieces = list(model.stream(ASK, tools=TOOLS, temperature=0.0, max_new_tokens=100))
    result = pieces[-1].result
    assert result.text == "<tools are fun" and result.tool_calls == () and result.finish_reason is FinishReason.EOS
    assert "".join(p.text for p in pieces) == result.text
    model.close()


def test_parallel_calls_only_when_asked(tmp_path_factory, noise):
    two = call_text("ping", {}) + "\n" + call_text("tag", {"labels": ["b"]})
    model = _scripted(tmp_path_factory, noise, two, tools=TOOLS)
    both = model.generate(ASK, tools=TOOLS, parallel_tool_calls=True, temperature=0.0, max_new_tokens=200)
    assert [c.name for c in both.tool_calls] == ["ping", "tag"]
    one = model.generate(ASK, tools=TOOLS, temperature=0.0, max_new_tokens=100)
    assert [c.name for c in one.tool_calls] == ["ping"]  # the grammar ends after one call
    model.close()


def test_a_call_cut_short_is_not_a_call(noise):
    result = noise.generate(ASK, tools=TOOLS, tool_choice="required", temperature=1.0, seed=0, max_new_tokens=8)
    assert result.tool_calls == () and result.finish_reason is FinishReason.LENGTH
    assert result.text.startswith("<tool_c")


# -- prompts --------------------------------------------------------------------------------------------
HISTORY = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Timer for 5 minutes"},
    {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "set_timer", "arguments": '{"minutes":5}'}}
        ],
    },
    {"role": "tool", "tool_call_id": "call_1", "content": "started"},
    {"role": "tool", "tool_call_id": "call_2", "content": "also"},
]


def test_generic_format_for_a_template_without_tools():
    template = ChatTemplate(CHATML)
    assert not template.takes_tools
    text = template.render(prepare_messages(HISTORY, parse_tools(TOOLS), template.takes_tools))
    assert text.startswith("<|im_start|>system\nBe brief.\n\n# Tools\n") and '"name": "set_timer"' in text
    assert '<|im_start|>assistant\n<tool_call>\n{"name":"set_timer","arguments":{"minutes":5}}\n</tool_call>' in text
    both = "<|im_start|>user\n<tool_response>\nstarted\n</tool_response>\n<tool_response>\nalso\n</tool_response>"
    assert both in text and "<|im_start|>tool" not in text


TOOL_TEMPLATE = (
    "{% if tools %}TOOLS{% for t in tools %} {{ t.function.name }}{% endfor %};{% endif %}"
    "{% for m in messages %}[{{ m.role }}]"
    "{% for c in m.tool_calls or [] %}CALL {{ c.function.name }} {{ c.function.arguments | tojson }}{% endfor %}"
    "{{ m.content }}\n{% endfor %}[assistant]"
)


def test_a_template_that_reads_tools_gets_them_and_the_calls_in_openai_shape(tmp_path_factory):
    template = ChatTemplate(TOOL_TEMPLATE)
    assert template.takes_tools
    tools = parse_tools(TOOLS)
    text = template.render(prepare_messages(HISTORY, tools, True), tools=[t.to_openai() for t in tools])
    assert text.startswith("TOOLS set_timer move tag ping;[system]Be brief.\n")
    assert '[assistant]CALL set_timer {"minutes": 5}\n[tool]started\n[tool]also\n' in text


def test_a_model_with_a_tool_template_renders_tools_through_it(tmp_path_factory):
    model = load(build_toy_bundle(tmp_path_factory.mktemp("tools-tpl"), max_context=512, chat_template=TOOL_TEMPLATE))
    with_tools = model.generate(ASK, tools=TOOLS[:1], tool_choice="required", max_new_tokens=1)
    plain = model.generate(ASK, max_new_tokens=1)
    assert with_tools.prompt_tokens == plain.prompt_tokens + len("TOOLS set_timer;")
    model.close()


# -- bad input ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "tools, field, words",
    [
        ([{"type": "function", "function": {"description": "x"}}], "tools[0].function.name", "needs a name"),
        ([_fn("a b")], "tools[0].function.name", "a-z, A-Z"),
        (
            [_fn("t", {"type": "object", "properties": {"a": {"type": "wibble"}}})],
            "tools[0].function.parameters",
            "wib",
        ),
        ([_fn("t", {"type": "string"})], "tools[0].function.parameters.type", "use 'object'"),
        ([_fn("t"), _fn("t")], "tools[1].function.name", "unique"),
        ([{"type": "retrieval"}], "tools[0].type", "only 'function'"),
        ("set_timer", "tools", "use an array"),
    ],
)
def test_bad_tools_are_one_clear_error(tools, field, words):
    with pytest.raises(ToolError) as info:
        parse_tools(tools)
    assert info.value.field == field and words in str(info.value) and "is invalid" in str(info.value)
    assert isinstance(info.value, ConfigError) and isinstance(info.value, RuntimeGenerationError)


def test_bad_tool_choice_names_the_known_tools():
    tools = parse_tools(TOOLS)
    with pytest.raises(ToolError, match=r"tool_choice.function.name='nope' is invalid: .*set_timer, move, tag, ping"):
        parse_tool_choice({"type": "function", "function": {"name": "nope"}}, tools)
    with pytest.raises(ToolError, match="use one of"):
        parse_tool_choice("sometimes", tools)
    with pytest.raises(ToolError, match="no tools to call"):
        parse_tool_choice("required", ())
    assert parse_tool_choice(None, tools).mode is ToolChoiceMode.AUTO
    assert parse_tool_choice(None, ()).mode is ToolChoiceMode.NONE


def test_generate_refuses_bad_tool_input_before_compute(noise):
    from edgekit.runtime.constraints import Constraint

    with pytest.raises(ToolError, match="not one of the tools"):
        noise.generate(ASK, tools=TOOLS, tool_choice={"type": "function", "function": {"name": "x"}})
    with pytest.raises(ToolError, match="cannot be combined"):
        noise.generate(ASK, tools=TOOLS, constraint=Constraint.json_object())
    with pytest.raises(ToolError, match="chat template"):
        noise.generate("hi", tools=TOOLS, chat=False)
    bad_call = [*ASK, {"role": "assistant", "tool_calls": [{"function": {"name": "t", "arguments": "{no"}}]}]
    with pytest.raises(ToolError, match=r"messages\[1\].tool_calls\[0\].function.arguments"):
        noise.generate(bad_call, tools=TOOLS)


# -- calls from elsewhere (a cloud) -----------------------------------------------------------------------
def _raw(name, arguments):
    return {"id": "c1", "type": "function", "function": {"name": name, "arguments": arguments}}


def test_a_foreign_call_is_checked_against_the_same_schema(noise):
    from edgekit.runtime.tool_check import checked_call

    tools, vocabulary = parse_tools(TOOLS), noise.grammar_vocabulary
    nested = '{"target": {"y": -3, "x": 10}, "speed": 2.5}'  # keys out of schema order, spaces: valid JSON
    call = checked_call(_raw("move", nested), tools, vocabulary)
    assert call.id == "c1" and json.loads(call.arguments) == json.loads(nested)
    for name, arguments, words in [
        ("move", '{"target": {"x": 11, "y": 0}, "speed": 1}', "parameters schema of 'move'"),
        ("move", '{"speed": 1}', "parameters schema"),  # target is required
        ("tag", '{"labels": []}', "parameters schema"),  # minItems 1
        ("tag", '{"labels": ["a"], "note": "far too long"}', "parameters schema"),
        ("set_timer", '{"minutes": 5, "unit": "day"}', "parameters schema"),
        ("nope", "{}", "not one of the tools"),
        ("ping", "not json", "not a JSON object"),
    ]:
        with pytest.raises(ToolError, match=words):
            checked_call(_raw(name, arguments), tools, vocabulary)
