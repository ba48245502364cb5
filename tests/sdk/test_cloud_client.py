"""Cloud client: every fault injected through httpx.MockTransport."""

from __future__ import annotations

import json
import logging

import httpx
import pytest
from edgekit.runtime.errors import (
    CircuitOpenError,
    CloudHTTPError,
    CloudProtocolError,
    CloudTimeoutError,
    ConfigError,
)
from edgekit.sdk.cloud import CircuitBreaker, CloudClient, CloudConfig
from edgekit.sdk.cloud.client import parse_retry_after

from .conftest import KEY_ENV, SECRET, Recorder, completion_body, sse_body


def make(recorder, sleeps=None, **config):
    cfg = CloudConfig(base_url="https://cloud.example/v1", model="m", api_key_env=KEY_ENV, **config)
    sleeps = sleeps if sleeps is not None else []
    return CloudClient(cfg, transport=recorder.transport, sleep=sleeps.append)


MSGS = [{"role": "user", "content": "hi"}]


def test_complete_sends_key_and_parses(api_key):
    rec = Recorder([httpx.Response(200, json=completion_body("Paris"))])
    reply = make(rec).complete(MSGS)
    assert reply.text == "Paris"
    assert (reply.prompt_tokens, reply.completion_tokens, reply.tokens_estimated) == (11, 7, False)
    request = rec.requests[0]
    assert request.url == "https://cloud.example/v1/chat/completions"
    assert request.headers["authorization"] == f"Bearer {SECRET}"
    assert json.loads(request.content)["model"] == "m"


def test_429_honours_retry_after_then_succeeds(api_key):
    rec = Recorder(
        [
            httpx.Response(429, headers={"Retry-After": "3"}, json={"error": {"message": "slow down"}}),
            httpx.Response(200, json=completion_body("ok")),
        ]
    )
    sleeps: list[float] = []
    reply = make(rec, sleeps).complete(MSGS)
    assert reply.text == "ok" and reply.attempts == 2
    assert sleeps == [3.0]


def test_429_retry_after_longer_than_cap_fails_at_once(api_key):
    rec = Recorder([httpx.Response(429, headers={"Retry-After": "3600"})])
    sleeps: list[float] = []
    with pytest.raises(CloudHTTPError, match="Retry-After 3600") as info:
        make(rec, sleeps).complete(MSGS)
    assert info.value.status == 429 and sleeps == [] and len(rec.requests) == 1


@pytest.mark.parametrize("status", [500, 503])
def test_5xx_retried_with_jittered_backoff_then_gives_up(api_key, status):
    rec = Recorder([httpx.Response(status, json={"error": {"message": "boom"}})])
    sleeps: list[float] = []
    with pytest.raises(CloudHTTPError, match=f"HTTP {status}: boom") as info:
        make(rec, sleeps, max_retries=3, backoff_base=0.5, backoff_max=1.5).complete(MSGS)
    assert info.value.status == status
    assert len(rec.requests) == 4 and len(sleeps) == 3
    caps = [0.5, 1.0, 1.5]
    assert all(0 <= s <= cap for s, cap in zip(sleeps, caps))


def test_non_retryable_400_fails_once(api_key):
    rec = Recorder([httpx.Response(400, json={"error": {"message": "bad model"}})])
    with pytest.raises(CloudHTTPError, match="HTTP 400: bad model"):
        make(rec).complete(MSGS)
    assert len(rec.requests) == 1


def test_wrong_key_401_is_not_retried_and_never_echoed(api_key, caplog):
    # OpenAI's 401 body quotes part of the key; we must not pass it on.
    rec = Recorder([httpx.Response(401, json={"error": {"message": f"Incorrect API key provided: {SECRET}"}})])
    caplog.set_level(logging.DEBUG)
    with pytest.raises(CloudHTTPError) as info:
        make(rec).complete(MSGS)
    assert info.value.status == 401 and len(rec.requests) == 1
    assert SECRET not in str(info.value) and KEY_ENV in str(info.value)
    assert SECRET not in caplog.text


def test_connection_refused_retried_then_error(api_key):
    def refuse(request):
        raise httpx.ConnectError("[Errno 111] Connection refused", request=request)

    rec = Recorder([refuse])
    sleeps: list[float] = []
    with pytest.raises(CloudHTTPError, match="unreachable") as info:
        make(rec, sleeps, max_retries=2).complete(MSGS)
    assert info.value.status == 0 and len(rec.requests) == 3 and len(sleeps) == 2


def test_read_timeout_not_retried(api_key):
    def stall(request):
        raise httpx.ReadTimeout("timed out", request=request)

    rec = Recorder([stall])
    with pytest.raises(CloudTimeoutError, match="did not answer"):
        make(rec).complete(MSGS)
    assert len(rec.requests) == 1


def test_connect_timeout_retried(api_key):
    def stall(request):
        raise httpx.ConnectTimeout("timed out", request=request)

    rec = Recorder([stall, httpx.Response(200, json=completion_body("late"))])
    assert make(rec).complete(MSGS).text == "late"


def test_malformed_json(api_key):
    rec = Recorder([httpx.Response(200, content=b"{not json", headers={"content-type": "application/json"})])
    with pytest.raises(CloudProtocolError, match="not valid JSON"):
        make(rec).complete(MSGS)


def test_json_without_choices(api_key):
    rec = Recorder([httpx.Response(200, json={"hello": 1})])
    with pytest.raises(CloudProtocolError, match="no choices"):
        make(rec).complete(MSGS)


def test_refusal(api_key):
    body = completion_body("")
    body["choices"][0]["message"] = {"role": "assistant", "content": None, "refusal": "I can't help with that."}
    rec = Recorder([httpx.Response(200, json=body)])
    with pytest.raises(CloudProtocolError, match="refused"):
        make(rec).complete(MSGS)


