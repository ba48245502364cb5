"""Constrained decoding (runtime/edgekit/runtime/constraints.py) on a real onnxruntime session.

The bundle is the toy decoder with an empty script: its random layer gives a nearly flat distribution over the
byte vocabulary, so at temperature 1 almost any byte is drawn. Unconstrained it writes noise; every output here
must still parse and validate, for several seeds. Each schema is bounded (enums, patterns, ranges, maxLength,
maxItems), so any token sequence the grammar allows ends well inside max_new_tokens: the tests do not depend on
which bytes a given CPU's numerics draw.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap

import pytest
from edgekit.runtime import FinishReason, load
from edgekit.runtime.constraints import Constraint, ConstraintError, ConstraintKind
from edgekit.runtime.errors import ConfigError, RuntimeGenerationError

from .toy_bundle import build_toy_bundle, script_table

MAX_CONTEXT = 512
SEEDS = range(5)
NEW = 300  # far above the longest output any of these grammars allows (byte tokens: <= 4 per character)


@pytest.fixture(scope="module")
def flat_bundle(tmp_path_factory):
    return build_toy_bundle(tmp_path_factory.mktemp("flat"), script_table(MAX_CONTEXT), max_context=MAX_CONTEXT)


@pytest.fixture(scope="module")
def flat(flat_bundle):
    return load(flat_bundle)


# -- a validator for the subset of JSON Schema used here (jsonschema is not a dependency) ---------------------
def check(value, schema, path="$"):
    """Raise AssertionError naming the path where ``value`` breaks ``schema``."""
    if "enum" in schema:
        assert value in schema["enum"], f"{path}: {value!r} not in {schema['enum']}"
    kind = schema.get("type")
    types = {"object": dict, "array": list, "string": str, "boolean": bool, "null": type(None)}
    if kind == "integer":
        assert isinstance(value, int) and not isinstance(value, bool), f"{path}: {value!r} is not an integer"
        assert schema.get("minimum", value) <= value <= schema.get("maximum", value), f"{path}: {value} out of range"
    elif kind in types:
        assert isinstance(value, types[kind]), f"{path}: {value!r} is not {kind}"
    if kind == "string":
        assert schema.get("minLength", 0) <= len(value) <= schema.get("maxLength", len(value)), f"{path}: length"
        if "pattern" in schema:
            assert re.search(schema["pattern"], value), f"{path}: {value!r} !~ {schema['pattern']}"
    if kind == "object":
        props = schema.get("properties", {})
        missing = set(schema.get("required", ())) - set(value)
        assert not missing, f"{path}: missing {sorted(missing)}"
        if schema.get("additionalProperties") is False:
            assert set(value) <= set(props), f"{path}: extra keys {sorted(set(value) - set(props))}"
        for key, sub in props.items():
            if key in value:
                check(value[key], sub, f"{path}.{key}")
    if kind == "array":
        assert schema.get("minItems", 0) <= len(value) <= schema.get("maxItems", len(value)), f"{path}: items"
        for i, item in enumerate(value):
            check(item, schema.get("items", {}), f"{path}[{i}]")


def _obj(properties, required=None):
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties) if required is None else required,
        "additionalProperties": False,
    }


SCHEMAS = {
    "enum": _obj({"color": {"enum": ["red", "green", "blue"]}, "size": {"type": "string", "enum": ["S", "M", "L"]}}),
    "pattern": _obj({"code": {"type": "string", "pattern": "^[A-Z]{2}-[0-9]{3}$"}}),
    "integer_range": _obj({"n": {"type": "integer", "minimum": -40, "maximum": 125}, "ok": {"type": "boolean"}}),
    "nested": _obj(
        {
            "user": _obj({"name": {"type": "string", "minLength": 1, "maxLength": 8}, "admin": {"type": "boolean"}}),
            "level": {"type": "integer", "minimum": 1, "maximum": 9},
        }
    ),
    "array": _obj(
        {
            "tags": {"type": "array", "items": {"enum": ["a", "bb", "ccc"]}, "minItems": 1, "maxItems": 4},
            "scores": {"type": "array", "items": {"type": "integer", "minimum": 0, "maximum": 99}, "maxItems": 3},
        }
    ),
}


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_sampled_json_follows_the_schema(flat, name):
    schema = SCHEMAS[name]
    constraint = Constraint.json_schema(schema)
    for seed in SEEDS:
        result = flat.generate("hello", constraint=constraint, temperature=1.0, seed=seed, max_new_tokens=NEW)
        assert result.finish_reason is FinishReason.STOP, (seed, result.text)
        check(json.loads(result.text), schema)


def test_without_the_constraint_the_same_draws_are_not_json(flat):
    """The control: the model alone writes noise, so the passing tests above are the grammar's doing."""
    for seed in SEEDS:
        text = flat.generate("hello", temperature=1.0, seed=seed, max_new_tokens=40).text
        with pytest.raises(ValueError):
            json.loads(text)


