"""RESTART events carry the text they supersede (``HybridEvent.replaced_text``): the local answer when the policy
escalates after streaming it, the cloud's partial answer when its stream is cut. The cloud is a real server on
127.0.0.1 (tests/sdk/faulty_cloud.py) that sends "Par", "is" and then closes the connection (``cut``), stalls
until the deadline (``stall``), answers in full (``ok``) or fails before its first word (503).
"""

from __future__ import annotations

import pytest
from edgekit.sdk import CloudConfig, HybridClient, Policy
from edgekit.sdk.hybrid_answer import EventKind, HybridEvent, Route
from edgekit.sdk.policy.base import BASE_FAMILIES
from edgekit.sdk.policy.policy import LogisticModel, RouterRule

from .faulty_cloud import Fault, FaultyCloud

QUESTION = "What is the capital of France?"
MAX_NEW = 6
ALWAYS = LogisticModel(("mean_logprob",), (0.0,), (1.0,), (0.0,), 0.0, 0.0)  # p = 0.5 >= 0: always escalate

TO_CLOUD = Policy(families=BASE_FAMILIES, router_rules=(RouterRule("all", "min_chars", value=0),), post_models={})
LOCAL_FIRST = Policy(families=BASE_FAMILIES, router_rules=(), post_models={"default": ALWAYS})


@pytest.fixture(scope="module")
def local_text(tiny_local) -> str:
    return tiny_local.generate([{"role": "user", "content": QUESTION}], max_new_tokens=MAX_NEW).text


def events_of(tiny_local, policy: Policy, fault: Fault) -> list[HybridEvent]:
    with FaultyCloud(fault) as cloud:
        config = CloudConfig(cloud.url, "m", api_key_env=None, deadline=1.5, max_retries=0)
        client = HybridClient(tiny_local, config, policy, generation={"max_new_tokens": MAX_NEW})
        return list(client.stream(QUESTION))


def restarts(events: list[HybridEvent]) -> list[HybridEvent]:
    return [e for e in events if e.kind is EventKind.RESTART]


def shown_before_each_restart(events: list[HybridEvent]) -> list[str]:
    """The TOKEN text shown since the previous RESTART, at each RESTART (what a renderer would take back)."""
    out, shown = [], []
    for event in events:
        if event.kind is EventKind.TOKEN:
            shown.append(event.text)
        elif event.kind is EventKind.RESTART:
            out.append("".join(shown))
            shown = []
    return out


@pytest.mark.parametrize("fault", [Fault("cut"), Fault("stall", interval=0.2)], ids=["closed", "deadline"])
def test_a_cut_cloud_stream_hands_back_its_partial_text(tiny_local, local_text, fault):
    events = events_of(tiny_local, TO_CLOUD, fault)
    (restart,) = restarts(events)
    assert (restart.source, restart.replaces, restart.replaced_text) == ("local", "cloud", "Paris")
    assert events[-1].answer.cloud_partial_text == restart.replaced_text
    assert events[-1].answer.text == local_text


def test_escalating_after_the_local_answer_hands_back_the_local_text(tiny_local, local_text):
    events = events_of(tiny_local, LOCAL_FIRST, Fault())
    (restart,) = restarts(events)
    assert local_text and (restart.source, restart.replaces, restart.replaced_text) == ("cloud", "local", local_text)
    assert events[-1].answer.route is Route.CLOUD and events[-1].answer.text == "Paris"


def test_local_then_cut_cloud_hands_back_each_superseded_text_in_turn(tiny_local, local_text):
    events = events_of(tiny_local, LOCAL_FIRST, Fault("cut"))
    escalate, fallback = restarts(events)
    assert (escalate.replaces, escalate.replaced_text) == ("local", local_text)
    assert (fallback.replaces, fallback.replaced_text) == ("cloud", "Paris")
    assert [r.replaced_text for r in (escalate, fallback)] == shown_before_each_restart(events)


def test_nothing_to_hand_back_when_the_cloud_failed_before_its_first_word(tiny_local, local_text):
    events = events_of(tiny_local, LOCAL_FIRST, Fault("echo_key", status=503))
    escalate, fallback = restarts(events)
    assert escalate.replaced_text == local_text
    assert (fallback.replaces, fallback.replaced_text) == ("", "")
    assert events[-1].answer.route is Route.LOCAL_FALLBACK and events[-1].answer.cloud_partial_text is None


def test_routed_straight_to_a_working_cloud_there_is_no_restart(tiny_local):
    events = events_of(tiny_local, TO_CLOUD, Fault())
    assert restarts(events) == [] and all(e.replaced_text == "" for e in events)
