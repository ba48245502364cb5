"""A cloud that echoes the API key back altered must not get it onto stderr, into a log or into Answer.error.

The echoing cloud is a real HTTP server on 127.0.0.1 (tests/sdk/faulty_cloud.py, mode ``echo_key``): its error
body quotes the request's key lowercased, uppercased, in space-separated groups of four or wrapped over two
lines, followed by two fragments of it.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from edgekit.runtime.errors import CloudHTTPError
from edgekit.sdk import CloudClient, CloudConfig, HybridClient, Policy
from edgekit.sdk.cli import main
from edgekit.sdk.hybrid_answer import Route
from edgekit.sdk.policy.base import BASE_FAMILIES
from edgekit.sdk.policy.policy import RouterRule

from .faulty_cloud import Fault, FaultyCloud

KEY = "sk-proj-Abc123XyZ789qwertyUIOP456"  # mixed case, so lower- and uppercased echoes differ from it
KEY_ENV = "EDGEKIT_TEST_ECHO_KEY"
ECHOES = ("lower", "upper", "spaced", "wrapped")
STATUSES = (401, 500)
FRAGMENT = 8  # the shortest run of the key that counts as a leak (cloud/scrub.py's MIN_FRAGMENT)


# Every question goes to the cloud: the echo is always reached.
TO_CLOUD = Policy(families=BASE_FAMILIES, router_rules=(RouterRule("all", "min_chars", value=0),), post_models={})


def ask_args(tiny_local, cloud: FaultyCloud, policy_file: Path) -> list[str]:
    """`edgekit ask` against ``cloud`` with the key from KEY_ENV and the always-escalate policy."""
    return [
        "ask",
        str(tiny_local.bundle_dir),
        "hi",
        "--cloud-url",
        cloud.url,
        "--cloud-model",
        "m",
        "--api-key-env",
        KEY_ENV,
        "--policy",
        str(policy_file),
        "--max-new-tokens",
        "4",
    ]


def leaked(text: str) -> list[str]:
    """Runs of >= FRAGMENT characters of the key found in ``text``, ignoring case and whitespace."""
    flat = "".join(text.split()).lower()
    key = KEY.lower()
    return sorted({key[i : i + FRAGMENT] for i in range(len(key) - FRAGMENT + 1) if key[i : i + FRAGMENT] in flat})


def test_the_leak_check_sees_every_echo():
    # the check itself must be able to fail on each altered form the cloud sends
    for altered in (KEY.lower(), KEY.upper(), " ".join(KEY[i : i + 4] for i in range(0, len(KEY), 4))):
        assert leaked(f"Invalid key {altered}")


@pytest.fixture
def key(monkeypatch) -> str:
    monkeypatch.setenv(KEY_ENV, KEY)
    return KEY


def config(cloud: FaultyCloud) -> CloudConfig:
    return CloudConfig(cloud.url, "m", api_key_env=KEY_ENV, max_retries=1, backoff_base=0.01, deadline=10.0)


@pytest.mark.parametrize("echo", ECHOES)
@pytest.mark.parametrize("status", STATUSES)
def test_client_error_never_carries_the_echoed_key(key, caplog, status, echo):
    caplog.set_level(logging.DEBUG)
    with FaultyCloud(Fault("echo_key", status=status, echo=echo)) as cloud:
        with pytest.raises(CloudHTTPError) as info:
            CloudClient(config(cloud)).complete([{"role": "user", "content": "hi"}])
        assert cloud.requests[0]["authorization"] == f"Bearer {KEY}"  # the key did go out, in its header
    assert info.value.status == status
    assert leaked(str(info.value)) == [] and leaked(caplog.text) == []
    assert "\n" not in str(info.value)  # one line, even when the body wrapped the key
    if status == 500:
        assert "[API_KEY]" in str(info.value)  # the rest of the message is kept


@pytest.mark.parametrize("echo", ECHOES)
@pytest.mark.parametrize("status", STATUSES)
@pytest.mark.parametrize("streamed", [False, True], ids=["ask", "stream"])
def test_answer_error_never_carries_the_echoed_key(tiny_local, key, caplog, status, echo, streamed):
    caplog.set_level(logging.DEBUG)
    with FaultyCloud(Fault("echo_key", status=status, echo=echo)) as cloud:
        client = HybridClient(tiny_local, config(cloud), TO_CLOUD, generation={"max_new_tokens": 4})
        answer = list(client.stream("hi"))[-1].answer if streamed else client.ask("hi")
    assert answer.route is Route.LOCAL_FALLBACK
    assert answer.error_kind == ("auth" if status == 401 else "http")
    assert leaked(json.dumps(answer.to_dict(), ensure_ascii=False)) == [] and leaked(caplog.text) == []


@pytest.mark.parametrize("echo", ECHOES)
@pytest.mark.parametrize("status", STATUSES)
def test_cli_stderr_never_carries_the_echoed_key(tiny_local, key, tmp_path, status, echo):
    policy_file = TO_CLOUD.save(tmp_path / "to_cloud.json")
    with FaultyCloud(Fault("echo_key", status=status, echo=echo)) as cloud:
        r = CliRunner().invoke(
            main,
            ask_args(tiny_local, cloud, policy_file),
            catch_exceptions=False,
        )
    assert r.exit_code == 0, r.output
    assert "[local_fallback" in r.stderr
    assert leaked(r.stderr) == [] and leaked(r.stdout) == []


def test_cli_process_stderr_is_the_route_line_alone(tiny_local, key, tmp_path):
    # a real process has no pytest log handler: a library logger without its own NullHandler would reach
    # stderr through Python's last-resort handler, retry warnings (and what they quote) included
    policy_file = TO_CLOUD.save(tmp_path / "to_cloud.json")
    with FaultyCloud(Fault("echo_key", status=500, echo="spaced")) as cloud:
        proc = subprocess.run(
            [str(Path(sys.executable).with_name("edgekit")), *ask_args(tiny_local, cloud, policy_file)],
            capture_output=True,
            text=True,
            env={**os.environ, KEY_ENV: KEY},
            timeout=120,
        )
        assert len(cloud.requests) == 3  # the first try and max_retries=2
    assert proc.returncode == 0, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("[local_fallback"), proc.stderr
    assert leaked(proc.stderr) == [] and leaked(proc.stdout) == []
