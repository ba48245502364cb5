"""HybridClient on a real tiny local model; cloud faults injected with httpx.MockTransport."""

from __future__ import annotations

import json
import logging

import httpx
import pytest
from edgekit.runtime.errors import ConfigError
from edgekit.sdk import BudgetCaps, CloudClient, CloudConfig, HybridClient, Policy
from edgekit.sdk.cloud import CircuitBreaker
from edgekit.sdk.hybrid_answer import EventKind, Route
from edgekit.sdk.policy.base import BASE_FAMILIES
from edgekit.sdk.policy.policy import LogisticModel, RouterRule

from .conftest import KEY_ENV, SECRET, Recorder, completion_body, sse_body

GEN = {"max_new_tokens": 6}
ALWAYS = LogisticModel(("mean_logprob",), (0.0,), (1.0,), (0.0,), 0.0, 0.0)  # p = 0.5 >= 0: always escalate
NEVER = LogisticModel(("mean_logprob",), (0.0,), (1.0,), (0.0,), 0.0, 1.0)  # p = 0.5 < 1: never


def policy(post=ALWAYS, rules=(), **kw):
    return Policy(families=BASE_FAMILIES, router_rules=tuple(rules), post_models={"default": post}, **kw)


def hybrid(local, recorder=None, pol=None, sleeps=None, breaker=None, **kw):
    cfg = CloudConfig(
        base_url="https://cloud.example/v1", model="big", api_key_env=KEY_ENV, max_retries=kw.pop("max_retries", 1)
    )
    cloud = None
    if recorder is not None:
        cloud = CloudClient(
            cfg, transport=recorder.transport, sleep=(sleeps if sleeps is not None else []).append, breaker=breaker
        )
    return HybridClient(
        local, cfg if recorder is not None else None, pol or policy(), cloud_client=cloud, generation=GEN, **kw
    )


Q = [{"role": "user", "content": "What is the capital of France?"}]


def test_post_policy_escalates_and_reports_cost(tiny_local, api_key):
    rec = Recorder([httpx.Response(200, json=completion_body("Paris."))])
    answer = hybrid(tiny_local, rec).ask(Q)
    local = tiny_local.generate(Q, max_new_tokens=6)
    assert answer.route is Route.CLOUD and answer.text == "Paris."
    assert (
        answer.rule == "post:model:fact" or answer.rule == "post:model:default" or answer.rule.startswith("post:model:")
    )
    assert answer.family == "fact" and answer.probability == pytest.approx(0.5)
    assert answer.local_text == local.text
    assert answer.cost.cloud_prompt_tokens == 11 and answer.cost.local_completion_tokens == len(local.token_ids)
    assert set(answer.signals) >= {"mean_logprob", "answer_logprob", "n_digits", "truncated"}


def test_accepts_local_when_policy_says_so(tiny_local, api_key):
    rec = Recorder([httpx.Response(500)])
    answer = hybrid(tiny_local, rec, policy(post=NEVER)).ask(Q)
    assert answer.route is Route.LOCAL and answer.rule == "post:accept" and rec.requests == []


def test_router_rule_sends_straight_to_cloud_without_local_generation(tiny_local, api_key):
    rec = Recorder([httpx.Response(200, json=completion_body("42"))])
    pol = policy(rules=[RouterRule("hard", "keywords", words=("integral",))])
    answer = hybrid(tiny_local, rec, pol).ask("Solve the integral of x^2")
    assert answer.route is Route.CLOUD and answer.rule == "router:rule:hard" and answer.stage == "router"
    assert answer.cost.local_completion_tokens == 0 and answer.local_text is None


def test_privacy_local_only_never_escalates(tiny_local, api_key):
    rec = Recorder([httpx.Response(200, json=completion_body("x"))])
    pol = policy(rules=[RouterRule("all", "min_chars", value=0)])
    answer = hybrid(tiny_local, rec, pol, privacy="local-only").ask(Q)
    assert answer.route is Route.LOCAL and answer.rule == "privacy:local-only" and rec.requests == []


def _raise(exc_type, msg):
    def handler(request):
        raise exc_type(msg, request=request)

    return handler


FAULTS = [
    ("timeout", [_raise(httpx.ReadTimeout, "timed out")], "timeout"),
    ("429", [httpx.Response(429, headers={"Retry-After": "2"}, json={"error": {"message": "rate"}})], "http"),
    ("500", [httpx.Response(500)], "http"),
    ("503", [httpx.Response(503, text="unavailable")], "http"),
    ("malformed", [httpx.Response(200, content=b"<html>oops")], "protocol"),
    ("refused", [_raise(httpx.ConnectError, "[Errno 111] Connection refused")], "http"),
    ("wrong_key", [httpx.Response(401, json={"error": {"message": f"Incorrect API key provided: {SECRET}"}})], "auth"),
    (
        "refusal",
        [
            httpx.Response(
                200, json={"choices": [{"message": {"content": None, "refusal": "no"}, "finish_reason": "stop"}]}
            )
        ],
        "protocol",
    ),
]


