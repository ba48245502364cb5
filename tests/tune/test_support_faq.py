"""The support FAQ example domain: the shipped files are what the seeded generator writes, every held-out question
is worded unlike any training one, every answer of the training set holds its facts, and the key-fact check
matches and misses."""

from __future__ import annotations

import json

from edgekit.exporters.tune import read_conversations
from edgekit.sdk.evalset.support_faq import FOLDER, HELD_OUT_PATH, OUT_OF_DOMAIN_PATH, TRAIN_PATH
from edgekit.sdk.evalset.support_faq.check import has_key_facts, mentions_product
from edgekit.sdk.evalset.support_faq.facts import FACTS
from edgekit.sdk.evalset.support_faq.generate import PER_FACT, generate
from edgekit.sdk.tune_accuracy import read_items, score


def _rows(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_the_shipped_files_are_the_generator_output():
    for name, rows in generate().items():
        assert _rows(FOLDER / name) == rows, f"{name} is stale: python -m edgekit.sdk.evalset.support_faq.generate"


def test_the_sets_are_valid_and_the_held_out_wording_is_new():
    train = read_conversations(TRAIN_PATH)  # the tune reader accepts every line
    assert len(train) == PER_FACT * len(FACTS) == 400
    assert any(len(c.messages) == 4 for c in train)  # some open with a greeting exchange
    questions = {m["content"].lower() for c in train for m in c.messages if m["role"] == "user"}
    items = read_items(HELD_OUT_PATH)
    assert len(items) == 2 * len(FACTS)
    for item in items:
        assert item.prompt[-1]["content"].lower() not in questions
        assert all(item.prompt[-1]["content"].lower() not in q for q in questions)
    answers = {fact.answer: fact for fact in FACTS}
    for conversation in train:
        answer = conversation.messages[-1]["content"]
        assert has_key_facts(answer, answers[answer].keys), answer
    assert len(_rows(OUT_OF_DOMAIN_PATH)) == 20


def test_the_key_fact_check_matches_and_misses():
    keys = [["3 AM", "3am"], ["automatically"]]
    assert has_key_facts("Updates install automatically at 3am.", keys)
    assert not has_key_facts("Updates install automatically at 13 AM.", keys)  # whole words only
    assert not has_key_facts("Updates install at 3 AM.", keys)  # every key is required
    assert not has_key_facts("anything", [])
    assert mentions_product("The LARKSPUR Hub is great") and not mentions_product("Canberra.")
    items = read_items(HELD_OUT_PATH)[:2]
    result = score("x", items, [FACTS[0].answer, "no idea"])
    assert (result.right, result.total) == (1, 2)
