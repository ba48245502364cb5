"""`edgekit serve --cloud-url`: chat completions through the hybrid policy, with the official openai client.

Real servers on 127.0.0.1 on both sides: the device's server runs a real tiny model through ``HybridClient``; the
cloud is another `edgekit serve` of a tiny model. Policies are built by hand so each route is certain: one that
accepts every local answer, one whose early model stops after the first token, one that escalates every finished
answer. A streamed local answer is sent only once the policy accepted it; a handed-off one never reaches the client.
"""

from __future__ import annotations

import json

import httpx
import openai
import pytest
from click.testing import CliRunner
from edgekit.runtime import load
from edgekit.sdk import CloudConfig, HybridClient, Policy
from edgekit.sdk.cli import main
from edgekit.sdk.policy.base import BASE_FAMILIES
from edgekit.sdk.policy.early import EarlyStop
from edgekit.sdk.policy.early_fit import EARLY_FEATURES
from edgekit.sdk.policy.policy import LogisticModel
from edgekit.sdk.serve import serve_in_thread

from tests.runtime.toy_bundle import IM_END, build_toy_bundle, encode_bytes, script_table
from tests.sdk.serve_support import CountingModel, edgekit_serve_process, openai_client

Q = [{"role": "user", "content": "What is 12 * 7?"}]
GEN = {"max_new_tokens": 6}
TIMER = {
    "type": "function",
    "function": {
        "name": "set_timer",
        "parameters": {
            "type": "object",
            "properties": {"minutes": {"type": "integer", "minimum": 1, "maximum": 120}},
            "required": ["minutes"],
            "additionalProperties": False,
        },
    },
}
COLOR = {
    "type": "json_schema",
    "json_schema": {
        "name": "color",
        "schema": {
            "type": "object",
            "properties": {"color": {"enum": ["red", "green", "blue"]}},
            "required": ["color"],
            "additionalProperties": False,
        },
    },
}


def _model(features=("mean_logprob",), escalate: bool = True) -> LogisticModel:
    # p = 0.5 everywhere: threshold 0 escalates every answer, threshold 1 none
    n = len(features)
    return LogisticModel(tuple(features), (0.0,) * n, (1.0,) * n, (0.0,) * n, 0, 0 if escalate else 1)


ACCEPT = Policy(families=BASE_FAMILIES, post_models={"default": _model(escalate=False)})
EARLY = Policy(
    families=BASE_FAMILIES,
    post_models={"default": _model(escalate=False)},
    early=EarlyStop(2, _model(EARLY_FEATURES)),
)
AFTER = Policy(families=BASE_FAMILIES, post_models={"default": _model()})


def _cloud(url: str, max_tokens: int = 8) -> CloudConfig:
    return CloudConfig(base_url=url + "/v1", model="cloud-tiny", api_key_env=None, max_tokens=max_tokens, max_retries=0)


class _Hybrid:
    """The device's server: a counting local model behind ``HybridClient`` with ``policy``."""

    def __init__(self, local, cloud_url: str, policy: Policy, cloud_tokens: int = 8):
        self.local = CountingModel(local)
        self.client = HybridClient(self.local, _cloud(cloud_url, cloud_tokens), policy, generation=GEN)
        self.serving = serve_in_thread(self.local, model_id="device", hybrid=self.client)

    def __enter__(self):
        self.server = self.serving.__enter__()
        return self

    def __exit__(self, *exc):
        self.serving.__exit__(*exc)
        self.client.close()

    def chat(self, **kw):
        return openai_client(self.server).chat.completions.create(model="device", **{"messages": Q, **kw})

    def stream(self, **kw):
        chunks = list(self.chat(stream=True, stream_options={"include_usage": True}, **kw))
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        return chunks, text


def _hybrid_field(completion) -> dict:
    return completion.model_extra["edgekit"]["hybrid"]


