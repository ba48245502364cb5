"""The wall-clock deadline of a cloud call, against a real misbehaving cloud on 127.0.0.1.

httpx's read timeout bounds each wait for the next bytes, so a cloud that trickles a byte a second, or keeps an
SSE stream alive with comments or empty deltas, never trips it; only the total deadline ends such a call. Each
test would run for the fault's ``max_seconds`` (20 s) without it, so the elapsed-time bounds below are far from
both the deadline and that.
"""

from __future__ import annotations

import threading
import time

import pytest
from edgekit.sdk import CloudClient, CloudConfig, HybridClient, Policy
from edgekit.sdk.cloud import CloudDeadlineError
from edgekit.sdk.hybrid_answer import EventKind, Route
from edgekit.sdk.policy.base import BASE_FAMILIES
from edgekit.sdk.policy.policy import LogisticModel

from .faulty_cloud import Fault, FaultyCloud

DEADLINE = 1.5
# generous: the tiny local model and thread start-up on a loaded 2-core CI machine, yet well under the 20 s a
# fault runs for when nothing cuts it
SLACK = 4.0
GEN = {"max_new_tokens": 6}
ALWAYS = LogisticModel(("mean_logprob",), (0.0,), (1.0,), (0.0,), 0.0, 0.0)  # p = 0.5 >= 0: always escalate
Q = [{"role": "user", "content": "What is the capital of France?"}]
MSGS = [{"role": "user", "content": "hi"}]

STREAM_FAULTS = {
    "keepalive_comments": Fault("keepalive", interval=0.2),
    "empty_deltas": Fault("empty", interval=0.2),
    "trickled_sse": Fault("trickle", interval=0.5),
}


def config(cloud: FaultyCloud, deadline: float | None = DEADLINE) -> CloudConfig:
    return CloudConfig(cloud.url, "m", api_key_env=None, deadline=deadline, max_retries=0)


def always_escalate() -> Policy:
    return Policy(families=BASE_FAMILIES, router_rules=(), post_models={"default": ALWAYS})


def workers_alive(wait: float = 2.0) -> list[str]:
    """Names of cloud worker threads still running after ``wait`` s (a cut call must stop its worker)."""
    end = time.monotonic() + wait
    while True:
        names = [t.name for t in threading.enumerate() if t.name.startswith("edgekit-cloud")]
        if not names or time.monotonic() > end:
            return names
        time.sleep(0.05)


def test_trickled_json_body_is_cut_at_the_deadline():
    with FaultyCloud(Fault("trickle", interval=1.0)) as cloud:
        client = CloudClient(config(cloud))
        start = time.monotonic()
        with pytest.raises(CloudDeadlineError, match=f"deadline exceeded after {DEADLINE:g} s"):
            client.complete(MSGS)
        elapsed = time.monotonic() - start
        assert DEADLINE * 0.9 <= elapsed < DEADLINE + SLACK
        assert len(cloud.requests) == 1
        assert workers_alive() == []


@pytest.mark.parametrize("fault", STREAM_FAULTS.values(), ids=STREAM_FAULTS.keys())
def test_stream_without_content_is_cut_at_the_deadline(fault):
    with FaultyCloud(fault) as cloud:
        client = CloudClient(config(cloud))
        start = time.monotonic()
        with pytest.raises(CloudDeadlineError):
            for chunk in client.stream(MSGS):
                assert chunk.reply is None  # the stream never completes
        elapsed = time.monotonic() - start
        assert DEADLINE * 0.9 <= elapsed < DEADLINE + SLACK
        assert workers_alive() == []


def test_per_call_deadline_overrides_the_config():
    with FaultyCloud(Fault("keepalive", interval=0.2)) as cloud:
        client = CloudClient(config(cloud, deadline=600.0))
        start = time.monotonic()
        with pytest.raises(CloudDeadlineError, match="after 1 s"):
            list(client.stream(MSGS, deadline=1.0))
        assert time.monotonic() - start < 1.0 + SLACK


def test_ask_returns_the_local_answer_when_the_cloud_trickles(tiny_local):
    local = tiny_local.generate(Q, **GEN)
    with FaultyCloud(Fault("trickle", interval=1.0)) as cloud:
        client = HybridClient(tiny_local, config(cloud), always_escalate(), generation=GEN)
        start = time.monotonic()
        answer = client.ask(Q)
        elapsed = time.monotonic() - start
    assert answer.route is Route.LOCAL_FALLBACK and answer.text == local.text
    assert answer.error_kind == "deadline" and "deadline" in answer.error
    assert elapsed < DEADLINE + SLACK


def test_ask_cloud_timeout_argument_bounds_the_call(tiny_local):
    with FaultyCloud(Fault("trickle", interval=1.0)) as cloud:
        client = HybridClient(tiny_local, config(cloud, deadline=600.0), always_escalate(), generation=GEN)
        start = time.monotonic()
        answer = client.ask(Q, cloud_timeout=1.0)
        assert time.monotonic() - start < 1.0 + SLACK
    assert answer.route is Route.LOCAL_FALLBACK and answer.error_kind == "deadline"


@pytest.mark.parametrize("fault", STREAM_FAULTS.values(), ids=STREAM_FAULTS.keys())
def test_stream_falls_back_to_the_local_answer_at_the_deadline(tiny_local, fault):
    local = tiny_local.generate(Q, **GEN)
    with FaultyCloud(fault) as cloud:
        client = HybridClient(tiny_local, config(cloud), always_escalate(), generation=GEN)
        start = time.monotonic()
        events = list(client.stream(Q))
        elapsed = time.monotonic() - start
    final = events[-1].answer
    assert final.route is Route.LOCAL_FALLBACK and final.error_kind == "deadline" and final.text == local.text
    assert not any(e.kind is EventKind.TOKEN and e.source == "cloud" for e in events)
    assert elapsed < DEADLINE + SLACK
