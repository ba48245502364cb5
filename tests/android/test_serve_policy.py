"""`edgekit serve --web` serves the escalation policy the web demo reads at /policy.json (`--policy FILE`, default:
the shipped default policy), and refuses a missing or malformed policy file with one clear line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx

from tests.android.web_harness import edgekit_serve


def _serve(*args: str) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("edgekit")
    return subprocess.run([str(exe), "serve", *args], capture_output=True, text=True, timeout=120)


def test_policy_is_served_for_the_web_demo(tiny_bundle, tmp_path: Path):
    from edgekit.sdk.policy.policy import Policy, default_policy_path

    custom = Policy(generation={"max_new_tokens": 7}).save(tmp_path / "policy.json")
    bundle = tiny_bundle("fp32")
    with edgekit_serve(bundle) as url:
        served = httpx.get(f"{url}/policy.json", timeout=30)
        assert served.status_code == 200 and served.headers["content-type"].startswith("application/json")
        assert served.json() == json.loads(default_policy_path().read_text(encoding="utf-8"))
    with edgekit_serve(bundle, "--policy", str(custom)) as url:
        assert httpx.get(f"{url}/policy.json", timeout=30).json()["generation"] == {"max_new_tokens": 7}
    with edgekit_serve(bundle, web=False) as url:
        assert httpx.get(f"{url}/policy.json", timeout=30).status_code == 404  # no web demo, no policy endpoint


def test_missing_or_malformed_policy_is_refused_in_one_line(tmp_path: Path):
    missing = _serve(str(tmp_path), "--web", "--policy", str(tmp_path / "nope.json"))
    assert missing.returncode != 0
    assert "nope.json" in missing.stderr and "no such file" in missing.stderr and "Traceback" not in missing.stderr
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "something-else"}', encoding="utf-8")
    malformed = _serve(str(tmp_path), "--web", "--policy", str(bad))
    assert malformed.returncode != 0
    assert "not an edgekit policy file" in malformed.stderr and "Traceback" not in malformed.stderr