def test_greedy_follows_the_schema_and_is_deterministic(flat):
    schema = SCHEMAS["nested"]
    constraint = Constraint.json_schema(json.dumps(schema))  # JSON text works as well as a mapping
    first = flat.generate("hello", constraint=constraint, temperature=0, max_new_tokens=NEW)
    again = flat.generate("hello", constraint=constraint, temperature=0, max_new_tokens=NEW)
    check(json.loads(first.text), schema)
    assert first.token_ids == again.token_ids and first.finish_reason is FinishReason.STOP


def test_the_same_seed_gives_the_same_constrained_output(flat):
    constraint = Constraint.json_schema(SCHEMAS["array"])
    runs = [flat.generate("hello", constraint=constraint, temperature=1.0, seed=7, max_new_tokens=NEW) for _ in "ab"]
    assert runs[0].token_ids == runs[1].token_ids


def test_streamed_pieces_concatenate_to_the_result(flat):
    constraint = Constraint.json_schema(SCHEMAS["pattern"])
    pieces = list(flat.stream("hello", constraint=constraint, temperature=1.0, seed=2, max_new_tokens=NEW))
    result = pieces[-1].result
    assert "".join(p.text for p in pieces) == result.text and json.loads(result.text)["code"]


def test_regex(flat):
    pattern = r"[a-z]{2,6}@[a-z]{2,5}\.(com|org)"
    for seed in SEEDS:
        result = flat.generate("hello", constraint=Constraint.regex(pattern), temperature=1.0, seed=seed)
        assert re.fullmatch(pattern, result.text), (seed, result.text)
        assert result.finish_reason is FinishReason.STOP  # nothing can follow the TLD


# Context-free (nested calls with balanced parentheses): beyond a regex. Nesting is drawn with probability about
# 2/12 per argument, so the expected size is small.
CALLS = r"""
start: call
call: NAME "(" arg ("," arg)* ")"
arg: NUMBER | call
NAME: "f" | "g"
NUMBER: /[0-9]{1,2}/
"""


def _parse_call(text: str, at: int = 0) -> int:
    """Recursive-descent check of CALLS; returns the end index, raises AssertionError on a mismatch."""
    assert text[at] in "fg" and text[at + 1] == "(", text[at:]
    at += 2
    while True:
        if text[at] in "fg":
            at = _parse_call(text, at)
        else:
            digits = re.match(r"[0-9]{1,2}", text[at:])
            assert digits, text[at:]
            at += digits.end()
        if text[at] == ")":
            return at + 1
        assert text[at] == ",", text[at:]
        at += 1


def test_lark_grammar(flat):
    for seed in SEEDS:
        result = flat.generate(
            "hello", constraint=Constraint.lark(CALLS), temperature=1.0, seed=seed, max_new_tokens=NEW
        )
        assert result.finish_reason is FinishReason.STOP, (seed, result.text)
        assert _parse_call(result.text) == len(result.text), result.text


def test_json_object_parses_when_it_ends(flat):
    # any object: keys are free strings, so a near-uniform model may not close one in time; the ones that end
    # must parse, and at least one seed does end
    ended = 0
    for seed in SEEDS:
        result = flat.generate(
            "hello", constraint=Constraint.json_object(), temperature=1.0, seed=seed, max_new_tokens=NEW
        )
        if result.finish_reason is FinishReason.STOP:
            assert isinstance(json.loads(result.text), dict)
            ended += 1
        else:
            assert result.text.startswith("{")
    assert ended


# -- what each token reports ---------------------------------------------------------------------------------
def test_tokens_report_the_constrained_distribution_and_the_unconstrained_best(flat):
    result = flat.generate(
        "hello", constraint=Constraint.json_schema(SCHEMAS["enum"]), temperature=1.0, seed=1, top_logprobs=3
    )
    assert all(t.unconstrained_top_id is not None and t.unconstrained_top_logprob <= 0 for t in result.tokens)
    first = result.tokens[0]
    # '{' is the only token the grammar allows first: probability 1 under the constraint, entropy 0,
    # while the raw model preferred another token
    assert first.text == "{" and first.logprob == 0.0 and first.entropy == 0.0
    assert first.unconstrained_top_id != first.id and first.unconstrained_top_logprob < -1.0
    assert [a.id for a in first.top_logprobs] == [first.id]  # the only allowed alternative
    # the reported numbers are those of a real distribution over the allowed tokens
    assert all(t.logprob <= 0 and t.entropy >= 0 for t in result.tokens)
    assert result.confidence.n_tokens == len(result.tokens)
    assert result.to_dict()["tokens"][0]["unconstrained_top_id"] == first.unconstrained_top_id


def test_greedy_alternatives_start_with_the_chosen_token(flat):
    result = flat.generate(
        "hello", constraint=Constraint.json_schema(SCHEMAS["nested"]), temperature=0, top_logprobs=4, max_new_tokens=30
    )
    for t in result.tokens:
        assert t.top_logprobs[0].id == t.id and t.top_logprobs[0].logprob == pytest.approx(t.logprob)


