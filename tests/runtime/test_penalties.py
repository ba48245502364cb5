"""Frequency/presence penalties, logit bias, top_logprobs and option validation: on hand-computed logits, and on
the scripted toy bundle (a real onnxruntime session) through ``LocalModel.generate``."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from edgekit.runtime import RuntimeGenerationError, Sampler, SamplingOptions, TokenAlternative, TokenInfo
from edgekit.runtime.errors import ConfigError
from edgekit.runtime.sampler import SamplingOptionError

from .conftest import ANSWER, START

PROMPT = "hello"  # chat-templated: 24 tokens, so the script answers ANSWER[3:] greedily
GREEDY = ANSWER[24 - 1 - START :]


def greedy_prefix(n_tokens: int) -> str:
    """The unbiased greedy text of ``n_tokens`` byte tokens (one token per UTF-8 byte in the toy tokenizer)."""
    return GREEDY.encode()[:n_tokens].decode()


def f32(*values: float) -> np.ndarray:
    return np.array(values, dtype=np.float32)


# -- penalties on known logits --------------------------------------------------------------------------
def test_frequency_and_presence_penalties_follow_openai_formula():
    logits = f32(1.0, 2.0, 3.0, 0.5)
    counts = {2: 3, 0: 1}  # token 2 generated three times, token 0 once, tokens 1 and 3 never
    sampler = Sampler(SamplingOptions(frequency_penalty=0.5, presence_penalty=0.25))
    # by hand: token 0: 1.0 - 1*0.5 - 0.25 = 0.25; token 2: 3.0 - 3*0.5 - 0.25 = 1.25; others unchanged
    assert sampler.adjusted(logits, counts=counts).tolist() == pytest.approx([0.25, 2.0, 1.25, 0.5])
    assert sampler.sample(logits, counts=counts)[0] == 1  # 2.0 now beats the penalised 3.0
    assert Sampler(SamplingOptions()).sample(logits, counts=counts)[0] == 2
    assert logits.tolist() == [1.0, 2.0, 3.0, 0.5]  # the caller's logits are never written


def test_presence_penalty_ignores_the_count_and_negative_values_encourage():
    logits = f32(1.0, 2.0, 3.0)
    presence = Sampler(SamplingOptions(presence_penalty=2.0)).adjusted(logits, counts={0: 1, 2: 5})
    assert presence.tolist() == pytest.approx([-1.0, 2.0, 1.0])  # 1-2, unchanged, 3-2 (5 repeats count once)
    encourage = Sampler(SamplingOptions(frequency_penalty=-1.0)).adjusted(logits, counts={0: 2})
    assert encourage.tolist() == pytest.approx([3.0, 2.0, 3.0])  # 1.0 + 2 * 1.0
    assert Sampler(SamplingOptions(frequency_penalty=-1.0, presence_penalty=-0.5)).sample(logits, counts={0: 2})[0] == 0


def test_repetition_penalty_divides_positive_multiplies_negative_once_per_seen_token():
    logits = f32(2.0, -1.0, 0.5, 4.0)
    out = Sampler(SamplingOptions(repetition_penalty=2.0)).adjusted(logits, history=[0, 1, 1, 0])
    assert out.tolist() == pytest.approx([1.0, -2.0, 0.5, 4.0])  # 2/2, -1*2, unseen, unseen


def test_bias_is_added_before_the_penalties():
    logits = f32(1.0, 0.0)
    options = SamplingOptions(logit_bias={0: 3.0}, repetition_penalty=2.0, frequency_penalty=0.5)
    # bias first: (1 + 3) / 2 = 2.0 for the repetition penalty, then minus 1 * 0.5 = 1.5
    assert Sampler(options).adjusted(logits, history={0}, counts={0: 1}).tolist() == pytest.approx([1.5, 0.0])


def test_penalties_and_bias_leave_the_reported_logprob_on_raw_logits():
    logits = f32(3.0, 1.0, 0.5)
    options = SamplingOptions(logit_bias={2: 50.0}, frequency_penalty=2.0, presence_penalty=2.0)
    token, logprob, _ = Sampler(options).sample(logits, counts={0: 4})
    assert token == 2
    z = math.exp(3.0) + math.exp(1.0) + math.exp(0.5)
    assert logprob == pytest.approx(0.5 - math.log(z), abs=1e-6)


# -- logit bias ------------------------------------------------------------------------------------------
def test_logit_bias_plus_100_forces_and_minus_100_bans_on_known_logits():
    logits = f32(5.0, 4.0, -3.0)
    assert Sampler(SamplingOptions(logit_bias={2: 100})).sample(logits)[0] == 2
    assert Sampler(SamplingOptions(logit_bias={0: -100})).sample(logits)[0] == 1
    sampled = Sampler(SamplingOptions(temperature=1.0, seed=0, logit_bias={0: -100, 1: -100}))
    assert {sampled.sample(logits)[0] for _ in range(200)} == {2}


def test_logit_bias_forces_and_bans_tokens_of_a_real_model(toy_model):
    assert toy_model.generate(PROMPT, max_new_tokens=6).text == greedy_prefix(6)  # the script, unbiased
    forced = toy_model.generate(PROMPT, max_new_tokens=5, logit_bias={ord("Z"): 100})
    assert forced.text == "ZZZZZ"
    banned = toy_model.generate(PROMPT, max_new_tokens=3, logit_bias={ord(GREEDY[0]): -100})
    assert banned.token_ids[0] != ord(GREEDY[0])


def test_logit_bias_outside_the_logits_is_refused_by_the_sampler_too():
    sampler = Sampler(SamplingOptions(logit_bias={3: 1.0, 10**30: 1.0}))
    with pytest.raises(SamplingOptionError, match=r"outside this model's vocabulary; use ids in \[0, 4\)"):
        sampler.sample(f32(0.0, 1.0, 2.0, 3.0))


def test_logit_bias_outside_the_vocabulary_is_refused_before_compute(toy_model):
    with pytest.raises(SamplingOptionError) as info:
        toy_model.stream(PROMPT, logit_bias={300: 5.0})  # the toy vocabulary has 259 ids
    assert info.value.option == "logit_bias" and "[0, 259)" in str(info.value) and "300" in str(info.value)


# -- penalties through generation --------------------------------------------------------------------------
def test_penalties_in_generation_count_output_tokens_only(toy_model):
    # The script favours its token by +30 at every position. A bias of +33 on "Z" wins by 3; frequency_penalty=2
    # takes 2 per earlier "Z": 33 > 30, 31 > 30, then 29 < 30, so exactly two "Z"s, then the script again.
    freq = toy_model.generate(PROMPT, max_new_tokens=4, logit_bias={ord("Z"): 33}, frequency_penalty=2)
    script = list(GREEDY.encode())
    assert freq.token_ids == [ord("Z"), ord("Z"), *script[2:4]]
    # presence: the penalty is paid once, whatever the count: 33 - 2 = 31 still wins every step
    pres = toy_model.generate(PROMPT, max_new_tokens=4, logit_bias={ord("Z"): 33}, presence_penalty=2)
    assert pres.text == "ZZZZ"
    # the prompt does not count: "l" occurs twice in the prompt "hello", yet with +31 it is chosen first;
    # only its own repetition (31 - 2 < 30) stops it
    ell = toy_model.generate(PROMPT, max_new_tokens=3, logit_bias={ord("l"): 31}, presence_penalty=2)
    assert ell.token_ids == [ord("l"), *script[1:3]]
    # while the repetition penalty does see the prompt: 31 / 1.2 < 30 from the first token on
    rep = toy_model.generate(PROMPT, max_new_tokens=3, logit_bias={ord("l"): 31}, repetition_penalty=1.2)
    assert rep.token_ids == script[:3]


def test_seed_makes_sampling_reproducible_on_a_real_model(toy_model):
    hot = {"temperature": 100.0, "max_new_tokens": 8}  # flat enough that the draw, not the script, decides
    a = toy_model.generate(PROMPT, seed=7, **hot).token_ids
    assert a == toy_model.generate(PROMPT, seed=7, **hot).token_ids
    assert a != toy_model.generate(PROMPT, seed=8, **hot).token_ids


# -- top_logprobs ------------------------------------------------------------------------------------------
def test_top_logprobs_on_known_logits():
    probs = [0.1, 0.4, 0.2, 0.3]
    logits = np.log(np.array(probs, dtype=np.float32))
    draw = Sampler(SamplingOptions(top_logprobs=3)).step(logits)
    assert [t for t, _ in draw.top] == [1, 3, 2]
    assert [lp for _, lp in draw.top] == pytest.approx([math.log(0.4), math.log(0.3), math.log(0.2)], abs=1e-6)
    assert draw.token == 1 and draw.top[0][1] == draw.logprob  # the chosen token's entry is the same number
    assert Sampler(SamplingOptions()).step(logits).top == ()
    everything = Sampler(SamplingOptions(top_logprobs=20)).step(logits).top  # k > vocabulary: all of it
    assert [t for t, _ in everything] == [1, 3, 2, 0]


def test_top_logprobs_ties_keep_the_lower_id_first():
    draw = Sampler(SamplingOptions(top_logprobs=2)).step(f32(0.0, 1.0, 1.0, 1.0))
    assert [t for t, _ in draw.top] == [1, 2]


def test_generated_tokens_carry_sorted_alternatives(toy_model):
    result = toy_model.generate(PROMPT, max_new_tokens=12, top_logprobs=4)
    assert result.text == greedy_prefix(12)  # 12 byte tokens
    for token in result.tokens:
        assert type(token) is TokenInfo and len(token.top_logprobs) == 4
        assert all(type(alt) is TokenAlternative for alt in token.top_logprobs)
        logprobs = [alt.logprob for alt in token.top_logprobs]
        assert logprobs == sorted(logprobs, reverse=True)
        assert token.top_logprobs[0].id == token.id and token.top_logprobs[0].logprob == token.logprob
    # the first byte of "ö" decodes to U+FFFD on its own, but its bytes are the real one
    first = next(t for t in result.tokens if t.id == "ö".encode()[0])
    assert first.top_logprobs[0].text == "\ufffd" and first.top_logprobs[0].utf8 == (0xC3,)
    w = result.tokens[0].top_logprobs[0]
    assert (w.text, w.utf8) == ("w", (ord("w"),))
    plain = toy_model.generate(PROMPT, max_new_tokens=2)
    assert all(t.top_logprobs == () for t in plain.tokens)


def test_result_to_dict_lists_the_alternatives_as_json(toy_model):
    data = json.loads(json.dumps(toy_model.generate(PROMPT, max_new_tokens=3, top_logprobs=2).to_dict()))
    first = data["tokens"][0]
    assert [a["id"] for a in first["top_logprobs"]][0] == first["id"]
    assert first["top_logprobs"][0] == {"id": first["id"], "text": "w", "logprob": first["logprob"], "utf8": [119]}
    plain = toy_model.generate(PROMPT, max_new_tokens=1).to_dict()
    assert plain["tokens"][0]["top_logprobs"] == []


# -- validation --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "option, value, allowed",
    [
        ("frequency_penalty", 2.5, "[-2, 2]"),
        ("frequency_penalty", -2.01, "[-2, 2]"),
        ("presence_penalty", float("nan"), "[-2, 2]"),
        ("presence_penalty", "1", "use a number"),
        ("logit_bias", {5: 101}, "[-100, 100]"),
        ("logit_bias", {5: float("inf")}, "[-100, 100]"),
        ("logit_bias", {-1: 1.0}, "non-negative integer"),
        ("logit_bias", {"5": 1.0}, "non-negative integer"),
        ("logit_bias", [3], "mapping of token id"),
        ("top_logprobs", 21, "[0, 20]"),
        ("top_logprobs", -1, "[0, 20]"),
        ("top_logprobs", 1.5, "[0, 20]"),
        ("top_k", -1, "positive integer"),
        ("min_p", 1.0, "[0, 1)"),
        ("seed", -3, "non-negative integer"),
    ],
)
def test_out_of_range_options_name_the_option_value_and_range(option, value, allowed):
    with pytest.raises(SamplingOptionError) as info:
        SamplingOptions(**{option: value})
    err = info.value
    assert err.option == option and allowed in err.allowed and str(err).startswith(f"{option}=")
    assert isinstance(err, ConfigError) and isinstance(err, RuntimeGenerationError)


def test_bounds_are_inclusive_and_bias_is_stored_as_sorted_pairs():
    options = SamplingOptions(frequency_penalty=-2, presence_penalty=2, logit_bias={9: -100, 2: 100}, top_logprobs=20)
    assert options.logit_bias == ((2, 100.0), (9, -100.0))
    assert hash(options) == hash(
        SamplingOptions(frequency_penalty=-2, presence_penalty=2, logit_bias=((9, -100), (2, 100)), top_logprobs=20)
    )


def test_generate_refuses_bad_penalties_before_compute(toy_model):
    with pytest.raises(RuntimeGenerationError, match=r"frequency_penalty=3 is invalid: use a number in \[-2, 2\]"):
        toy_model.stream(PROMPT, frequency_penalty=3)