def test_usage_missing_is_estimated(api_key):
    rec = Recorder([httpx.Response(200, json=completion_body("twelve chars", usage=False))])
    reply = make(rec).complete(MSGS)
    assert reply.tokens_estimated and reply.completion_tokens == 3


def test_stream_ok(api_key):
    rec = Recorder(
        [httpx.Response(200, content=sse_body(["Par", "is"]), headers={"content-type": "text/event-stream"})]
    )
    chunks = list(make(rec).stream(MSGS))
    assert "".join(c.text for c in chunks) == "Paris"
    reply = chunks[-1].reply
    assert reply is not None and reply.text == "Paris" and reply.completion_tokens == 3
    assert json.loads(rec.requests[0].content)["stream"] is True


def test_stream_cut_mid_way(api_key):
    rec = Recorder([httpx.Response(200, content=sse_body(["Par", "is"], done=False, finish=False))])
    client = make(rec)
    got = []
    with pytest.raises(CloudProtocolError, match="cut mid-way after 5 characters"):
        for chunk in client.stream(MSGS):
            got.append(chunk.text)
    assert got == ["Par", "is"]


def test_stream_transport_error_mid_way(api_key):
    class Broken(httpx.SyncByteStream):
        def __iter__(self):
            yield sse_body(["Hel"], done=False, finish=False)
            raise httpx.RemoteProtocolError("peer closed connection without sending complete message body")

    rec = Recorder([httpx.Response(200, stream=Broken())])
    with pytest.raises(CloudProtocolError, match="cut mid-way after 3 characters"):
        list(make(rec).stream(MSGS))


def test_stream_malformed_event(api_key):
    rec = Recorder([httpx.Response(200, content=b'data: {"choices": [\n\n')])
    with pytest.raises(CloudProtocolError, match="malformed JSON"):
        list(make(rec).stream(MSGS))


def test_stream_retries_before_first_byte(api_key):
    rec = Recorder([httpx.Response(503), httpx.Response(200, content=sse_body(["ok"]))])
    sleeps: list[float] = []
    chunks = list(make(rec, sleeps).stream(MSGS))
    assert chunks[-1].reply.text == "ok" and chunks[-1].reply.attempts == 2 and len(sleeps) == 1


def test_breaker_opens_after_failures_and_half_opens():
    now = [0.0]
    breaker = CircuitBreaker(failures=2, cooldown=10, clock=lambda: now[0])
    cfg = CloudConfig(base_url="https://c.example/v1", model="m", api_key_env=None, max_retries=0)
    rec = Recorder([httpx.Response(500)])
    client = CloudClient(cfg, transport=rec.transport, breaker=breaker, sleep=lambda s: None)
    for _ in range(2):
        with pytest.raises(CloudHTTPError):
            client.complete(MSGS)
    with pytest.raises(CircuitOpenError, match="open after 2 consecutive failures"):
        client.complete(MSGS)
    assert len(rec.requests) == 2  # refused without a request
    now[0] = 11.0
    rec.script = [httpx.Response(200, json=completion_body("back"))]
    assert client.complete(MSGS).text == "back"
    assert breaker.state.value == "closed"


def test_breaker_half_open_failure_reopens():
    now = [0.0]
    breaker = CircuitBreaker(failures=1, cooldown=5, clock=lambda: now[0])
    breaker.record_failure()
    with pytest.raises(CircuitOpenError):
        breaker.before_call()
    now[0] = 6
    breaker.before_call()  # the trial
    with pytest.raises(CircuitOpenError, match="trial"):
        breaker.before_call()
    breaker.record_failure()
    assert breaker.state.value == "open"


def test_missing_key_env_is_a_clear_config_error(monkeypatch):
    monkeypatch.delenv(KEY_ENV, raising=False)
    cfg = CloudConfig(base_url="https://c.example/v1", model="m", api_key_env=KEY_ENV)
    with pytest.raises(ConfigError, match=f"environment variable {KEY_ENV} is not set"):
        cfg.api_key()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"base_url": "cloud.example"}, "not an http"),
        ({"model": ""}, "model is empty"),
        ({"read_timeout": 0}, "read_timeout=0 must be > 0"),
        ({"max_retries": -1}, "max_retries=-1"),
        ({"extra_headers": {"Authorization": "Bearer x"}}, "must not carry Authorization"),
    ],
)
def test_config_validation(kwargs, message):
    base = {"base_url": "https://c.example/v1", "model": "m"}
    with pytest.raises(ConfigError, match=message):
        CloudConfig(**{**base, **kwargs})


def test_config_repr_has_no_key(api_key):
    cfg = CloudConfig(base_url="https://c.example/v1", model="m", api_key_env=KEY_ENV)
    assert SECRET not in repr(cfg) and SECRET not in json.dumps(cfg.describe())


def test_parse_retry_after_http_date():
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == pytest.approx(10.0)
    assert parse_retry_after("garbage") is None


def test_scrubber_sees_the_key_through_whitespace_and_invisible_characters():
    from edgekit.sdk.cloud import KeyScrubber

    scrubber = KeyScrubber(SECRET)
    zero_width = "\u200b".join(SECRET)  # a zero-width space between every character
    grouped = " ".join(SECRET[i : i + 3] for i in range(0, len(SECRET), 3))  # no group is a fragment alone
    for echoed in (zero_width, grouped, SECRET.upper().replace("-", "-\n"), f"\t{SECRET.lower()}\n"):
        assert "".join(scrubber.scrub(f"bad key {echoed}!").split()) == "badkey[API_KEY]!"
    text = "Invalid request: the model field is missing (see the docs)."
    assert scrubber.scrub(text) == text  # ordinary words are left alone
