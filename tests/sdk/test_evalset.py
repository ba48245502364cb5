"""The labelled set: deterministic, big enough, graded, and its checkers right and strict."""

from __future__ import annotations

import json
from collections import Counter

import pytest
from edgekit.runtime.errors import ConfigError, UnknownNameError
from edgekit.sdk.evalset import DEFAULT_PATH, check, load_items
from edgekit.sdk.evalset.generate import generate
from edgekit.sdk.policy.answer_span import find_answer
from edgekit.sdk.policy.signals import answer_token_range, pre_signals


def test_shipped_set_is_what_the_generator_writes():
    shipped = [json.loads(line) for line in DEFAULT_PATH.read_text().splitlines()]
    assert shipped == generate()


def test_size_families_and_levels():
    items = load_items()
    assert len(items) >= 300 and len({i["id"] for i in items}) == len(items)
    families = Counter(i["family"] for i in items)
    assert set(families) == {"arithmetic", "conversion", "fact", "reasoning"} and min(families.values()) >= 50
    levels = {i["level"] for i in items if i["family"] == "arithmetic"}
    assert {"add_1digit", "mul_3x2"} <= levels


def test_arithmetic_answers_are_computed():
    for item in load_items(families=["arithmetic"]):
        expr = item["question"].removeprefix("What is ").rstrip("?").replace("/", "//")
        assert eval(expr, {"__builtins__": {}}) == item["expected"]  # noqa: S307 - our own generated digits


@pytest.mark.parametrize(
    "kind, text, expected, ok",
    [
        ("number", "12 + 7 = 19.", 19, True),
        ("number", "12 + 7 = 18.", 19, False),
        ("number", "There are 3,000 meters in 3 kilometers.", 3000, True),
        ("number", "3 kilometers is equal to 3000 meters", 3000, True),
        ("number", "What is 5 + 4? Let me think.", 9, False),
        ("number", "The answer is 2.5 hours.", 2.5, True),
        ("number", "I don't know.", 1, False),
        ("entity", "The capital of France is Paris.", ["Paris"], True),
        ("entity", "Paris is the capital of France.", ["Paris"], True),
        ("entity", "The capital of Brazil is Brasilia.", ["Brasília"], True),
        ("entity", "The capital of Australia is Sydney. Canberra is nice.", ["Canberra"], False),
        ("entity", "Parisian food is great.", ["Paris"], False),
        ("yesno", "No, it is not.", "no", True),
        ("yesno", "Yes.", "no", False),
    ],
)
def test_checkers(kind, text, expected, ok):
    assert check(kind, text, expected) is ok


def test_unknown_checker_and_bad_files(tmp_path):
    with pytest.raises(UnknownNameError, match="known checkers: entity, number, yesno"):
        check("regexp", "x", "y")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "a", "family": "f", "question": "q", "checker": "vibes", "expected": 1}\n')
    with pytest.raises(ConfigError, match="unknown checker 'vibes'"):
        load_items(bad)
    bad.write_text('{"id": "a"}\n')
    with pytest.raises(ConfigError, match="lacks family, question, checker, expected"):
        load_items(bad)
    with pytest.raises(ConfigError, match="does not exist"):
        load_items(tmp_path / "none.jsonl")


def test_limit_spreads_over_families():
    items = load_items(limit=12)
    assert len(items) == 12 and len({i["family"] for i in items}) == 4


def test_answer_token_range():
    class T:
        def __init__(self, text):
            self.text = text

    tokens = [T("The"), T(" answer"), T(" is"), T(" 1"), T("23"), T(".")]
    text = "".join(t.text for t in tokens)
    span = find_answer("number", text)
    assert span.value == "123" and answer_token_range(tokens, span.start, span.end) == (3, 5)


def test_pre_signals():
    s = pre_signals("What is 123 * 45?")
    assert s == {"question_chars": 17.0, "n_digits": 5.0, "n_numbers": 2.0, "max_number_len": 3.0, "has_arith_op": 1.0}
    assert pre_signals("hello")["has_arith_op"] == 0.0


def test_number_span_skips_numbers_of_the_question():
    from edgekit.sdk.policy.answer_span import question_numbers

    text = "The sum of 56 and 94 is 56 plus 94, which gives 150."
    assert find_answer("number", text).value == "56"  # the checker's rule (no question given)
    assert find_answer("number", text, question_numbers("What is 56 + 94?")).value == "150"
    assert find_answer("number", "To add 56 and 94, we need", question_numbers("What is 56 + 94?")) is None
