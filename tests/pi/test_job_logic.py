"""The Pi job's verdicts, without emulation: what makes scripts/pi/run_job.py fail, and its pytest plugin."""

from __future__ import annotations

import ast
import copy
import os
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PI_SCRIPTS = REPO / "scripts" / "pi"
sys.path.insert(0, str(PI_SCRIPTS))
import run_job  # noqa: E402


def _result(ids, logprobs=None, machine="aarch64", features=("neon",), stream=True, sampled=None):
    return {
        "machine": machine,
        "torch_imported": False,
        "cpu_features": list(features),
        "cases": [
            {
                "name": "tiny-int4",
                "token_ids": list(ids),
                "text": "x",
                "logprobs": logprobs or [-0.5] * len(ids),
                "stream_matches_generate": stream,
                "sampled_ids": sampled if sampled is not None else [7, 8],
                "sampled_ids_repeat": sampled if sampled is not None else [7, 8],
                "greedy_s": 1.0,
                "load_s": 0.1,
            }
        ],
    }


CASES = run_job.make_cases({"int4": "/b"}, None, threads=1)


def test_identical_tokens_pass():
    ref = _result([1, 2, 3, 4], machine="x86_64")
    rows, failures = run_job.compare("cortex-a72", ref, _result([1, 2, 3, 4]), CASES)
    assert failures == []
    assert rows[0]["identical"] and rows[0]["sampled_identical"] and rows[0]["stream_matches_generate"]


def test_a_different_token_fails_and_says_where():
    ref = _result([1, 2, 3, 4], machine="x86_64")
    rows, failures = run_job.compare("cortex-a72", ref, _result([1, 2, 3, 9]), CASES)
    assert len(failures) == 1 and "differ from x86 at position 3" in failures[0]
    assert rows[0]["first_divergence"] == 3


def test_logprob_drift_fails_even_with_equal_tokens():
    ref = _result([1, 2], logprobs=[-0.5, -0.5], machine="x86_64")
    guest = _result([1, 2], [-0.5, -0.5 - 2 * run_job.LOGPROB_TOL], features=("neon", "fp16", "dotprod"))
    _, failures = run_job.compare("cortex-a76", ref, guest, CASES)
    assert len(failures) == 1 and "logprobs differ" in failures[0]


def test_sampling_across_isas_is_only_required_when_the_arithmetic_matches():
    ref = _result([1, 2], logprobs=[-0.5, -0.5], machine="x86_64")
    # int8 kernels differ (logprobs within tolerance but not identical): another sample is allowed ...
    drift = _result([1, 2], [-0.5, -0.5 - 10 * run_job.SAME_ARITHMETIC_TOL], sampled=[7, 9])
    rows, failures = run_job.compare("cortex-a72", ref, drift, CASES)
    assert failures == [] and rows[0]["sampled_identical"] is False and rows[0]["sample_repeatable"] is True
    # ... but the same seed must repeat on the device
    drift["cases"][0]["sampled_ids_repeat"] = [7, 10]
    _, failures = run_job.compare("cortex-a72", ref, drift, CASES)
    assert len(failures) == 1 and "sampled different tokens twice" in failures[0]


def test_stream_sample_torch_machine_and_cpu_features_are_checked():
    ref = _result([1, 2], machine="x86_64")
    guest = _result([1, 2], stream=False, sampled=[7, 9], machine="x86_64", features=("neon", "dotprod"))
    guest["torch_imported"] = True
    _, failures = run_job.compare("cortex-a72", ref, guest, CASES)
    text = "\n".join(failures)
    assert "not aarch64" in text and "imported torch" in text and "dotprod absent" in text
    assert "stream()" in text and "seeded sampling differs" in text


def test_default_case_must_be_16_tokens():
    cases = run_job.make_cases({}, "/default", threads=1)
    ref = copy.deepcopy(_result([1, 2], machine="x86_64"))
    ref["cases"][0]["name"] = "default-gguf"
    guest = copy.deepcopy(_result([1, 2]))
    guest["cases"][0]["name"] = "default-gguf"
    _, failures = run_job.compare("cortex-a72", ref, guest, cases)
    assert any("not 16" in f for f in failures)


def _pytest(tmp_path, body: str, *extra):
    (tmp_path / "test_case.py").write_text(textwrap.dedent(body))
    junit = tmp_path / "junit.xml"
    env = dict(os.environ, PYTHONPATH=str(PI_SCRIPTS))
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            f"--junitxml={junit}",
            "--rootdir",
            str(tmp_path),
            "-c",
            os.devnull,
            *extra,
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        cwd=tmp_path,
    )
    return proc, run_job.parse_junit(junit)


BODY = """
import pytest

@pytest.fixture
def exported():
    raise ModuleNotFoundError("No module named 'torch'", name="torch")

def test_needs_export(exported):
    pass

def test_body_imports_torch():
    raise ModuleNotFoundError("No module named 'torch'", name="torch")

def test_ok():
    pass

@pytest.mark.skip(reason="because")
def test_skipped():
    pass
"""


