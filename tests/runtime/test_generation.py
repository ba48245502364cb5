"""Generation rules on the scripted toy bundle: greedy text, streaming, stops, eos, limits, context policies."""

from __future__ import annotations

import pytest
from edgekit.runtime import ContextOverflowError, FinishReason, RuntimeGenerationError, load

from .conftest import ANSWER, START
from .toy_bundle import IM_END, build_toy_bundle, script_table

PROMPT = "hello"  # chat-templated: 24 tokens


def expected_answer(prompt_len: int) -> bytes:
    """What the script makes a greedy run say after a prompt of ``prompt_len`` tokens."""
    return ANSWER.encode("utf-8")[prompt_len - 1 - START :]


def test_greedy_follows_the_script_and_stops_at_eos(toy_model):
    result = toy_model.generate(PROMPT, max_new_tokens=40)
    want = expected_answer(result.prompt_tokens)
    assert result.prompt_tokens == toy_model.count_tokens(PROMPT) == 24
    assert result.finish_reason == FinishReason.EOS == "eos"
    assert result.token_ids == list(want)  # eos id is not part of token_ids
    assert IM_END not in result.token_ids
    assert result.text == want.decode("utf-8")
    assert len(result.tokens) == len(result.token_ids)


def test_stream_never_splits_a_utf8_character(toy_model):
    pieces = list(toy_model.stream(PROMPT, max_new_tokens=40))
    result = pieces[-1].result
    assert result is not None and pieces[-1].token is None
    streamed = "".join(p.text for p in pieces)
    assert streamed == result.text
    assert all("\ufffd" not in p.text for p in pieces)
    by_token = [(p.token.id, p.text) for p in pieces if p.token is not None]
    # "ö" is two byte-tokens: the first yields "", the second the whole character
    i = next(k for k, (tid, _) in enumerate(by_token) if tid == "ö".encode()[0])
    assert by_token[i][1] == "" and by_token[i + 1][1] == "ö"
    # the emoji is four byte-tokens: three empty pieces then the character
    j = next(k for k, (tid, _) in enumerate(by_token) if tid == "😀".encode()[0])
    assert [t for _, t in by_token[j : j + 4]] == ["", "", "", "😀"]
    # TokenInfo.text is the token's share of the text
    assert "".join(p.token.text for p in pieces if p.token) == result.text


def test_stop_string_cuts_text_and_is_never_streamed(toy_model):
    pieces = list(toy_model.stream(PROMPT, max_new_tokens=40, stop="END"))
    result = pieces[-1].result
    full = expected_answer(result.prompt_tokens).decode()
    assert result.finish_reason == "stop"
    assert result.text == full[: full.index("END")]
    streamed = "".join(p.text for p in pieces)
    assert streamed == result.text and "E" not in streamed
    # the token that completed "END" stays in token_ids
    assert bytes(result.token_ids).decode().endswith("END")


def test_earliest_of_several_stops_wins(toy_model):
    result = toy_model.generate(PROMPT, max_new_tokens=40, stop=["tail", "ok"])
    full = expected_answer(result.prompt_tokens).decode()
    assert result.finish_reason == "stop" and result.text == full[: full.index("ok")]


def test_partial_stop_match_is_released(toy_model):
    # "okay" shares the prefix "ok" with the text: held back, then released when " " arrives
    pieces = list(toy_model.stream(PROMPT, max_new_tokens=40, stop=["okay", "! 😀 ok END tail!"]))
    result = pieces[-1].result
    assert result.finish_reason == "eos"
    assert "".join(p.text for p in pieces) == result.text == expected_answer(result.prompt_tokens).decode()


def test_max_new_tokens_gives_length(toy_model):
    result = toy_model.generate(PROMPT, max_new_tokens=3)
    assert result.finish_reason == "length"
    assert result.token_ids == list(expected_answer(result.prompt_tokens)[:3])
    assert result.timings.generated_tokens == 3 and result.timings.prompt_tokens == 24


def test_bundle_default_max_new_tokens(toy_model):
    result = toy_model.generate(PROMPT, stop="zzz")  # GenerationDefaults(max_new_tokens=16) in the toy manifest
    assert len(result.token_ids) == min(16, len(expected_answer(24)))


def test_messages_list_is_templated(toy_model):
    messages = [{"role": "user", "content": PROMPT}]
    assert (
        toy_model.generate(messages, max_new_tokens=5).token_ids
        == toy_model.generate(PROMPT, max_new_tokens=5).token_ids
    )
    rendered = toy_model.render_chat(messages)
    assert rendered == "<|im_start|>user\nhello<|im_end|>\n<|im_start|>assistant\n"
    assert toy_model.render_chat(messages, add_generation_prompt=False) == "<|im_start|>user\nhello<|im_end|>\n"


def test_plain_prompt_without_template(toy_model):
    raw = "x" * 22  # 22 tokens: last position 21 lands in the script
    result = toy_model.generate(raw, chat=False, max_new_tokens=4)
    assert result.prompt_tokens == 22
    assert bytes(result.token_ids) == expected_answer(22)[:4]


