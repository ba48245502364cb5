"""Real servers on 127.0.0.1: `edgekit serve` on one bundle is the cloud of a HybridClient on another."""

from __future__ import annotations

from edgekit.sdk import CloudConfig, HybridClient, Policy
from edgekit.sdk.hybrid_answer import EventKind, Route
from edgekit.sdk.policy.base import BASE_FAMILIES
from edgekit.sdk.policy.policy import LogisticModel, RouterRule
from edgekit.sdk.serve import serve_in_thread

ALWAYS = LogisticModel(("mean_logprob",), (0.0,), (1.0,), (0.0,), 0.0, 0.0)
Q = [{"role": "user", "content": "What is 12 * 7?"}]


def _client(local, server, **kw):
    cfg = CloudConfig(base_url=server.url + "/v1", model="cloud-tiny", api_key_env=None, max_tokens=8)
    pol = Policy(families=BASE_FAMILIES, post_models={"default": ALWAYS}, **kw)
    return HybridClient(local, cfg, pol, generation={"max_new_tokens": 6})


def test_escalation_through_a_real_server(tiny_local, cloud_model, cloud_server):
    with _client(tiny_local, cloud_server) as client:
        answer = client.ask(Q)
    expected = cloud_model.generate(Q, max_new_tokens=8)
    assert answer.route is Route.CLOUD and answer.text == expected.text
    assert answer.cost.cloud_completion_tokens == len(expected.token_ids) and not answer.cost.cloud_tokens_estimated
    assert answer.cost.cloud_prompt_tokens == expected.prompt_tokens


def test_streamed_escalation_through_a_real_server(tiny_local, cloud_model, cloud_server):
    with _client(tiny_local, cloud_server) as client:
        events = list(client.stream(Q))
    expected = cloud_model.generate(Q, max_new_tokens=8)
    cloud_text = "".join(e.text for e in events if e.kind is EventKind.TOKEN and e.source == "cloud")
    assert cloud_text == expected.text and events[-1].answer.route is Route.CLOUD


def test_router_rule_to_real_server(tiny_local, cloud_model, cloud_server):
    with _client(tiny_local, cloud_server, router_rules=(RouterRule("all", "min_chars", value=0),)) as client:
        answer = client.ask(Q)
    assert answer.route is Route.CLOUD and answer.rule == "router:rule:all" and answer.cost.local_ms == 0


def test_server_gone_falls_back(tiny_local, cloud_model):
    with serve_in_thread(cloud_model, model_id="cloud-tiny") as server:
        url = server.url
    cfg = CloudConfig(base_url=url + "/v1", model="cloud-tiny", api_key_env=None, max_retries=1, backoff_base=0.0)
    pol = Policy(families=BASE_FAMILIES, post_models={"default": ALWAYS})
    with HybridClient(tiny_local, cfg, pol, generation={"max_new_tokens": 6}) as client:
        answer = client.ask(Q)
    assert answer.route is Route.LOCAL_FALLBACK and answer.error_kind == "http" and "unreachable" in answer.error
    assert answer.text == tiny_local.generate(Q, max_new_tokens=6).text


def test_wrong_model_name_on_real_server_falls_back(tiny_local, cloud_server):
    cfg = CloudConfig(base_url=cloud_server.url + "/v1", model="gpt-nope", api_key_env=None, max_tokens=8)
    pol = Policy(families=BASE_FAMILIES, post_models={"default": ALWAYS})
    with HybridClient(tiny_local, cfg, pol, generation={"max_new_tokens": 6}) as client:
        answer = client.ask(Q)
    assert answer.route is Route.LOCAL_FALLBACK and "HTTP 404" in answer.error and "cloud-tiny" in answer.error


def test_bearer_token_end_to_end(tiny_local, cloud_model, monkeypatch):
    monkeypatch.setenv("EDGEKIT_IT_KEY", "tok-123")
    with serve_in_thread(cloud_model, model_id="cloud-tiny", api_key="tok-123") as server:
        for key, route in (("tok-123", Route.CLOUD), ("wrong", Route.LOCAL_FALLBACK)):
            monkeypatch.setenv("EDGEKIT_IT_KEY", key)
            cfg = CloudConfig(
                base_url=server.url + "/v1", model="cloud-tiny", api_key_env="EDGEKIT_IT_KEY", max_tokens=8
            )
            pol = Policy(families=BASE_FAMILIES, post_models={"default": ALWAYS})
            with HybridClient(tiny_local, cfg, pol, generation={"max_new_tokens": 6}) as client:
                answer = client.ask(Q)
            assert answer.route is route
            if route is Route.LOCAL_FALLBACK:
                assert answer.error_kind == "auth" and "wrong" not in answer.error
