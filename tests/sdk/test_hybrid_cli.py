"""`edgekit ask` and hybrid `edgekit chat` against a real misbehaving cloud on 127.0.0.1 (tests/sdk/faulty_cloud.py).

The commands run through click's CliRunner (stdout and stderr kept apart) or as a real process where the
operating system's handling of argv matters.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from edgekit.sdk.cli import main
from edgekit.sdk.policy import Policy
from edgekit.sdk.policy.base import BASE_FAMILIES
from edgekit.sdk.policy.policy import RouterRule

from .faulty_cloud import Fault, FaultyCloud

QUESTION = "What is the capital of France?"
MAX_NEW = 6
SLACK = 4.0  # bundle load, tiny local generation and thread start-up on a loaded CI machine
EDGEKIT = Path(sys.executable).with_name("edgekit")


@pytest.fixture(scope="module")
def bundle(tiny_local):
    return tiny_local.bundle_dir


@pytest.fixture(scope="module")
def to_cloud(tmp_path_factory) -> Path:
    """A policy whose router sends every question to the cloud (the device answers only as the fallback)."""
    policy = Policy(families=BASE_FAMILIES, router_rules=(RouterRule("all", "min_chars", value=0),), post_models={})
    return policy.save(tmp_path_factory.mktemp("policy") / "to_cloud.json")


@pytest.fixture(scope="module")
def local_text(tiny_local) -> str:
    return tiny_local.generate([{"role": "user", "content": QUESTION}], max_new_tokens=MAX_NEW).text


def invoke(*args, **kw):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False, **kw)


def cloud_args(cloud: FaultyCloud, policy: Path, *extra) -> list:
    return ["--cloud-url", cloud.url, "--cloud-model", "m", "--api-key-env", "", "--policy", policy, *extra]


# -- --cloud-timeout ------------------------------------------------------------------------------------------------
def test_ask_cloud_timeout_cuts_a_trickling_cloud_and_prints_the_local_answer(bundle, to_cloud, local_text):
    with FaultyCloud(Fault("trickle", interval=1.0)) as cloud:
        start = time.monotonic()
        r = invoke(
            "ask", bundle, QUESTION, *cloud_args(cloud, to_cloud, "--cloud-timeout", 1.5), "--max-new-tokens", MAX_NEW
        )
        elapsed = time.monotonic() - start
    assert r.exit_code == 0, r.output
    assert r.stdout == local_text + "\n"
    assert "[local_fallback · router:rule:all" in r.stderr and "deadline:" in r.stderr
    assert elapsed < 1.5 + SLACK  # the trickle alone would take its max_seconds (20 s)


def test_chat_cloud_timeout_cuts_a_trickling_cloud(bundle, to_cloud, local_text):
    with FaultyCloud(Fault("trickle", interval=1.0)) as cloud:
        start = time.monotonic()
        r = invoke(
            "chat",
            bundle,
            *cloud_args(cloud, to_cloud, "--cloud-timeout", 1.5),
            "-n",
            MAX_NEW,
            input=QUESTION + "\n/exit\n",
        )
        elapsed = time.monotonic() - start
    assert r.exit_code == 0, r.output
    assert local_text in r.stdout and "deadline" in r.stderr
    assert elapsed < 1.5 + SLACK


@pytest.mark.parametrize("value", ["0", "-1", "nan"])
def test_cloud_timeout_must_be_positive(bundle, to_cloud, value):
    with FaultyCloud() as cloud:
        r = CliRunner().invoke(
            main, ["ask", str(bundle), QUESTION, *map(str, cloud_args(cloud, to_cloud)), "--cloud-timeout", value]
        )
        assert cloud.requests == []
    assert r.exit_code == 1
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "--cloud-timeout" in lines[0] and "must be > 0" in lines[0], r.stderr


# -- redaction on by default --------------------------------------------------------------------------------------
EMAIL = "jane.roe@example.org"
PERSONAL = f"Write to {EMAIL} about the capital of France."


def sent_text(cloud: FaultyCloud) -> str:
    (request,) = cloud.requests
    return request["body"]["messages"][-1]["content"]


def test_ask_redacts_by_default(bundle, to_cloud):
    with FaultyCloud(Fault("ok", pieces=("Sent to [EMAIL_1].",))) as cloud:
        r = invoke("ask", bundle, PERSONAL, *cloud_args(cloud, to_cloud), "--max-new-tokens", MAX_NEW)
        sent = sent_text(cloud)
    assert r.exit_code == 0, r.output
    assert EMAIL not in sent and "[EMAIL_1]" in sent
    assert r.stdout == f"Sent to {EMAIL}.\n"  # restored on the way back


def test_ask_no_redact_sends_the_text_as_it_is(bundle, to_cloud):
    with FaultyCloud() as cloud:
        r = invoke("ask", bundle, PERSONAL, *cloud_args(cloud, to_cloud, "--no-redact"), "--max-new-tokens", MAX_NEW)
        sent = sent_text(cloud)
    assert r.exit_code == 0, r.output
    assert sent == PERSONAL


def test_chat_redacts_by_default(bundle, to_cloud):
    with FaultyCloud() as cloud:
        r = invoke("chat", bundle, *cloud_args(cloud, to_cloud), "-n", MAX_NEW, input=PERSONAL + "\n/exit\n")
        sent = sent_text(cloud)
    assert r.exit_code == 0, r.output
    assert EMAIL not in sent and "[EMAIL_1]" in sent


# -- invalid UTF-8 in argv ----------------------------------------------------------------------------------------
def test_ask_refuses_a_question_that_is_not_utf8_in_one_line(bundle):
    env = {**os.environ, "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "PYTHONUTF8": "1"}
    proc = subprocess.run(
        [str(EDGEKIT).encode(), b"ask", str(bundle).encode(), b"caf\xe9", b"--local-only"],
        capture_output=True,
        env=env,
        timeout=120,
    )
    stderr = proc.stderr.decode("utf-8", "replace")
    assert proc.returncode == 1, stderr
    assert proc.stdout == b""
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert "the question is not valid UTF-8: byte 0xe9 at byte offset 3" in lines[0]
    assert "Traceback" not in stderr
