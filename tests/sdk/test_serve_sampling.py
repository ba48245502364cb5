"""The sampling and logprob fields of `edgekit serve` that the runtime sampler implements: frequency/presence
penalties, logit_bias, seed, top_logprobs (chat, streamed chat, /v1/completions), and a clean 400 for every value
out of range. The official openai client (or raw JSON over httpx) against a real server on 127.0.0.1 with the
real tiny model; expected values come from the same model called directly."""

from __future__ import annotations

import httpx
import pytest
from edgekit.sdk.serve import serve_in_thread

from .serve_support import STORY, openai_client, story_chat

MSGS = STORY
PROMPT = "Once upon a time"


@pytest.fixture(scope="module")
def server(tiny_local):
    with serve_in_thread(tiny_local) as srv:
        yield srv


def _post(server, path, **body):
    return httpx.post(server.url + path, json={"model": server.options.model_id, **body}, timeout=60)


# -- penalties --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "penalty",
    [{"frequency_penalty": 2.0}, {"presence_penalty": 1.5}, {"frequency_penalty": -2.0, "presence_penalty": -1}],
)
def test_frequency_and_presence_penalties_are_honoured(server, tiny_local, penalty):
    reply = story_chat(server, max_tokens=12, temperature=0, **penalty)
    expected = tiny_local.generate(MSGS, max_new_tokens=12, temperature=0.0, **penalty)
    baseline = tiny_local.generate(MSGS, max_new_tokens=12, temperature=0.0)
    assert reply.choices[0].message.content == expected.text
    assert expected.token_ids != baseline.token_ids, f"{penalty} does not change this model's output"


def test_penalties_on_completions_too(server, tiny_local):
    reply = _post(server, "/v1/completions", prompt=PROMPT, max_tokens=12, temperature=0, frequency_penalty=2)
    expected = tiny_local.generate(PROMPT, max_new_tokens=12, temperature=0.0, frequency_penalty=2.0, chat=False)
    assert reply.status_code == 200 and reply.json()["choices"][0]["text"] == expected.text


# -- logit_bias ---------------------------------------------------------------------------------------------
def test_logit_bias_plus_100_forces_a_token_and_minus_100_bans_it(server, tiny_local):
    baseline = tiny_local.generate(MSGS, max_new_tokens=4, temperature=0.0)
    first = baseline.token_ids[0]
    forced_id = next(t for t in range(1000, 2000) if t not in baseline.token_ids)
    forced = story_chat(server, max_tokens=4, temperature=0, logit_bias={str(forced_id): 100}, logprobs=True)
    local = tiny_local.generate(MSGS, max_new_tokens=4, temperature=0.0, logit_bias={forced_id: 100.0})
    assert local.token_ids == [forced_id] * 4
    assert forced.choices[0].message.content == local.text == tiny_local.tokenizer.decode([forced_id] * 4)
    # the reported logprob is still the model's own (raw logits): a forced token is an unlikely one
    assert [c.logprob for c in forced.choices[0].logprobs.content] == pytest.approx([t.logprob for t in local.tokens])
    assert all(c.logprob < -5 for c in forced.choices[0].logprobs.content)
    banned = story_chat(server, max_tokens=4, temperature=0, logit_bias={str(first): -100})
    local = tiny_local.generate(MSGS, max_new_tokens=4, temperature=0.0, logit_bias={first: -100.0})
    assert first not in local.token_ids and banned.choices[0].message.content == local.text


# -- seed -----------------------------------------------------------------------------------------------------
def test_seed_gives_the_same_tokens_and_another_seed_others(server, tiny_local):
    hot = {"temperature": 1.5, "max_tokens": 10}
    a = story_chat(server, seed=1, **hot).choices[0].message.content
    assert a == story_chat(server, seed=1, **hot).choices[0].message.content
    assert a == tiny_local.generate(MSGS, temperature=1.5, max_new_tokens=10, seed=1).text
    assert a != story_chat(server, seed=2, **hot).choices[0].message.content


# -- top_logprobs -----------------------------------------------------------------------------------------------
def _local_top(tiny_local, k, **options):
    return tiny_local.generate(MSGS, top_logprobs=k, **options)


def test_top_logprobs_are_k_sorted_alternatives_with_the_chosen_token_first(server, tiny_local):
    reply = story_chat(server, max_tokens=6, temperature=0, logprobs=True, top_logprobs=5)
    local = _local_top(tiny_local, 5, max_new_tokens=6, temperature=0.0)
    content = reply.choices[0].logprobs.content
    assert len(content) == len(local.tokens) == 6
    for entry, token in zip(content, local.tokens):
        top = entry.top_logprobs
        assert len(top) == 5
        assert [t.logprob for t in top] == sorted((t.logprob for t in top), reverse=True)
        # greedy: the chosen token is the most likely one, with the very same logprob
        assert top[0].logprob == entry.logprob == token.logprob
        assert [t.logprob for t in top] == pytest.approx([a.logprob for a in token.top_logprobs])
        assert [t.token for t in top] == [a.text for a in token.top_logprobs]
        assert [t.bytes for t in top] == [list(a.utf8) for a in token.top_logprobs]


def test_sampled_tokens_report_their_own_logprob_and_the_top_k(server, tiny_local):
    reply = story_chat(server, max_tokens=8, temperature=1.5, seed=5, logprobs=True, top_logprobs=3)
    local = _local_top(tiny_local, 3, max_new_tokens=8, temperature=1.5, seed=5)
    content = reply.choices[0].logprobs.content
    assert [c.logprob for c in content] == pytest.approx([t.logprob for t in local.tokens])
    for entry in content:
        assert len(entry.top_logprobs) == 3 and entry.logprob <= entry.top_logprobs[0].logprob + 1e-9


