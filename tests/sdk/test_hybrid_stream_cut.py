"""A streamed cloud answer cut mid-way: the events say what the local answer replaces, and `edgekit chat` says on
stdout which answer is which. The cloud is a real server on 127.0.0.1 (tests/sdk/faulty_cloud.py) that sends
"Par", "is" and then closes the connection (``cut``) or only sends keep-alives until the deadline (``stall``).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from edgekit.sdk import CloudConfig, HybridClient, Policy
from edgekit.sdk.cli import main
from edgekit.sdk.cli.ask_cmd import SEPARATORS
from edgekit.sdk.hybrid_answer import EventKind, Route
from edgekit.sdk.policy.base import BASE_FAMILIES
from edgekit.sdk.policy.policy import LogisticModel, RouterRule

from .faulty_cloud import Fault, FaultyCloud

QUESTION = "What is the capital of France?"
MAX_NEW = 6
ALWAYS = LogisticModel(("mean_logprob",), (0.0,), (1.0,), (0.0,), 0.0, 0.0)  # p = 0.5 >= 0: always escalate
CUT = SEPARATORS[("local", "cloud")]
REPLACED = SEPARATORS[("cloud", "local")]

TO_CLOUD = Policy(families=BASE_FAMILIES, router_rules=(RouterRule("all", "min_chars", value=0),), post_models={})
LOCAL_FIRST = Policy(families=BASE_FAMILIES, router_rules=(), post_models={"default": ALWAYS})

CUTS = {
    "closed": (Fault("cut"), "protocol"),
    "deadline": (Fault("stall", interval=0.2), "deadline"),
}


@pytest.fixture(scope="module")
def local_text(tiny_local) -> str:
    return tiny_local.generate([{"role": "user", "content": QUESTION}], max_new_tokens=MAX_NEW).text


def config(cloud: FaultyCloud) -> CloudConfig:
    return CloudConfig(cloud.url, "m", api_key_env=None, deadline=1.5, max_retries=0)


# -- the events ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("fault, kind", CUTS.values(), ids=CUTS.keys())
def test_restart_says_it_replaces_the_partial_cloud_text(tiny_local, local_text, fault, kind):
    with FaultyCloud(fault) as cloud:
        client = HybridClient(tiny_local, config(cloud), TO_CLOUD, generation={"max_new_tokens": MAX_NEW})
        events = list(client.stream(QUESTION))
    (restart,) = [e for e in events if e.kind is EventKind.RESTART]
    at = events.index(restart)
    before, after = events[:at], events[at + 1 : -1]
    assert [(e.source, e.text) for e in before] == [("cloud", "Par"), ("cloud", "is")]
    assert restart.source == "local" and restart.replaces == "cloud" and kind in restart.note
    assert all(e.kind is EventKind.TOKEN and e.source == "local" for e in after)
    assert "".join(e.text for e in after) == local_text
    final = events[-1].answer
    assert final.route is Route.LOCAL_FALLBACK and final.error_kind == kind and final.text == local_text
    assert final.cloud_partial_text == "Paris"  # the replaced text, with the answer that replaced it


# -- edgekit chat -------------------------------------------------------------------------------------------------
def chat(bundle, cloud: FaultyCloud, policy: Policy, tmp_path: Path, turns: list[str]):
    policy_file = policy.save(tmp_path / "policy.json")
    args = ["chat", str(bundle), "--cloud-url", cloud.url, "--cloud-model", "m", "--api-key-env", ""]
    args += ["--policy", str(policy_file), "--cloud-timeout", "1.5", "-n", str(MAX_NEW)]
    return CliRunner().invoke(main, args, input="".join(t + "\n" for t in turns) + "/exit\n", catch_exceptions=False)


@pytest.mark.parametrize("fault, kind", CUTS.values(), ids=CUTS.keys())
def test_chat_prints_a_separator_between_the_cut_cloud_text_and_the_local_answer(
    tiny_local, local_text, tmp_path, fault, kind
):
    with FaultyCloud(fault) as cloud:
        r = chat(tiny_local.bundle_dir, cloud, TO_CLOUD, tmp_path, [QUESTION])
    assert r.exit_code == 0, r.output
    assert r.stdout == f"Paris\n{CUT}\n{local_text}\n"
    assert "[local_fallback" in r.stderr and kind in r.stderr


def test_chat_separators_when_the_local_answer_was_shown_first(tiny_local, local_text, tmp_path):
    with FaultyCloud(Fault("cut")) as cloud:
        r = chat(tiny_local.bundle_dir, cloud, LOCAL_FIRST, tmp_path, [QUESTION])
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert REPLACED in lines and CUT in lines
    # local answer, then the cloud's partial one, then the local answer again: each after its own separator
    out = r.stdout
    first_local, replaced, partial, cut, second_local = (
        out.index(local_text),
        out.index(REPLACED),
        out.index("Paris"),
        out.index(CUT),
        out.rindex(local_text),
    )
    assert first_local < replaced < partial < cut < second_local


def test_chat_separator_when_the_cloud_replaces_the_local_answer(tiny_local, local_text, tmp_path):
    with FaultyCloud() as cloud:
        r = chat(tiny_local.bundle_dir, cloud, LOCAL_FIRST, tmp_path, [QUESTION])
    assert r.exit_code == 0, r.output
    assert r.stdout.endswith(f"{REPLACED}\nParis\n") and r.stdout.startswith(local_text)
    assert "[cloud · post:model:" in r.stderr


def test_chat_remembers_the_final_answer_not_the_separators(tiny_local, local_text, tmp_path):
    with FaultyCloud(Fault("cut")) as cloud:
        r = chat(tiny_local.bundle_dir, cloud, TO_CLOUD, tmp_path, [QUESTION, "And of Spain?"])
        assert r.exit_code == 0, r.output
        second = cloud.requests[1]["body"]["messages"]
    assert [m["role"] for m in second] == ["user", "assistant", "user"]
    assert second[1]["content"] == local_text  # what the user was finally given, without "Paris" or the separator


def test_chat_separator_when_the_cloud_fails_before_its_first_word(tiny_local, local_text, tmp_path):
    with FaultyCloud(Fault("echo_key", status=503)) as cloud:
        r = chat(tiny_local.bundle_dir, cloud, LOCAL_FIRST, tmp_path, [QUESTION])
    assert r.exit_code == 0, r.output
    no_answer = SEPARATORS[("local", "")]
    out = r.stdout
    assert REPLACED in out.splitlines() and no_answer in out.splitlines()
    assert out.index(local_text) < out.index(REPLACED) < out.index(no_answer) < out.rindex(local_text)
    assert "Paris" not in out
