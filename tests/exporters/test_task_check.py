"""A task metric the export must keep (ExportSpec.task_check): measured on the finished bundle through the runtime,
recorded in validation.task, passed over under --quant auto, fatal for a fixed recipe; and the tune CLI's
--max-accuracy-drop that builds one from the tuned float model's held-out accuracy.

The metric here is a real one on the tiny model: the share of greedy tokens (3 prompts x 8) equal to those of the
float (fp32) export. Random 4-bit weights move some of them, fp32 none."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from edgekit.runtime.errors import QualityGateError

PROMPTS = ("The capital of France is", "Once upon a time", "How do I reset the hub?")


def _greedy(folder: Path) -> list[list[int]]:
    from edgekit.runtime import load

    with load(folder) as model:
        return [
            list(model.generate([{"role": "user", "content": p}], max_new_tokens=8, temperature=0.0).token_ids)
            for p in PROMPTS
        ]


def _check(reference: list[list[int]], floor: float):
    from edgekit.exporters import TaskCheck

    def measure(folder: Path) -> float:
        pairs = [(a, b) for got, want in zip(_greedy(folder), reference) for a, b in zip(got, want)]
        return sum(a == b for a, b in pairs) / len(pairs)

    return TaskCheck("greedy tokens equal to fp32", measure, floor)


def _spec(**kwargs):
    from edgekit.exporters import ExportSpec, ValidationSettings

    return ExportSpec(validation=ValidationSettings(max_tokens=128), **kwargs)


@pytest.fixture(scope="module")
def reference(tiny_bundle):
    return _greedy(tiny_bundle("fp32"))


def test_auto_passes_over_recipes_below_the_task_floor(tiny_hf_folder, reference, tmp_path):
    from edgekit.exporters import export
    from edgekit.runtime.manifest import read_manifest

    report = export(
        _spec(
            model=str(tiny_hf_folder), out=tmp_path / "auto", quant="auto", min_agreement=0.0,
            task_check=_check(reference, 1.0),
        )
    )  # fmt: skip
    tried = [c for c in report.candidates if c.status != "refused"]
    assert tried[-1].status == "chosen" and tried[-1].recipe == report.recipe and tried[-1].task_score == 1.0
    for miss in tried[:-1]:  # the agreement floor is 0: only the task metric can have passed these over
        assert miss.status == "below task floor" and miss.task_score < 1.0, miss
    assert tried[0].recipe == "int4"
    task = read_manifest(tmp_path / "auto").validation["task"]
    assert task == {"name": "greedy tokens equal to fp32", "score": 1.0, "floor": 1.0, "passed": True}


def test_a_fixed_recipe_below_the_floor_fails_and_writes_nothing(tiny_hf_folder, reference, tmp_path):
    from edgekit.exporters import export

    with pytest.raises(QualityGateError, match=r"int8: greedy tokens equal to fp32 \d\.\d{4} is below its floor 1\.5"):
        export(_spec(model=str(tiny_hf_folder), out=tmp_path / "b", quant="int8", task_check=_check(reference, 1.5)))
    assert list(tmp_path.iterdir()) == []  # neither the bundle nor its staging folder


def test_tune_max_accuracy_drop_is_checked_before_training(tmp_path):
    exe = Path(sys.executable).with_name("edgekit")
    data = tmp_path / "d.jsonl"
    data.write_text(json.dumps({"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]}))
    for args, fragment in [
        (["--max-accuracy-drop", "0.05"], "add --export and --accuracy"),
        (["--export", "--accuracy", str(data), "--max-accuracy-drop", "2"], "must be a share in [0, 1]"),
    ]:
        proc = subprocess.run(
            [str(exe), "tune", "--data", str(data), "--out", str(tmp_path / "o"), *args],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert proc.returncode != 0 and fragment in proc.stderr and "Traceback" not in proc.stderr
        assert not (tmp_path / "o").exists()