# -- context policies --------------------------------------------------------------------------
def test_context_error_names_numbers_and_fixes(toy_model):
    with pytest.raises(
        ContextOverflowError, match=r"prompt \(24 tokens\) \+ max_new_tokens \(50\) exceed .* \(64 tokens\).*truncate"
    ):
        toy_model.generate(PROMPT, max_new_tokens=50)


def test_context_signal_returns_flagged_empty_result(toy_model):
    result = toy_model.generate(PROMPT, max_new_tokens=50, context_policy="signal")
    assert result.finish_reason == "context" and result.context_overflow
    assert result.token_ids == [] and result.text == "" and result.prompt_tokens == 24
    pieces = list(toy_model.stream(PROMPT, max_new_tokens=50, context_policy="signal"))
    assert len(pieces) == 1 and pieces[0].result.context_overflow


def test_context_truncate_drops_oldest_turns(toy_model):
    messages = [
        {"role": "system", "content": "sys"},
        {"role": "user", "content": "first question"},
        {"role": "assistant", "content": "first answer"},
        {"role": "user", "content": PROMPT},
    ]
    assert toy_model.count_tokens(messages) + 20 > 64
    result = toy_model.generate(messages, max_new_tokens=20, context_policy="truncate")
    kept = [messages[0], messages[3]]
    assert result.context_overflow and result.dropped_messages == 2
    assert result.prompt_tokens == toy_model.count_tokens(kept)
    assert result.token_ids == toy_model.generate(kept, max_new_tokens=20).token_ids


def test_context_truncate_plain_text_keeps_newest_tokens(toy_model):
    raw = "a" * 70
    result = toy_model.generate(raw, chat=False, max_new_tokens=10, context_policy="truncate")
    assert result.prompt_tokens == 54 and result.context_overflow
    assert len(result.token_ids) == 10


def test_context_truncate_impossible_budget(toy_model):
    with pytest.raises(ContextOverflowError, match="max_new_tokens \\(64\\) alone fills"):
        toy_model.generate(PROMPT, max_new_tokens=64, context_policy="truncate")


# -- bad input -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "options, message",
    [
        ({"temperature": -1}, "temperature=-1 is invalid"),
        ({"top_p": 0}, "top_p=0 is invalid"),
        ({"top_k": -2}, "top_k=-2 is invalid"),
        ({"min_p": 1.5}, "min_p=1.5 is invalid"),
        ({"repetition_penalty": 0}, "repetition_penalty=0 is invalid"),
        ({"max_new_tokens": 0}, "max_new_tokens=0 is invalid"),
        ({"seed": -3}, "seed=-3 is invalid"),
        ({"stop": [1]}, "stop=\\[1\\] is invalid"),
        ({"context_policy": "bogus"}, "context_policy='bogus' is unknown; use one of: error, truncate, signal"),
    ],
)
def test_bad_options_are_refused_before_compute(toy_model, options, message):
    with pytest.raises(RuntimeGenerationError, match=message):
        toy_model.stream(PROMPT, **options)  # raised eagerly, not on first next()


@pytest.mark.parametrize(
    "prompt, message",
    [
        (123, "prompt must be a string or a list"),
        ([], "non-empty list"),
        (["hi"], r"messages\[0\] is a str"),
        ([{"role": "user"}], r"messages\[0\] \('user'\) has no 'content'"),
        ([{"content": "x"}], r"messages\[0\] has no 'role'"),
    ],
)
def test_bad_prompts(toy_model, prompt, message):
    with pytest.raises(RuntimeGenerationError, match=message):
        toy_model.generate(prompt)


def test_empty_raw_prompt(toy_model):
    with pytest.raises(RuntimeGenerationError, match="the prompt is empty"):
        toy_model.generate("", chat=False)


def test_messages_need_a_template(tmp_path):
    model = load(build_toy_bundle(tmp_path / "b", script_table(64), chat_template=None))
    with pytest.raises(RuntimeGenerationError, match="has no chat template.*plain string"):
        model.generate([{"role": "user", "content": "hi"}])
    assert model.generate("hi", max_new_tokens=2).prompt_tokens == 2  # plain string: not templated


def test_chat_false_with_messages(toy_model):
    with pytest.raises(RuntimeGenerationError, match="chat=False needs a plain string"):
        toy_model.generate([{"role": "user", "content": "hi"}], chat=False)


@pytest.mark.parametrize(
    "prompt",
    ["caf\udce9", [{"role": "user", "content": "x\ud83dy"}]],
    ids=["string", "message"],
)
def test_a_lone_surrogate_is_one_clean_error(toy_model, prompt):
    # What JavaScript leaves of a split emoji, or bytes decoded with surrogateescape: the tokenizer would raise a
    # TypeError; the runtime names the character and where it is.
    with pytest.raises(RuntimeGenerationError, match=r"lone surrogate U\+D[89A-F][0-9A-F]{2} at character \d"):
        toy_model.generate(prompt, max_new_tokens=2)
