"""The OpenAI surface of `edgekit serve`: every request field honoured or refused (never dropped), logprobs,
/v1/completions, /health, /metrics, tool turns. The official openai client against a real server on 127.0.0.1
with the real tiny model; expected values come from the same model called directly."""

from __future__ import annotations

import threading

import httpx
import openai
import pytest
from edgekit.sdk.serve import EdgekitServer, ServeOptions, serve_in_thread
from edgekit.sdk.serve.openai_api import IGNORED_FIELDS

from .serve_support import STORY, openai_client, story_chat

MSGS = STORY


@pytest.fixture(scope="module")
def server(tiny_local):
    with serve_in_thread(tiny_local) as srv:
        yield srv


def _ids(text_model, **options):
    return text_model.generate(MSGS, **options).text


SAMPLED = {"temperature": 1.5, "seed": 3, "max_tokens": 12}


@pytest.mark.parametrize(
    "extra, local_extra",
    [
        ({"top_k": 1}, {"top_k": 1}),
        ({"min_p": 0.5}, {"min_p": 0.5}),
        ({"top_p": 0.3}, {"top_p": 0.3}),
        ({"seed": 11}, {"seed": 11}),
        ({"repetition_penalty": 3.0, "temperature": 0}, {"repetition_penalty": 3.0, "temperature": 0.0}),
    ],
)
def test_sampling_fields_are_honoured(server, tiny_local, extra, local_extra):
    body_extra = {k: v for k, v in extra.items() if k in ("top_p", "seed", "temperature")}
    vendor = {k: v for k, v in extra.items() if k not in body_extra}
    reply = story_chat(server, **{**SAMPLED, **body_extra}, extra_body=vendor)
    local = {"temperature": 1.5, "seed": 3, "max_new_tokens": 12, **local_extra}
    expected = tiny_local.generate(MSGS, **local).text
    baseline = tiny_local.generate(MSGS, temperature=1.5, seed=3, max_new_tokens=12).text
    assert reply.choices[0].message.content == expected
    assert expected != baseline, f"{extra} does not change this model's output; the test would prove nothing"


def test_logprobs_are_the_runtime_token_logprobs(server, tiny_local):
    reply = story_chat(server, max_tokens=6, temperature=0, logprobs=True)
    local = tiny_local.generate(MSGS, max_new_tokens=6, temperature=0.0)
    content = reply.choices[0].logprobs.content
    assert [c.logprob for c in content] == pytest.approx([t.logprob for t in local.tokens])
    assert "".join(c.token for c in content) == local.text and all(c.top_logprobs == [] for c in content)
    # streamed: the same numbers, chunk by chunk
    stream = story_chat(server, max_tokens=6, temperature=0, logprobs=True, stream=True)
    streamed = [c.logprob for chunk in stream for ch in chunk.choices if ch.logprobs for c in ch.logprobs.content]
    assert streamed == pytest.approx([t.logprob for t in local.tokens])


@pytest.mark.parametrize(
    "extra, param, words",
    [
        ({"top_logprobs": 30, "logprobs": True}, "top_logprobs", "top_logprobs=30"),
        ({"frequency_penalty": 2.5}, "frequency_penalty", "frequency_penalty=2.5"),
        ({"presence_penalty": -3}, "presence_penalty", "presence_penalty=-3"),
        ({"logit_bias": {"5": 1000}}, "logit_bias", "=1000 is invalid"),
        ({"tools": [{"type": "function", "function": {"name": "f g"}}]}, "tools[0].function.name", "f g"),
        ({"response_format": {"type": "xml"}}, "response_format", "use an object whose type is one of"),
        ({"top_k": -1}, "top_k", "top_k=-1"),
        ({"min_p": 1.0}, "min_p", "min_p=1.0"),
        ({"seed": "x"}, "seed", "seed='x'"),
        ({"wibble": 1}, "wibble", "unrecognized request argument"),
    ],
)
def test_unsupported_fields_are_refused_with_a_clear_400(server, extra, param, words):
    with pytest.raises(openai.BadRequestError) as info:
        story_chat(server, max_tokens=2, extra_body=extra)
    err = info.value.body
    assert err["param"] == param and words in err["message"], err