def test_an_accepted_local_answer_comes_back_with_its_route(tiny_local, cloud_server):
    local = tiny_local.generate(Q, **GEN)
    with _Hybrid(tiny_local, cloud_server.url, ACCEPT) as hybrid:
        reply = hybrid.chat()
        chunks, text = hybrid.stream()
        page = httpx.get(hybrid.server.url + "/metrics").text
    info = _hybrid_field(reply)
    assert reply.choices[0].message.content == local.text and info["route"] == "local"
    assert info["rule"] == "post:accept" and info["cost"]["cloud_attempts"] == 0
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens) == (local.prompt_tokens, len(local.token_ids))
    assert text == local.text
    content = [c for c in chunks if c.choices and c.choices[0].delta.content]
    assert len(content) == 1  # held until the policy accepted it, then sent in one piece
    final = [c for c in chunks if c.choices and c.choices[0].finish_reason]
    assert final[0].model_extra["edgekit"]["hybrid"]["route"] == "local"
    assert chunks[-1].usage.completion_tokens == len(local.token_ids)
    assert 'edgekit_hybrid_answers_total{route="local"} 2' in page


def test_an_early_hand_off_streams_only_the_cloud_and_saves_the_local_tokens(tiny_local, cloud_model, cloud_server):
    cloud = cloud_model.generate(Q, max_new_tokens=8)
    local_full = tiny_local.generate(Q, **GEN)
    with _Hybrid(tiny_local, cloud_server.url, EARLY) as hybrid:
        chunks, text = hybrid.stream()
        streamed_tokens = hybrid.local.tokens
        reply = hybrid.chat()
    assert text == cloud.text  # no local token reached the client
    final = next(c for c in chunks if c.choices and c.choices[0].finish_reason)
    info = final.model_extra["edgekit"]["hybrid"]
    assert info["route"] == "cloud" and info["rule"] == "early:model:arithmetic" and info["stage"] == "early"
    assert info["cost"]["local_early_tokens"] == 1 == streamed_tokens  # the stop came after the first token
    assert len(local_full.token_ids) == 6  # so it saved five
    assert reply.choices[0].message.content == cloud.text and _hybrid_field(reply)["rule"] == info["rule"]
    assert chunks[-1].usage.completion_tokens == info["cost"]["cloud_completion_tokens"] > 0


def test_an_answer_escalated_after_generation_never_shows_the_local_text(tiny_local, cloud_model, cloud_server):
    cloud = cloud_model.generate(Q, max_new_tokens=8)
    with _Hybrid(tiny_local, cloud_server.url, AFTER) as hybrid:
        chunks, text = hybrid.stream()
    info = next(c for c in chunks if c.choices and c.choices[0].finish_reason).model_extra["edgekit"]["hybrid"]
    assert text == cloud.text and info["route"] == "cloud" and info["stage"] == "post"
    assert info["cost"]["local_completion_tokens"] == 6  # the whole local answer was generated, then replaced


def test_with_the_cloud_gone_the_local_answer_is_sent_whole(tiny_local, cloud_model):
    with serve_in_thread(cloud_model, model_id="cloud-tiny") as gone:
        url = gone.url
    local = tiny_local.generate(Q, **GEN)
    with _Hybrid(tiny_local, url, EARLY) as hybrid:
        chunks, text = hybrid.stream()
        reply = hybrid.chat()
    for info in (next(c for c in chunks if c.choices and c.choices[0].finish_reason).model_extra, reply.model_extra):
        assert info["edgekit"]["hybrid"]["route"] == "local_fallback" and info["edgekit"]["hybrid"]["error_kind"]
    assert text == local.text == reply.choices[0].message.content


def test_tools_and_response_format_reach_the_cloud_and_its_call_is_checked(tiny_local, cloud_server):
    with _Hybrid(tiny_local, cloud_server.url, AFTER, cloud_tokens=96) as hybrid:  # room for a whole call
        called = hybrid.chat(tools=[TIMER], tool_choice="required")
        chunks, _ = hybrid.stream(tools=[TIMER], tool_choice="required")
        formatted = hybrid.chat(response_format=COLOR)
    (call,) = called.choices[0].message.tool_calls  # the cloud (a constrained edgekit serve) made it
    assert called.choices[0].finish_reason == "tool_calls" and _hybrid_field(called)["route"] == "cloud"
    assert call.function.name == "set_timer" and 1 <= json.loads(call.function.arguments)["minutes"] <= 120
    deltas = [d for c in chunks if c.choices for d in (c.choices[0].delta.tool_calls or [])]
    assert deltas[0].function.name == "set_timer" and json.loads("".join(d.function.arguments for d in deltas))
    # the cloud got response_format unchanged: its tiny random model only writes this JSON under the grammar
    assert _hybrid_field(formatted)["route"] == "cloud"
    assert json.loads(formatted.choices[0].message.content)["color"] in {"red", "green", "blue"}


