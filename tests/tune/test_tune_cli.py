"""``edgekit tune`` on the command line: bad input is one line on stderr and exit status 1, never a traceback;
a run prints the tuned folder on stdout and its progress on stderr."""

from __future__ import annotations

import json

from click.testing import CliRunner
from edgekit.sdk.cli import main
from edgekit.sdk.evalset.support_faq import TRAIN_PATH


def _run(*args):
    return CliRunner().invoke(main, ["tune", *map(str, args)])


def _one_line_error(result) -> str:
    assert result.exit_code == 1, (result.exit_code, result.output)
    assert "Traceback" not in result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    return lines[0]


def test_malformed_data_is_one_line_with_the_line_number(tmp_path):
    data = tmp_path / "train.jsonl"
    good = json.dumps({"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]})
    data.write_text(good + "\n" + good + "\n{oops\n", encoding="utf-8")
    line = _one_line_error(_run("default", "--data", data, "--out", tmp_path / "out"))
    assert f"{data}:3: malformed JSON" in line
    assert not (tmp_path / "out").exists()


def test_a_conversation_without_an_assistant_turn(tmp_path):
    data = tmp_path / "train.jsonl"
    data.write_text(json.dumps({"messages": [{"role": "user", "content": "a"}]}) + "\n", encoding="utf-8")
    assert "no assistant turn" in _one_line_error(_run("--data", data, "--out", tmp_path / "out"))


def test_too_few_to_split_and_quant_without_export(tmp_path):
    data = tmp_path / "train.jsonl"
    good = json.dumps({"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]})
    data.write_text((good + "\n") * 3, encoding="utf-8")
    assert "too few to carve a validation split" in _one_line_error(_run("--data", data, "--out", tmp_path / "o"))
    assert "--quant is the recipe of --export" in _one_line_error(
        _run("--data", data, "--out", tmp_path / "o", "--quant", "int8")
    )


def test_an_existing_out_is_refused_before_any_work(tmp_path):
    (tmp_path / "out").mkdir()
    line = _one_line_error(_run("--data", TRAIN_PATH, "--out", tmp_path / "out"))
    assert "already exists; pass --force" in line


def test_a_run_prints_the_folder_and_its_progress(tiny_hf_folder, tmp_path):
    data = tmp_path / "train.jsonl"
    data.write_text("\n".join(TRAIN_PATH.read_text(encoding="utf-8").splitlines()[:20]) + "\n", encoding="utf-8")
    out = tmp_path / "tuned"
    result = _run(tiny_hf_folder, "--data", data, "--out", out, "--max-steps", "2", "--eval-every", "1")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == str(out)
    assert "[3/4] train step 2/2" in result.stderr and "val_loss=" in result.stderr and "eta_s=" in result.stderr
    assert "tuned: 2 steps" in result.stderr


def test_export_keeps_the_held_out_accuracy_within_the_stated_drop(tiny_hf_folder, tmp_path):
    """--export --accuracy FILE --max-accuracy-drop D: the task check measures the bundle, and its score is the
    "after export" row and the manifest's validation.task (auto's passing over: tests/exporters/test_task_check.py)."""
    from edgekit.runtime.manifest import read_manifest
    from edgekit.sdk.evalset.support_faq import HELD_OUT_PATH

    data = tmp_path / "train.jsonl"
    data.write_text("\n".join(TRAIN_PATH.read_text(encoding="utf-8").splitlines()[:20]) + "\n", encoding="utf-8")
    held = tmp_path / "held.jsonl"
    held.write_text("\n".join(HELD_OUT_PATH.read_text(encoding="utf-8").splitlines()[:4]) + "\n", encoding="utf-8")
    out = tmp_path / "tuned"
    result = _run(
        tiny_hf_folder, "--data", data, "--out", out, "--max-steps", "2", "--eval-every", "1", "--export",
        "--quant", "int8", "--accuracy", held, "--max-accuracy-drop", "0.25", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    before, tuned, exported = payload["accuracy"]
    assert exported["label"] == f"after export ({payload['export']['recipe']})" and exported["total"] == 4
    task = read_manifest(tmp_path / "tuned-bundle").validation["task"]
    assert task["name"] == "held-out accuracy (held.jsonl, 4 questions)"
    assert task["score"] == exported["accuracy"] and task["floor"] == max(0.0, tuned["accuracy"] - 0.25)
    assert task["passed"] and "task held-out accuracy (held.jsonl, 4 questions)" in result.stderr