def test_neutral_and_bookkeeping_fields_are_accepted(server):
    neutral = {
        "frequency_penalty": 0,
        "presence_penalty": 0.0,
        "logit_bias": {},
        "top_logprobs": 0,
        "response_format": {"type": "text"},
        "n": 1,
        "tool_choice": "none",
    }
    bookkeeping = {name: None for name in IGNORED_FIELDS} | {"user": "u-1", "store": False, "metadata": {"a": "b"}}
    reply = story_chat(server, max_tokens=2, temperature=0, extra_body={**neutral, **bookkeeping})
    assert reply.choices[0].finish_reason in ("length", "stop")


def test_tool_messages_are_accepted(server, tiny_local):
    msgs = [
        {"role": "user", "content": "What is the weather?"},
        {"role": "assistant", "content": "Let me check."},
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny, 21 C"},
    ]
    reply = openai_client(server).chat.completions.create(
        model=server.options.model_id, messages=msgs, max_tokens=4, temperature=0
    )
    local = tiny_local.generate(msgs, max_new_tokens=4, temperature=0.0)
    assert reply.choices[0].message.content == local.text


def test_completions_plain_and_streaming(server, tiny_local):
    c = openai_client(server)
    plain = c.completions.create(
        model=server.options.model_id, prompt="Once upon a time", max_tokens=8, temperature=0, logprobs=0
    )
    local = tiny_local.generate("Once upon a time", max_new_tokens=8, temperature=0.0, chat=False)
    assert plain.object == "text_completion" and plain.choices[0].text == local.text
    assert plain.usage.completion_tokens == len(local.token_ids) and plain.usage.prompt_tokens == local.prompt_tokens
    assert plain.choices[0].logprobs.token_logprobs == pytest.approx([t.logprob for t in local.tokens])
    stream = c.completions.create(
        model=server.options.model_id,
        prompt="Once upon a time",
        max_tokens=8,
        temperature=0,
        stream=True,
        stream_options={"include_usage": True},
    )
    text, finish, usage = "", None, None
    for chunk in stream:
        usage = chunk.usage or usage
        for choice in chunk.choices:
            text += choice.text
            finish = choice.finish_reason or finish
    assert text == local.text and finish == plain.choices[0].finish_reason
    assert usage.completion_tokens == len(local.token_ids)


def test_metrics_count_requests_and_tokens(server):
    def value(text, name):
        return sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith(name))

    before = httpx.get(server.url + "/metrics").text
    reply = story_chat(server, max_tokens=5, temperature=0)
    after = httpx.get(server.url + "/metrics")
    assert after.headers["content-type"].startswith("text/plain; version=0.0.4")
    text = after.text
    assert value(text, "edgekit_completion_tokens_total") - value(before, "edgekit_completion_tokens_total") == (
        reply.usage.completion_tokens
    )
    assert value(text, "edgekit_prompt_tokens_total") - value(before, "edgekit_prompt_tokens_total") == (
        reply.usage.prompt_tokens
    )
    ok = 'edgekit_requests_total{endpoint="/v1/chat/completions",status="200"}'
    assert value(text, ok) - value(before, ok) == 1
    assert value(text, "edgekit_generation_seconds_count") - value(before, "edgekit_generation_seconds_count") == 1
    assert "edgekit_escalation_signals_total" in text


def test_health_is_503_while_loading_then_200(tiny_local):
    srv = EdgekitServer(None, "127.0.0.1", 0, options=ServeOptions(model_id="m"), manifest=tiny_local.manifest)
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        r = httpx.get(srv.url + "/health")
        assert r.status_code == 503 and r.json()["status"] == "loading"
        r = httpx.post(srv.url + "/v1/chat/completions", json={"model": "m", "messages": MSGS})
        assert r.status_code == 503 and r.json()["error"]["code"] == "model_loading"
        srv.set_model(tiny_local)
        assert httpx.get(srv.url + "/health").json() == {"status": "ok", "model": "m"}
        assert (
            httpx.post(
                srv.url + "/v1/chat/completions", json={"model": "m", "messages": MSGS, "max_tokens": 2}
            ).status_code
            == 200
        )
    finally:
        srv.stop(grace=5)
        thread.join(5)