def test_unconstrained_tokens_leave_the_field_empty(flat):
    result = flat.generate("hello", max_new_tokens=3)
    assert all(t.unconstrained_top_id is None and t.unconstrained_top_logprob is None for t in result.tokens)


def test_stop_strings_still_cut_a_constrained_answer(flat):
    result = flat.generate(
        "hello", constraint=Constraint.json_schema(SCHEMAS["enum"]), temperature=0, stop=['"size"'], max_new_tokens=NEW
    )
    assert (
        result.finish_reason is FinishReason.STOP and result.text.startswith('{"color":') and "size" not in result.text
    )


# -- invalid constraints: one clean error, before any compute ------------------------------------------------
@pytest.mark.parametrize(
    "make, kind, words",
    [
        (lambda: Constraint.json_schema({"type": "foo"}), "json_schema", "Invalid type: foo"),
        (lambda: Constraint.json_schema({"type": "integer", "minimum": 5, "maximum": 2}), "json_schema", "minimum"),
        (lambda: Constraint.json_schema({"type": "string", "format": "nope"}), "json_schema", "Unknown format: nope"),
        (lambda: Constraint.json_schema({"$ref": "#/$defs/missing"}), "json_schema", "/$defs/missing"),
        (lambda: Constraint.regex("a(b"), "regex", "unclosed group"),
        (lambda: Constraint.lark("start: undefined_rule"), "lark", "unknown name"),
    ],
)
def test_llguidance_refusals_are_a_clean_error_before_compute(flat, make, kind, words):
    constraint = make()
    with pytest.raises(ConstraintError) as info:
        flat.stream("hello", constraint=constraint)  # raises on the call itself, not while iterating
    err = info.value
    assert isinstance(err, ConfigError) and isinstance(err, RuntimeGenerationError)
    assert err.kind == kind and words in str(err) and "\n" not in str(err), str(err)


@pytest.mark.parametrize(
    "make, words",
    [
        (lambda: Constraint.json_schema("{not json"), "not valid JSON"),
        (lambda: Constraint.json_schema("[1, 2]"), "must be a JSON object, not list"),
        (lambda: Constraint.json_schema({"x": float("nan")}), "not JSON"),
        (lambda: Constraint.regex(""), "empty"),
        (lambda: Constraint("yaml", "a: b"), "unknown constraint kind; use one of json_schema, regex, lark"),
        (lambda: Constraint(ConstraintKind.LARK, 3), "must be a string"),
    ],
)
def test_malformed_constraints_are_refused_when_built(make, words):
    with pytest.raises(ConstraintError) as info:
        make()
    assert words in str(info.value)


def test_a_non_constraint_is_refused(flat):
    with pytest.raises(ConstraintError, match="use an edgekit.runtime.constraints.Constraint, not dict"):
        flat.generate("hello", constraint={"type": "object"})


def test_llguidance_is_imported_only_by_a_constrained_call(flat_bundle):
    code = textwrap.dedent(
        f"""
        import sys
        from edgekit.runtime import load
        from edgekit.runtime.constraints import Constraint
        model = load({str(flat_bundle)!r})
        model.generate("hello", max_new_tokens=2)
        assert "llguidance" not in sys.modules, "plain generation imported llguidance"
        model.generate("hello", max_new_tokens=4, constraint=Constraint.regex("[0-9]+"))
        assert "llguidance" in sys.modules
        """
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]


# -- the mask composes with every other sampling option ------------------------------------------------------
@pytest.mark.parametrize(
    "options",
    [
        {"logit_bias": {ord("x"): 100.0}},  # +100 on a token the grammar forbids cannot bring it back
        {"top_k": 50},  # more candidates than the 10 allowed digits: the banned ones must never be drawn
        {"top_p": 0.5},
        {"min_p": 0.2},
        {"repetition_penalty": 1.5, "frequency_penalty": 1.0, "presence_penalty": 1.0},
    ],
)
def test_the_grammar_holds_under_every_sampling_option(flat, options):
    for seed in range(8):
        result = flat.generate("hello", constraint=Constraint.regex("[0-9]{3}"), temperature=1.0, seed=seed, **options)
        assert re.fullmatch("[0-9]{3}", result.text), (options, seed, result.text)


def test_a_bias_still_steers_the_choice_among_allowed_tokens(flat):
    result = flat.generate(
        "hello", constraint=Constraint.regex("[0-9]{3}"), temperature=1.0, seed=0, logit_bias={ord("7"): 100.0}
    )
    assert result.text == "777"


def test_concurrent_constrained_calls_match_sequential_ones(flat):
    import threading

    jobs = [Constraint.json_schema(SCHEMAS[name]) for name in sorted(SCHEMAS)]
    expected = [flat.generate("hello", constraint=c, temperature=1.0, seed=3, max_new_tokens=NEW).text for c in jobs]
    got: dict[int, str] = {}

    def run(i: int) -> None:
        got[i] = flat.generate("hello", constraint=jobs[i], temperature=1.0, seed=3, max_new_tokens=NEW).text

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(jobs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert [got[i] for i in range(len(jobs))] == expected
