"""`edgekit eval commands` on real bundles: the tiny one (random weights, the real tokenizer) in every run, the
default model on a small slice (slow)."""

from __future__ import annotations

import json
import math

import pytest
from click.testing import CliRunner
from edgekit.sdk.cli import main

# the tiny bundle's context is 512 tokens: two tools' section fits, all eight do not
TWO_TOOLS = "set_timer,make_call"


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def _assert_well_formed(report: dict, n: int) -> None:
    assert report["n"] == n and sum(report["kinds"].values()) == n
    shares = {"exact_match": "call", "called_when_needed": "call", "chat_plain": "chat", "no_tool_uncalled": "no_tool"}
    for key, kind in shares.items():  # a share of no items (a slice without that kind) is NaN, never a number
        assert (0.0 <= report[key] <= 1.0) if report["kinds"][kind] else math.isnan(report[key]), (key, report[key])
    assert 0.0 <= report["local_accuracy"] <= 1.0
    for tool, row in report["per_tool"].items():
        assert row["n"] > 0 and 0.0 <= row["exact"] <= row["right_tool"] <= row["called"] <= 1.0, (tool, row)
    curves = report["accuracy_at"]
    assert set(curves) == {"policy", "random", "oracle"}
    for key in ("10%", "20%", "30%"):
        assert report["local_accuracy"] <= curves["random"][key] <= curves["oracle"][key] <= 1.0
        assert report["local_accuracy"] <= curves["policy"][key] <= curves["oracle"][key]
    prev = report["local_accuracy"]
    for key in curves["oracle"]:  # more escalation never lowers the oracle (cloud assumed right)
        assert curves["oracle"][key] >= prev
        prev = curves["oracle"][key]


def test_eval_commands_on_the_tiny_bundle(tiny_bundle, tmp_path):
    records = tmp_path / "records.jsonl"
    r = run(
        "eval", "commands", tiny_bundle("fp32"), "--limit", 10, "--tools", TWO_TOOLS, "--required",
        "--max-new-tokens", 48, "--records", records, "--json", "--quiet", "--examples", "none",
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    report = json.loads(r.stdout)
    _assert_well_formed(report, 10)
    assert set(report["per_tool"]) == {"set_timer", "make_call"}
    # under "required" the grammar makes every tool-needing answer a call, and every call follows its schema
    assert report["local_calls"] >= report["kinds"]["call"] > 0
    assert report["schema_valid"] == 1.0
    assert 0.0 <= report["required"]["exact_match"] <= 1.0
    lines = [json.loads(x) for x in records.read_text(encoding="utf-8").splitlines()]
    assert len(lines) == 10 and all(math.isfinite(x["score"]) for x in lines)
    assert all(c["valid"] for x in lines for c in x["calls"] + x.get("required", {}).get("calls", []))
    # the text report says the same on stdout
    r = run("eval", "commands", tiny_bundle("fp32"), "--limit", 3, "--tools", "set_timer", "--quiet")
    assert r.exit_code == 0, r.output
    assert "schema-valid local calls" in r.stdout and "oracle" in r.stdout and "set_timer" in r.stdout
    assert "worked examples from the train split" in r.stdout  # the default: examples, and the header says so
    assert all(x["examples_shown"] == 0 for x in lines)  # --examples none


def test_worked_examples_come_from_the_pool_and_never_show_the_item_itself(tiny_bundle):
    from edgekit.runtime import load
    from edgekit.sdk.commands_eval import collect_command_records
    from edgekit.sdk.evalset.commands import load_commands, load_tools
    from edgekit.sdk.policy.policy import Policy

    item = next(i for i in load_commands(split="train", tools=["set_timer"]) if i["kind"] == "call")
    twin = {**item, "id": "twin"}  # the same request under another id: a fair example for it
    with load(tiny_bundle("fp32")) as model:
        kw = {"max_new_tokens": 4}
        alone = collect_command_records(
            model, [item], load_tools(["set_timer"]), Policy.default(), examples=[item], **kw
        )
        paired = collect_command_records(
            model, [item], load_tools(["set_timer"]), Policy.default(), examples=[item, twin], **kw
        )
    assert alone[0]["examples_shown"] == 0  # its own row left out: nothing else in the pool
    assert paired[0]["examples_shown"] == 1


def test_eval_commands_overflowing_prompts_are_no_calls(tiny_bundle):
    # all eight tools do not fit the tiny bundle's context: each answer is a context overflow, never a crash
    r = run("eval", "commands", tiny_bundle("fp32"), "--limit", 2, "--json", "--quiet")
    assert r.exit_code == 0, r.output
    report = json.loads(r.stdout)
    assert report["context_overflow"] == 2 and report["local_calls"] == 0 and math.isnan(report["schema_valid"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--split", "test"], "--split 'test' is unknown; use one of: train, held-out, all"),
        (["--tools", "set_timer,nope"], "--tools 'nope' is unknown; known tools: set_timer, set_alarm"),
        (["--limit", "0"], "--limit 0 is invalid: give a positive number of utterances"),
    ],
)
def test_eval_commands_bad_options_are_one_clean_line(tiny_bundle, args, message):
    r = run("eval", "commands", tiny_bundle("fp32"), *args)
    assert r.exit_code == 1 and message in r.output and "Traceback" not in r.output, r.output
    assert len(r.output.strip().splitlines()) == 1


def test_eval_commands_bad_bundle_is_one_clean_line(tmp_path):
    r = run("eval", "commands", tmp_path / "missing", "--limit", 1)
    assert r.exit_code == 1 and "Traceback" not in r.output, r.output
    assert len(r.output.strip().splitlines()) == 1 and "missing" in r.output


@pytest.mark.slow
def test_eval_commands_on_the_default_model(default_bundle):
    r = run("eval", "commands", default_bundle("gguf"), "--limit", 6, "--required", "--json", "--quiet")
    assert r.exit_code == 0, r.output
    report = json.loads(r.stdout)
    _assert_well_formed(report, 6)
    assert report["context_overflow"] == 0  # the eight tools' section fits the real model's context
    assert report["local_calls"] >= report["kinds"]["call"] > 0 and report["schema_valid"] == 1.0