def test_streamed_chunks_carry_logprobs_and_top_logprobs(server, tiny_local):
    stream = story_chat(server, max_tokens=6, temperature=0, logprobs=True, top_logprobs=4, stream=True)
    entries = [c for chunk in stream for ch in chunk.choices if ch.logprobs for c in ch.logprobs.content]
    local = _local_top(tiny_local, 4, max_new_tokens=6, temperature=0.0)
    assert [e.logprob for e in entries] == pytest.approx([t.logprob for t in local.tokens])
    assert [[t.logprob for t in e.top_logprobs] for e in entries] == [
        pytest.approx([a.logprob for a in t.top_logprobs]) for t in local.tokens
    ]


def test_completions_logprobs_n_gives_top_alternatives_plain_and_streamed(server, tiny_local):
    c = openai_client(server)
    plain = c.completions.create(model=server.options.model_id, prompt=PROMPT, max_tokens=6, temperature=0, logprobs=3)
    local = tiny_local.generate(PROMPT, max_new_tokens=6, temperature=0.0, top_logprobs=3, chat=False)
    lp = plain.choices[0].logprobs
    assert lp.token_logprobs == pytest.approx([t.logprob for t in local.tokens])
    assert len(lp.top_logprobs) == 6
    for top, token in zip(lp.top_logprobs, local.tokens):
        want = {}
        for a in token.top_logprobs:
            want.setdefault(a.text, a.logprob)
        assert top == pytest.approx(want) and 1 <= len(top) <= 3
        assert max(top.values()) == pytest.approx(token.logprob)  # greedy: the chosen token is the best
    streamed = c.completions.create(
        model=server.options.model_id, prompt=PROMPT, max_tokens=6, temperature=0, logprobs=3, stream=True
    )
    tops = [t for chunk in streamed for ch in chunk.choices if ch.logprobs for t in ch.logprobs.top_logprobs]
    assert tops == lp.top_logprobs
    zero = c.completions.create(model=server.options.model_id, prompt=PROMPT, max_tokens=2, temperature=0, logprobs=0)
    assert zero.choices[0].logprobs.top_logprobs is None


# -- out of range: a clean 400 naming the field, the value and the range ------------------------------------------
@pytest.mark.parametrize(
    "path, extra, param, words",
    [
        ("/v1/chat/completions", {"frequency_penalty": 2.5}, "frequency_penalty", ["2.5", "[-2.0, 2.0]"]),
        ("/v1/chat/completions", {"frequency_penalty": "high"}, "frequency_penalty", ["'high'", "[-2.0, 2.0]"]),
        ("/v1/completions", {"presence_penalty": -3}, "presence_penalty", ["-3", "[-2.0, 2.0]"]),
        ("/v1/chat/completions", {"logit_bias": {"5": 101}}, "logit_bias", ["101", "[-100, 100]"]),
        ("/v1/completions", {"logit_bias": {"5": -100.5}}, "logit_bias", ["-100.5", "[-100, 100]"]),
        ("/v1/chat/completions", {"logit_bias": {"abc": 1}}, "logit_bias", ["'abc'", "non-negative integer"]),
        ("/v1/chat/completions", {"logit_bias": {"-1": 1}}, "logit_bias", ["'-1'", "non-negative integer"]),
        ("/v1/chat/completions", {"logit_bias": [1, 2]}, "logit_bias", ["[1, 2]", "[-100, 100]"]),
        ("/v1/chat/completions", {"logit_bias": {"49152": 1}}, "logit_bias", ["49152", "[0, 49152)"]),
        ("/v1/completions", {"logit_bias": {"10000000": 1}}, "logit_bias", ["10000000", "[0, 49152)"]),
        ("/v1/chat/completions", {"logprobs": True, "top_logprobs": 21}, "top_logprobs", ["21", "[0, 20]"]),
        ("/v1/chat/completions", {"logprobs": True, "top_logprobs": -1}, "top_logprobs", ["-1", "[0, 20]"]),
        ("/v1/chat/completions", {"top_logprobs": 3}, "top_logprobs", ["top_logprobs=3", "logprobs=true"]),
        ("/v1/completions", {"logprobs": 6}, "logprobs", ["6", "[0, 5]"]),
        ("/v1/chat/completions", {"top_k": -1}, "top_k", ["-1", ">= 0"]),
        ("/v1/chat/completions", {"min_p": 1.0}, "min_p", ["1.0", "[0.0, 1.0)"]),
        ("/v1/chat/completions", {"seed": -1}, "seed", ["-1", ">= 0"]),
        ("/v1/completions", {"repetition_penalty": 0}, "repetition_penalty", ["0", "(0.0, 10.0]"]),
    ],
)
def test_out_of_range_fields_are_a_clean_400(server, path, extra, param, words):
    source = {"messages": MSGS} if path == "/v1/chat/completions" else {"prompt": PROMPT}
    reply = _post(server, path, max_tokens=2, **source, **extra)
    assert reply.status_code == 400, reply.text
    err = reply.json()["error"]
    assert err["param"] == param and err["type"] == "invalid_request_error", err
    assert all(w in err["message"] for w in words), err


def test_the_vocabulary_bound_is_the_model_s(server, tiny_local):
    last = tiny_local.backend.vocab_size - 1
    ok = _post(server, "/v1/chat/completions", messages=MSGS, max_tokens=2, temperature=0, logit_bias={str(last): 100})
    assert ok.status_code == 200
    assert (
        tiny_local.tokenizer.decode([last] * 2, skip_special_tokens=False)
        == ok.json()["choices"][0]["message"]["content"]
    )
