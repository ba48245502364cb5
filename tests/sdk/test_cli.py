"""The hybrid CLI commands on a real tiny bundle (the eval runs on a small slice of the set in CI)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from edgekit.sdk.cli import main
from edgekit.sdk.policy.policy import Policy


def run(*args, **kw):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False, **kw)


@pytest.fixture(scope="module")
def bundle(tiny_local):
    return tiny_local.bundle_dir


def test_eval_escalation_on_a_slice(bundle, tmp_path):
    records = tmp_path / "records.jsonl"
    plot = tmp_path / "curves.png"
    r = run(
        "eval",
        "escalation",
        bundle,
        "--limit",
        16,
        "--max-new-tokens",
        4,
        "--records",
        records,
        "--folds",
        2,
        "--plot",
        plot,
        "--quiet",
    )
    assert r.exit_code == 0, r.output
    assert "AUROC per signal" in r.output and "overall" in r.output and "oracle" in r.output
    lines = [json.loads(x) for x in records.read_text().splitlines()]
    assert len(lines) == 16 and {"signals", "correct", "family", "hidden"} <= set(lines[0])
    assert "hidden-state probe vs today's signals" in r.output  # the tiny bundle exports its hidden states
    assert plot.stat().st_size > 1000
    # the report again from the saved records, as JSON
    r = run("eval", "escalation", bundle, "--from-records", records, "--json", "--folds", 2)
    report = json.loads(r.output)
    assert report["overall"]["n"] == 16 and set(report["families"]) == {"arithmetic", "conversion", "fact", "reasoning"}


def test_calibrate_from_records_writes_a_loadable_policy(bundle, tmp_path):
    records = tmp_path / "records.jsonl"
    run(
        "eval",
        "escalation",
        bundle,
        "--limit",
        24,
        "--max-new-tokens",
        3,
        "--records",
        records,
        "--folds",
        2,
        "--quiet",
    )
    out = tmp_path / "policy.json"
    r = run("calibrate", "--records", records, "--target-rate", 0.2, "--folds", 2, "--out", out)
    assert r.exit_code == 0, r.output
    assert "cross-validated AUROC" in r.output and "hidden-state probe vs today's signals" in r.output
    pol = Policy.load(out)
    assert "default" in pol.post_models and pol.meta["calibration"]["n"] == 24
    # the records carry the answers' mean hidden states: the post models read the answer probe on them
    first = json.loads(records.read_text().splitlines()[0])
    assert pol.answer_probe is not None and "answer_mean" in first["hidden"]
    assert all("answer_probe" in m.features for m in pol.answer_probe.models.values())
    plain = tmp_path / "plain.json"
    args = ("calibrate", "--records", records, "--folds", 2, "--no-answer-probe", "--router-precision", 0.9)
    r = run(*args, "--out", plain)
    assert r.exit_code == 0, r.output
    assert Policy.load(plain).answer_probe is None
    r = CliRunner().invoke(main, ["calibrate", "--records", str(records), "--router-precision", "1.5"])
    assert r.exit_code != 0 and "--router-precision 1.5: must be a share in (0, 1]" in r.output
    assert "Traceback" not in r.output


def test_calibrate_needs_input():
    r = CliRunner().invoke(main, ["calibrate"])
    assert r.exit_code == 1 and "give a BUNDLE to run, or --records FILE" in r.output


def test_ask_local_only_json(bundle):
    r = run("ask", bundle, "What is 2 + 2?", "--local-only", "--max-new-tokens", 4, "--json")
    data = json.loads(r.output)
    assert data["route"] == "local" and data["rule"] == "privacy:local-only" and data["family"] == "arithmetic"


def test_ask_cloud_url_needs_model(bundle):
    r = CliRunner().invoke(main, ["ask", str(bundle), "hi", "--cloud-url", "http://127.0.0.1:9/v1"])
    assert r.exit_code == 1 and "--cloud-model" in r.output


def test_ask_missing_key_env(bundle, monkeypatch):
    monkeypatch.delenv("EDGEKIT_NO_SUCH_KEY", raising=False)
    r = CliRunner().invoke(
        main,
        [
            "ask",
            str(bundle),
            "hi",
            "--cloud-url",
            "http://127.0.0.1:9/v1",
            "--cloud-model",
            "m",
            "--api-key-env",
            "EDGEKIT_NO_SUCH_KEY",
        ],
    )
    assert r.exit_code == 1 and "EDGEKIT_NO_SUCH_KEY is not set" in r.output


def test_serve_bad_web_root(bundle, tmp_path):
    r = CliRunner().invoke(main, ["serve", str(bundle), "--web-root", str(tmp_path)])
    assert r.exit_code == 1 and "has no index.html" in r.output


def test_serve_missing_token_env(bundle, monkeypatch):
    monkeypatch.delenv("EDGEKIT_NO_TOKEN", raising=False)
    r = CliRunner().invoke(main, ["serve", str(bundle), "--api-key-env", "EDGEKIT_NO_TOKEN"])
    assert r.exit_code == 1 and "EDGEKIT_NO_TOKEN" in r.output


def test_chat_hybrid_shows_route(bundle):
    r = CliRunner().invoke(main, ["chat", str(bundle), "--local-only", "-n", "3"], input="What is 2 + 2?\n/exit\n")
    assert r.exit_code == 0, r.output
    assert "[local · privacy:local-only" in r.output


def test_eval_with_a_measured_cloud(bundle, tiny_local):
    from edgekit.sdk.serve import serve_in_thread

    with serve_in_thread(tiny_local, model_id="cloud") as server:
        r = run(
            "eval",
            "escalation",
            bundle,
            "--limit",
            6,
            "--max-new-tokens",
            3,
            "--folds",
            2,
            "--json",
            "--quiet",
            "--cloud-url",
            server.url + "/v1",
            "--cloud-model",
            "cloud",
            "--api-key-env",
            "",
        )
    report = json.loads(r.output)
    # the tiny random model is never right: measured cloud answers are wrong, so the oracle gains nothing
    assert report["overall"]["cloud_accuracy"] == 0.0
    assert report["overall"]["accuracy_at"]["oracle"]["50%"] == report["overall"]["local_accuracy"]


def test_eval_cloud_url_needs_model(bundle):
    r = CliRunner().invoke(main, ["eval", "escalation", str(bundle), "--cloud-url", "http://127.0.0.1:9/v1"])
    assert r.exit_code == 1 and "--cloud-model" in r.output