def test_a_local_answer_under_response_format_follows_the_schema(tiny_local, cloud_server):
    with _Hybrid(tiny_local, cloud_server.url, ACCEPT) as hybrid:
        reply = hybrid.chat(response_format=COLOR, max_tokens=24)
    assert _hybrid_field(reply)["route"] == "local"
    assert json.loads(reply.choices[0].message.content)["color"] in {"red", "green", "blue"}


def test_hybrid_client_passes_response_format_to_the_cloud(tiny_local, cloud_server):
    with HybridClient(tiny_local, _cloud(cloud_server.url, 96), AFTER, generation=GEN) as client:
        answer = client.ask(Q, response_format=COLOR)
        with pytest.raises(Exception, match="response_format"):
            client.ask(Q, response_format={"type": "yaml"})
    assert answer.route.value == "cloud" and json.loads(answer.text)["color"] in {"red", "green", "blue"}


def test_bad_requests_to_a_hybrid_server_are_openai_errors(tiny_local, cloud_server):
    with _Hybrid(tiny_local, cloud_server.url, ACCEPT) as hybrid:
        with pytest.raises(openai.BadRequestError, match="logprobs is not available") as caught:
            hybrid.chat(logprobs=True)
        assert caught.value.body["param"] == "logprobs"
        with pytest.raises(openai.BadRequestError, match="response_format"):
            hybrid.chat(response_format={"type": "json_schema"})
        with pytest.raises(openai.BadRequestError, match="tool_choice"):
            hybrid.chat(tools=[TIMER], tool_choice={"type": "function", "function": {"name": "nope"}})
        assert hybrid.local.tokens == 0  # refused before any compute


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["--cloud-url", "http://127.0.0.1:9/v1"], {}, "--cloud-url needs --cloud-model NAME"),
        (["--cloud-model", "m"], {}, "need --cloud-url URL"),
        (
            ["--cloud-url", "http://127.0.0.1:9/v1", "--cloud-model", "m", "--cloud-key-env", "EDGEKIT_NO_SUCH_KEY"],
            {"EDGEKIT_NO_SUCH_KEY": ""},
            "--cloud-key-env EDGEKIT_NO_SUCH_KEY: that environment variable is not set",
        ),
        (["--tool-examples", "/nonexistent/examples.jsonl"], {}, "--tool-examples='/nonexistent/examples.jsonl'"),
    ],
)
def test_hybrid_serve_options_fail_in_one_line_before_loading(tiny_bundle, args, env, message):
    result = CliRunner().invoke(main, ["serve", str(tiny_bundle("fp32")), "--port", "0", *args], env=env)
    assert result.exit_code != 0 and message in result.output and "Traceback" not in result.output


def test_edgekit_serve_cloud_url_runs_the_policy_file_it_is_given(tiny_bundle, tmp_path):
    """The command itself: `edgekit serve BUNDLE --cloud-url ... --policy FILE` in its own process. The cloud is a
    toy model with room for the client's default max_tokens; it writes "A" until position 200, then ends."""
    table = script_table(1024)
    table[:200, encode_bytes("A")[0]] = 30.0
    table[200:, IM_END] = 30.0
    with load(build_toy_bundle(tmp_path / "cloud", table, max_context=1024)) as cloud_model:
        expected = cloud_model.generate(Q, max_new_tokens=512).text
        with serve_in_thread(cloud_model, model_id="cloud-toy") as cloud:
            policy = AFTER.save(tmp_path / "after.json")
            args = ["--cloud-url", cloud.url + "/v1", "--cloud-model", "cloud-toy", "--cloud-key-env", ""]
            with edgekit_serve_process(tiny_bundle("int8"), *args, "--policy", str(policy), "--model-id", "x") as dev:
                body = {"model": "x", "messages": Q, "max_tokens": 4}
                reply = httpx.post(dev.url + "/v1/chat/completions", json=body, timeout=60).json()
                log = dev.stderr()
    assert "hybrid: escalates to " + cloud.url in log
    info = reply["edgekit"]["hybrid"]
    assert info["route"] == "cloud" and info["stage"] == "post" and info["cost"]["local_completion_tokens"] == 4
    assert reply["choices"][0]["message"]["content"] == expected and set(expected) == {"A"}
