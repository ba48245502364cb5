"""The transfer set and report, the broadened task families, and the CLI around the stated operating point."""

from __future__ import annotations

import json
from collections import Counter

import pytest
from click.testing import CliRunner
from edgekit.sdk.cli import main
from edgekit.sdk.escalation_transfer import policy_scores, transfer_report
from edgekit.sdk.evalset import load_items
from edgekit.sdk.evalset.checkers import check
from edgekit.sdk.evalset.generate_transfer import DEFAULT_PATH as TRANSFER_PATH
from edgekit.sdk.evalset.generate_transfer import generate as generate_transfer
from edgekit.sdk.policy.base import base_policy
from edgekit.sdk.policy.calibration import calibrate
from edgekit.sdk.policy.policy import Policy

from .test_operating_point import _synthetic_records


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_shipped_transfer_set_is_what_its_generator_writes():
    shipped = [json.loads(line) for line in TRANSFER_PATH.read_text(encoding="utf-8").splitlines()]
    assert shipped == generate_transfer()
    assert Counter(i["family"] for i in shipped) == {f: 40 for f in Counter(i["family"] for i in shipped)}
    assert len(Counter(i["family"] for i in shipped)) == 6
    assert Counter(i["level"] for i in shipped) == {f"l{n}": 60 for n in range(1, 5)}
    assert len({i["question"] for i in shipped}) == len(shipped) and load_items(TRANSFER_PATH)


def test_transfer_answers_are_computed_and_checkable():
    by_q = {i["question"]: i for i in generate_transfer()}
    hard = next(i for q, i in by_q.items() if " times " in q and i["level"] == "l4")
    a, b = (int(x) for x in hard["question"].removeprefix("What is ").rstrip("?").split(" times "))
    assert hard["expected"] == a * b and check("number", f"The answer is {a * b}.", hard["expected"])
    words = next(i for i in by_q.values() if i["level"] == "l1" and i["family"] == "arithmetic")
    assert check(words["checker"], f"It is {words['expected'][1]}.", words["expected"])
    prime = next(i for q, i in by_q.items() if q == "Is 91 a prime number?" or "prime" in q)
    assert prime["expected"] in ("yes", "no") and check("yesno", f"{prime['expected'].title()}.", prime["expected"])


@pytest.mark.parametrize(
    "question, family",
    [
        ("What is 48271 times 9343?", "arithmetic"),
        ("How much is seven plus five?", "arithmetic"),
        ("What is 120 divided by 8?", "arithmetic"),
        ("Is 91 a prime number?", "yesno"),
        ("Does a triangle have four sides?", "yesno"),
        ("Convert 3 decades to years.", "conversion"),
        ("How many grams is 7 kilograms?", "conversion"),
        ("Who invented the telephone?", "fact"),
        ("Tell me a joke about cats.", "general"),
    ],
)
def test_families_place_questions_asked_in_words(question, family):
    assert base_policy().classify(question) == family


def test_transfer_report_runs_the_fitted_policy_on_other_records():
    records = _synthetic_records(300)
    fit, test = records[:180], records[180:]
    report = transfer_report(fit, test, target_accuracy=0.9, folds=5)
    policy = calibrate(fit, target_accuracy=0.9, folds=5).policy
    scores = policy_scores(policy, test)
    wrong = [not r["correct"] for r in test]
    at = report["overall"]["at_default_point"]
    assert at["escalation_rate"] == pytest.approx(float(scores["escalated"].mean()))
    assert report["overall"]["auroc_policy"] > 0.8  # the synthetic signal carries over
    assert 0.0 <= report["overall"]["ece_post"] <= 1.0 and report["test_n"] == len(test) == len(wrong)
    # the report's escalation is what the client decides on the same records
    answer_side = [policy.route(r["question"], r["signals"]).escalate for r in test]
    assert all(scores["escalated"][i] for i, routed in enumerate(answer_side) if routed)


def _write(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def test_cli_calibrate_pools_records_and_eval_prints_the_transfer_table(tmp_path):
    records = _synthetic_records(300)
    a, b = _write(tmp_path / "a.jsonl", records[:180]), _write(tmp_path / "b.jsonl", records[180:])
    out = tmp_path / "policy.json"
    r = run("calibrate", "--records", a, "--records", b, "--target-accuracy", 0.9, "--early-tokens", 3, "--out", out)
    assert r.exit_code == 0, r.output
    assert "default point (target accuracy 90%)" in r.output and "early hand-off (first 3 tokens)" in r.output
    pol = Policy.load(out)
    assert pol.operating.default_target_accuracy == 0.9 and pol.early.max_tokens == 3 and pol.meta["n"] == 300
    r = run("eval", "escalation", tmp_path, "--from-records", b, "--fit-records", a, "--target-accuracy", 0.9)
    assert r.exit_code == 0, r.output
    assert "transfer: fitted on 180 other records" in r.output and "ECE post" in r.output
    r = run("eval", "escalation", tmp_path, "--from-records", b, "--fit-records", a, "--json")
    assert json.loads(r.output)["transfer"]["test_n"] == 120


@pytest.mark.parametrize(
    "args, message",
    [
        (("calibrate", "--records", "{tmp}/missing.jsonl"), "no such file"),
        (("calibrate", "--records", "{tmp}/bad.jsonl"), "line 2 is not JSON"),
        (("calibrate", "--records", "{tmp}/a.jsonl", "--early-tokens", -1), "--early-tokens -1: must be >= 0"),
        (("eval", "escalation", "{tmp}", "--from-records", "{tmp}/a.jsonl", "--target-accuracy", 0.9), "goes with"),
        (("ask", "{tmp}", "hi", "--target-accuracy", 2), "target_accuracy=2.0 must be a number in [0, 1]"),
    ],
)
def test_cli_bad_inputs_are_one_line(tmp_path, args, message, tiny_bundle):
    _write(tmp_path / "a.jsonl", _synthetic_records(40))
    (tmp_path / "bad.jsonl").write_text('{"id": 1}\n{nope\n', encoding="utf-8")
    bundle = tiny_bundle("int8") if args[0] == "ask" else None
    argv = [str(a).replace("{tmp}", str(tmp_path)) for a in args]
    if bundle is not None:
        argv[1] = str(bundle)
    r = CliRunner().invoke(main, argv)
    assert r.exit_code != 0 and message in r.output and "Traceback" not in r.output, r.output