@pytest.mark.parametrize("name, script, kind", FAULTS, ids=[f[0] for f in FAULTS])
def test_every_cloud_fault_falls_back_to_the_local_answer(tiny_local, api_key, caplog, name, script, kind):
    caplog.set_level(logging.DEBUG)
    sleeps: list[float] = []
    answer = hybrid(tiny_local, Recorder(script), sleeps=sleeps).ask(Q)
    local = tiny_local.generate(Q, max_new_tokens=6)
    assert answer.route is Route.LOCAL_FALLBACK and answer.text == local.text
    assert answer.error_kind == kind and answer.error
    assert answer.rule.startswith("post:model:")
    if name == "429":
        assert sleeps == [2.0]  # Retry-After honoured once, then max_retries=1 exhausted
    dumped = json.dumps(answer.to_dict())
    assert SECRET not in dumped and SECRET not in caplog.text


def test_stream_cut_mid_way_restarts_with_local_answer(tiny_local, api_key):
    rec = Recorder([httpx.Response(200, content=sse_body(["Pa", "ri"], done=False, finish=False))])
    events = list(hybrid(tiny_local, rec).stream(Q))
    kinds = [e.kind for e in events]
    local = tiny_local.generate(Q, max_new_tokens=6)
    assert kinds.count(EventKind.RESTART) == 2  # escalating, then cloud failed
    cloud_text = "".join(e.text for e in events if e.kind is EventKind.TOKEN and e.source == "cloud")
    assert cloud_text == "Pari"
    final = events[-1].answer
    assert final.route is Route.LOCAL_FALLBACK and final.error_kind == "protocol" and final.text == local.text
    after_restart = events[len(kinds) - 1 - kinds[::-1].index(EventKind.RESTART) + 1 : -1]
    assert "".join(e.text for e in after_restart) == local.text


def test_stream_ok_from_cloud(tiny_local, api_key):
    rec = Recorder([httpx.Response(200, content=sse_body(["Par", "is"]))])
    events = list(hybrid(tiny_local, rec).stream(Q))
    assert events[-1].answer.route is Route.CLOUD and events[-1].answer.text == "Paris"
    local_text = "".join(e.text for e in events if e.kind is EventKind.TOKEN and e.source == "local")
    assert local_text == tiny_local.generate(Q, max_new_tokens=6).text


def test_stream_local_only(tiny_local, api_key):
    events = list(hybrid(tiny_local, Recorder([httpx.Response(500)]), policy(post=NEVER)).stream(Q))
    assert events[-1].answer.route is Route.LOCAL and EventKind.RESTART not in [e.kind for e in events]
    assert "".join(e.text for e in events[:-1]) == events[-1].answer.text


def test_budget_cap_uses_local_answer_and_says_so(tiny_local, api_key):
    rec = Recorder([httpx.Response(200, json=completion_body("ok"))])
    client = hybrid(tiny_local, rec, budget=BudgetCaps(escalations_per_minute=1))
    assert client.ask(Q).route is Route.CLOUD
    second = client.ask(Q)
    assert second.route is Route.LOCAL_FALLBACK and second.error_kind == "budget"
    assert "escalations_per_minute=1" in second.error and len(rec.requests) == 1


def test_token_budget(tiny_local, api_key):
    rec = Recorder([httpx.Response(200, json=completion_body("ok"))])  # usage total 18 tokens
    client = hybrid(tiny_local, rec, budget=BudgetCaps(cloud_tokens_per_day=10))
    assert client.ask(Q).route is Route.CLOUD
    assert client.ask(Q).error_kind == "budget"


def test_breaker_opens_then_answers_locally_without_calling(tiny_local, api_key):
    rec = Recorder([httpx.Response(503)])
    breaker = CircuitBreaker(failures=2, cooldown=600)
    client = hybrid(tiny_local, rec, breaker=breaker, max_retries=0)
    assert [client.ask(Q).error_kind for _ in range(3)] == ["http", "http", "circuit_open"]
    assert len(rec.requests) == 2


def test_redaction_round_trip_through_cloud(tiny_local, api_key):
    seen = {}

    def handler(request):
        body = json.loads(request.content)
        seen["content"] = body["messages"][-1]["content"]
        return httpx.Response(200, json=completion_body("I will write to [EMAIL_1] and call [PHONE_1]."))

    msgs = [{"role": "user", "content": "Email bob@example.com or call +1 415-555-0123 about it."}]
    answer = hybrid(tiny_local, Recorder([handler]), redact=True).ask(msgs)
    assert (
        "bob@example.com" not in seen["content"] and "[EMAIL_1]" in seen["content"] and "[PHONE_1]" in seen["content"]
    )
    assert answer.text == "I will write to bob@example.com and call +1 415-555-0123."
    assert answer.redacted == {"email": 1, "phone": 1}


def test_no_cloud_configured_is_local_fallback(tiny_local):
    answer = hybrid(tiny_local).ask(Q)
    assert answer.route is Route.LOCAL_FALLBACK and answer.error_kind == "no_cloud"


def test_missing_key_fails_at_construction(tiny_local, monkeypatch):
    monkeypatch.delenv(KEY_ENV, raising=False)
    with pytest.raises(ConfigError, match=f"{KEY_ENV} is not set"):
        HybridClient(tiny_local, CloudConfig("https://c.example/v1", "m", api_key_env=KEY_ENV), policy())


def test_bad_local_argument():
    with pytest.raises(ConfigError, match="neither a bundle path nor a LocalModel"):
        HybridClient(42, None, policy())