def test_junit_counts_and_reasons(tmp_path):
    proc, result = _pytest(tmp_path, BODY)
    assert proc.returncode == 1
    assert (result["passed"], result["skipped"]) == (1, 1)
    assert result["failures"] + result["errors"] == 2
    assert result["skipped_tests"][0]["reason"] == "because"


def test_guest_plugin_skips_only_fixtures_that_need_the_export_stack(tmp_path):
    proc, result = _pytest(tmp_path, BODY, "-p", "guest_plugin")
    assert proc.returncode == 1, proc.stdout  # the test body importing torch still fails
    assert [f["test"].split("::")[-1] for f in result["failed_tests"]] == ["test_body_imports_torch"]
    reasons = {s["test"].split("::")[-1]: s["reason"] for s in result["skipped_tests"]}
    assert "test_needs_export" in reasons and "absent on the device by design" in reasons["test_needs_export"]
    assert result["passed"] == 1


def test_job_script_refuses_bad_arguments():
    proc = subprocess.run(
        [sys.executable, str(PI_SCRIPTS / "run_job.py"), "--cpus", "cortex-a53"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode != 0


# Import names of distributions whose import name differs from the distribution name.
_IMPORT_NAMES = {"python-stdnum": "stdnum"}


def _guest_importable() -> set[str]:
    """Top-level modules the emulated device has: the base install, the guest test tools, edgekit's runtime/sdk."""
    names = set()
    for requirement in run_job.aarch64_env.base_requirements():
        dist = run_job.aarch64_env.requirement_name(requirement).lower()
        names.add(_IMPORT_NAMES.get(dist, dist.replace("-", "_")))
    return names | {"edgekit.runtime", "edgekit.sdk"}


def _required_modules(path: Path):
    """(test node or None, module) for every import_or_skip_or_fail("module", ...) call in a test file."""
    tree = ast.parse(path.read_text())
    for statement in tree.body:
        node = statement.name if isinstance(statement, ast.FunctionDef) and statement.name.startswith("test_") else None
        for call in ast.walk(statement):
            if (
                isinstance(call, ast.Call)
                and getattr(call.func, "id", None) == "import_or_skip_or_fail"
                and call.args
                and isinstance(call.args[0], ast.Constant)
            ):
                yield node, call.args[0].value


def test_every_guest_test_that_needs_what_the_device_lacks_is_left_out_with_a_reason():
    # Under CI=true a missing import fails instead of skipping, so a guest test module that needs torch or a dev
    # tool the device does not have must be deselected by name (with the reason the job prints), or the job fails.
    importable = _guest_importable()

    def available(module: str) -> bool:
        return module in importable or module.split(".")[0] in importable and not module.startswith("edgekit.")

    missing = []
    for rel in run_job.guest_test_files(run_job.GUEST_TESTS):  # the files the job runs (deselected ones left out)
        for node, module in _required_modules(REPO / rel):
            if available(module) or (node and f"{rel}::{node}" in run_job.GUEST_DESELECT):
                continue
            missing.append(f"{rel}{'::' + node if node else ''} needs {module}")
    assert not missing, "add to GUEST_DESELECT in scripts/pi/run_job.py, with the reason: " + "; ".join(missing)
    assert all(reason.strip() for reason in run_job.GUEST_DESELECT.values())


def test_guest_tests_are_sharded_once_each_except_the_kernel_dependent_ones():
    files = run_job.guest_test_files(run_job.GUEST_TESTS)
    assert "tests/runtime/test_tools.py" in files and "tests/runtime/test_bench.py" not in files  # deselected
    cpus = ["cortex-a72", "cortex-a76"]
    shards = run_job.shard_tests(files, cpus)
    for name in run_job.EVERY_CPU_TESTS | set(run_job.TEST_WEIGHTS):
        assert (REPO / name).is_file(), f"{name} is named in run_job.py but does not exist"
    for cpu in cpus:
        assert run_job.EVERY_CPU_TESTS <= set(shards[cpu])
    once = [f for f in files if f not in run_job.EVERY_CPU_TESTS]
    placed = [f for cpu in cpus for f in shards[cpu] if f not in run_job.EVERY_CPU_TESTS]
    assert sorted(placed) == sorted(once)  # every other file exactly once
    weight = {
        cpu: sum(run_job.TEST_WEIGHTS.get(f, run_job.DEFAULT_TEST_WEIGHT) for f in shards[cpu] if f in once)
        for cpu in cpus
    }
    heaviest = max(run_job.TEST_WEIGHTS.get(f, run_job.DEFAULT_TEST_WEIGHT) for f in once)
    assert abs(weight[cpus[0]] - weight[cpus[1]]) <= heaviest, weight
    assert run_job.shard_tests(files, ["cortex-a76"])["cortex-a76"] == sorted(files)  # one CPU runs everything
