#!/usr/bin/env python3
"""The Raspberry Pi job: edgekit's runtime on emulated aarch64, checked against x86.

1. Build (or reuse) the emulated Raspberry Pi OS 64-bit Python (``aarch64_env.py``).
2. Decode fixed prompts from the given bundles on x86 with ``parity_driver.py``: the reference.
3. For each emulated CPU — ``cortex-a72`` (Pi 4: NEON only) and ``cortex-a76`` (Pi 5: NEON +
   fp16 + dotprod, which makes onnxruntime pick its dotprod int8 kernels), run in parallel:
   a. the runtime's own tests (``tests/runtime`` + ``tests/pi``, not slow) with pytest inside
      the emulated Python (bundles the x86 fixtures exported and cached are reused as is);
   b. the same driver over the same bundles.
4. Fail unless every test passed, every greedy token id (and each seeded sample) equals
   x86's, per-token logprobs agree within ``LOGPROB_TOL``, streaming equals generate, torch was
   never imported, and the emulated CPU exposed the features its model has.

Emulation proves installability, correctness and parity, never speed (qemu runs compute
kernels 100-300x slower): nothing here times or asserts throughput. Prints every step with
its wall time, what was skipped and why, and writes a JSON summary (``--summary-json``).

    python scripts/pi/run_job.py --tiny fp32=BUNDLE --tiny gguf=BUNDLE --default BUNDLE
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import re
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import aarch64_env  # noqa: E402

REPO = aarch64_env.REPO
BUDGET_S = 8 * 60  # the wall-time budget of the whole job (what CI allows)
# Per-token logprobs differ between ISAs because onnxruntime's int8-activation kernels (MatMulNBits
# accuracy_level 4: the 8-bit layers and head of every quantized recipe, and the 4-bit layers on a
# core without dotprod) quantize activations differently on AVX-512-VNNI, NEON and NEON-dotprod.
# Measured here: 1e-6 for fp32; up to 0.019 nats (tiny int8) and 0.065 nats (default gguf, Cortex-A72)
# for quantized bundles, with identical greedy tokens. A runtime bug (cache, rotary position, mask)
# moves logits by whole nats and changes the tokens.
LOGPROB_TOL = 0.15
# Below this the two sides did the same arithmetic, so a seeded sample must pick the same tokens.
# Above it, it need not: the tiny models have random weights and near-uniform distributions
# (entropy ~ ln 49152), where any change in the last digits reorders the top-k.
SAME_ARITHMETIC_TOL = 1e-4
TINY_PROMPT = "The capital of France is"
# Raw text, no chat template: 12 prompt tokens instead of 38, and emulation pays per token.
DEFAULT_PROMPT = "The three most useful things to pack for a day hike are"
MAX_NEW_TOKENS = 16
GUEST_TESTS = ("tests/runtime", "tests/pi")
# Left out inside the emulator, each with the reason the job prints.
GUEST_DESELECT = {
    "tests/runtime/test_bench.py": "speed benchmark: emulation says nothing about speed (and its --plot needs the "
    "bench extra, which the base install on a Pi does not have)",
    "tests/runtime/test_no_torch.py": "torch is not installed in the emulated device at all, so every test run there "
    "already proves the runtime works without it",
    "tests/pi/test_doctor.py::test_doctor_never_imports_torch": "torch is not installed in the emulated device at all "
    "(same reason as test_no_torch)",
    "tests/pi/test_job_logic.py": "checks this job's own x86-side verdicts, not the runtime",
    "tests/runtime/test_golden.py": "compares the runtime with transformers' torch model; the device has no torch "
    "by design, so the x86 run is where it runs",
    "tests/runtime/test_chat.py::test_same_text_as_transformers": "compares with transformers' template renderer, "
    "which the device does not have (the x86 run covers it)",
    "tests/runtime/test_constraints_tokenizer.py": "its tiny bundle is exported on the spot by the export stack "
    "(torch), which the device does not have; test_constraints.py runs the same checks on the device",
    "tests/runtime/test_tiny_bundles.py": "compares the runtime's greedy tokens with transformers' torch model, "
    "which the device does not have (the x86 run covers it; the parity decode below checks the same bundles "
    "against the x86 runtime)",
    "tests/runtime/test_hidden_state.py": "compares the exported hidden state with transformers' torch model, "
    "which the device does not have (the x86 run covers it)",
    "tests/runtime/test_template_limits.py": "bounds the chat-template sandbox (pure Python jinja, the same on every "
    "ISA) with wall-clock limits set for a real CPU, which emulation exceeds; the x86 run covers it",
    "tests/runtime/test_cli_input_encoding.py": "checks how the CLI decodes argv and stdin bytes (pure Python, the "
    "same on every ISA) by starting a dozen CLI processes, a minute and a half under emulation; the x86 run covers it",
    "tests/runtime/test_cli_sampling.py": "checks the CLI's sampling flags (pure Python argument checks) in real "
    "processes; the x86 run covers it, and test_sampling.py runs the sampler itself on every emulated CPU",
    "tests/runtime/test_manifest_fuzz.py": "fuzzes the manifest reader (pure Python, the same on every ISA) with "
    "hypothesis, a dev tool the device's base install does not have; the x86 run covers it",
}
# Files whose results depend on the CPU's kernels (int8 dot products with or without dotprod, NEON float
# paths): every emulated CPU runs them. Every other guest test file runs on one CPU only (shard_tests): its
# logic is the same on both, and running it twice would double the job's longest part.
EVERY_CPU_TESTS = frozenset(
    {
        "tests/runtime/test_model_numerics.py",
        "tests/runtime/test_generation.py",
        "tests/runtime/test_sampling.py",
        "tests/runtime/test_batched_decode.py",
        "tests/runtime/test_penalties.py",
    }
)
# Seconds each file took under emulation (Cortex-A76, both CPUs emulated at once on 2 x86 cores), for balancing
# the shards; a file not listed counts as DEFAULT_TEST_WEIGHT.
TEST_WEIGHTS = {
    "tests/runtime/test_tools.py": 294,
    "tests/runtime/test_constraints.py": 56,
    "tests/runtime/test_ort_telemetry.py": 35,
    "tests/runtime/test_cli.py": 17,
    "tests/runtime/test_integrity_cache.py": 8,
    "tests/runtime/test_chat.py": 7,
}
DEFAULT_TEST_WEIGHT = 3
# What each emulated CPU must (not) expose: Cortex-A72 is ARMv8.0-A (no dotprod), Cortex-A76 is
# ARMv8.2-A with the dot product extension (Arm Cortex-A72/A76 TRMs).
EXPECTED_FEATURES = {"cortex-a72": {"neon": True, "dotprod": False}, "cortex-a76": {"neon": True, "dotprod": True}}


def log(message: str) -> None:
    print(f"[pi-job] {message}", flush=True)


@dataclass
class CpuOutcome:
    cpu: str
    tests: dict[str, Any] = field(default_factory=dict)
    parity: list[dict[str, Any]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)


def make_cases(tiny: dict[str, str], default: str | None, threads: int) -> list[dict[str, Any]]:
    cases = [
        {
            "name": f"tiny-{recipe}",
            "bundle": path,
            "prompt": TINY_PROMPT,
            "max_new_tokens": MAX_NEW_TOKENS,
            "threads": threads,
            "checks": ["greedy", "stream", "sample"],
        }
        for recipe, path in sorted(tiny.items())
    ]
    if default:
        cases.append(
            {
                "name": "default-gguf",
                "bundle": default,
                "prompt": DEFAULT_PROMPT,
                "max_new_tokens": MAX_NEW_TOKENS,
                "threads": threads,
                "checks": ["greedy"],
                "require_full_length": True,
            }
        )
    return cases


@dataclass(frozen=True)
class Deadline:
    """The job's wall-time budget: every subprocess gets only what is left of it."""

    budget_s: float
    ends_at: float

    def remaining(self) -> float:
        return max(self.ends_at - time.monotonic(), 1.0)

    def text(self) -> str:
        return f"{self.budget_s:.0f}-second"


def run_driver(
    argv: list[str], cases_file: Path, env: dict[str, str] | None, deadline: Deadline, logfile: Path
) -> dict:
    proc = subprocess.run(
        [*argv, str(HERE / "parity_driver.py"), str(cases_file)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=deadline.remaining(),
    )
    logfile.write_text(proc.stderr)
    if proc.returncode != 0:
        raise RuntimeError(f"parity driver exited {proc.returncode}:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def parse_junit(path: Path) -> dict[str, Any]:
    root = ET.parse(path).getroot()
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    counts = {k: sum(int(s.get(k, 0)) for s in suites) for k in ("tests", "failures", "errors", "skipped")}
    skipped, failed = [], []
    for case in root.iter("testcase"):
        name = f"{case.get('classname')}::{case.get('name')}"
        for child in case:
            if child.tag == "skipped":
                # A module skipped at collection says only "collection skipped"; the reason is the text.
                reason = child.get("message", "")
                if reason == "collection skipped" and child.text:
                    # text is the repr of (path, line, "Skipped: reason")
                    found = re.search(r"Skipped: (.*)[\"']\)\s*$", child.text)
                    reason = found.group(1) if found else child.text.strip()
                skipped.append({"test": name, "reason": reason})
            elif child.tag in ("failure", "error"):
                failed.append({"test": name, "message": (child.get("message") or "")[:300]})
    counts["passed"] = counts["tests"] - counts["failures"] - counts["errors"] - counts["skipped"]
    return {**counts, "skipped_tests": skipped, "failed_tests": failed}


def guest_test_files(paths: tuple[str, ...]) -> list[str]:
    """The test files under ``paths`` (repo-relative), without the ones left out inside the emulator."""
    files = []
    for path in paths:
        root = REPO / path
        found = [root] if root.is_file() else sorted(root.rglob("test_*.py"))
        files += [f.relative_to(REPO).as_posix() for f in found]
    return [f for f in files if f not in GUEST_DESELECT]


def shard_tests(files: list[str], cpus: list[str]) -> dict[str, list[str]]:
    """Each CPU's files: EVERY_CPU_TESTS on all, the rest once each, heaviest first onto the lightest shard."""
    shards: dict[str, list[str]] = {cpu: [f for f in files if f in EVERY_CPU_TESTS] for cpu in cpus}
    load = dict.fromkeys(cpus, 0.0)
    rest = sorted(
        (f for f in files if f not in EVERY_CPU_TESTS), key=lambda f: (-TEST_WEIGHTS.get(f, DEFAULT_TEST_WEIGHT), f)
    )
    for f in rest:
        cpu = min(cpus, key=lambda c: (load[c], cpus.index(c)))
        shards[cpu].append(f)
        load[cpu] += TEST_WEIGHTS.get(f, DEFAULT_TEST_WEIGHT)
    return {cpu: sorted(shard) for cpu, shard in shards.items()}


def guest_tests(env_: aarch64_env.Aarch64Env, cpu: str, work: Path, deadline: Deadline, paths: tuple[str, ...]) -> dict:
    junit = work / f"junit-{cpu}.xml"
    logfile = work / f"pytest-{cpu}.log"
    args = [
        "-m",
        "pytest",
        *paths,
        "-q",
        "-m",
        "not slow",
        "-p",
        "no:cacheprovider",
        "-p",
        "guest_plugin",
        f"--junitxml={junit}",
        "-o",
        "junit_family=xunit1",
        "--durations=15",
    ]
    for node in GUEST_DESELECT:
        if "::" in node and node.split("::")[0] in paths:
            args += ["--deselect", node]
    proc = env_.run(cpu, args, cwd=REPO, env={"PYTHONPATH": str(HERE)}, timeout=deadline.remaining())
    logfile.write_text(proc.stdout + "\n" + proc.stderr)
    result = (
        parse_junit(junit)
        if junit.exists()
        else {
            "tests": 0,
            "passed": 0,
            "failures": 0,
            "errors": 1,
            "skipped": 0,
            "skipped_tests": [],
            "failed_tests": [],
        }
    )
    result["exit_code"] = proc.returncode
    result["log"] = str(logfile)
    tail = [line for line in proc.stdout.strip().splitlines() if line.strip()][-1:] or [""]
    result["summary_line"] = tail[0]
    return result


def compare(cpu: str, reference: dict, guest: dict, cases: list[dict]) -> tuple[list[dict], list[str]]:
    rows, failures = [], []
    if guest.get("machine") != "aarch64":
        failures.append(f"{cpu}: driver ran on {guest.get('machine')!r}, not aarch64")
    if guest.get("torch_imported"):
        failures.append(f"{cpu}: the runtime imported torch")
    features = set(guest.get("cpu_features") or [])
    for feature, wanted in EXPECTED_FEATURES[cpu].items():
        if (feature in features) != wanted:
            failures.append(
                f"{cpu}: expected {feature} {'present' if wanted else 'absent'}, edgekit.runtime.device saw "
                f"{sorted(features)}"
            )
    by_name = {c["name"]: c for c in guest["cases"]}
    for ref, case in zip(reference["cases"], cases):
        got = by_name.get(ref["name"])
        row: dict[str, Any] = {"case": ref["name"], "cpu": cpu, "x86_ids": ref["token_ids"]}
        if got is None:
            failures.append(f"{cpu} {ref['name']}: no result")
            continue
        same = got["token_ids"] == ref["token_ids"]
        n = len(ref["token_ids"])
        agree = next(
            (i for i, (a, b) in enumerate(zip(got["token_ids"], ref["token_ids"])) if a != b),
            min(n, len(got["token_ids"])),
        )
        dlp = max((abs(a - b) for a, b in zip(got["logprobs"], ref["logprobs"])), default=0.0)
        row.update(
            aarch64_ids=got["token_ids"],
            identical=same,
            first_divergence=None if same else agree,
            max_logprob_diff=dlp,
            greedy_s=got.get("greedy_s"),
            load_s=got.get("load_s"),
            text=got["text"],
            x86_text=ref["text"],
        )
        if not same:
            failures.append(
                f"{cpu} {ref['name']}: greedy token ids differ from x86 at position {agree}: "
                f"aarch64 {got['token_ids']} vs x86 {ref['token_ids']}"
            )
        elif dlp > LOGPROB_TOL:
            failures.append(f"{cpu} {ref['name']}: logprobs differ from x86 by {dlp:.2e} > {LOGPROB_TOL}")
        if case.get("require_full_length") and n != case["max_new_tokens"]:
            failures.append(f"{ref['name']}: x86 produced {n} tokens, not {case['max_new_tokens']} (prompt ends early)")
        if "stream" in case["checks"]:
            row["stream_matches_generate"] = got.get("stream_matches_generate")
            if not got.get("stream_matches_generate"):
                failures.append(f"{cpu} {ref['name']}: stream() text/tokens differ from generate()")
        if "sample" in case["checks"]:
            row["sampled_identical"] = got.get("sampled_ids") == ref.get("sampled_ids")
            row["sample_repeatable"] = got.get("sampled_ids") == got.get("sampled_ids_repeat")
            if not row["sample_repeatable"]:
                failures.append(
                    f"{cpu} {ref['name']}: the same seed sampled different tokens twice on aarch64: "
                    f"{got.get('sampled_ids')} vs {got.get('sampled_ids_repeat')}"
                )
            if not row["sampled_identical"] and dlp <= SAME_ARITHMETIC_TOL:
                failures.append(
                    f"{cpu} {ref['name']}: seeded sampling differs from x86 although the logprobs agree "
                    f"to {dlp:.1e}: {got.get('sampled_ids')} vs {ref.get('sampled_ids')}"
                )
        rows.append(row)
    return rows, failures


def run_cpu(
    env_: aarch64_env.Aarch64Env,
    cpu: str,
    cases_file: Path,
    cases: list[dict],
    reference: dict,
    work: Path,
    deadline: Deadline,
    test_paths: tuple[str, ...],
) -> CpuOutcome:
    """Parity decode first (the job's main claim), then the runtime's tests, within the deadline."""
    out = CpuOutcome(cpu)
    if cases:
        t0 = time.monotonic()
        try:
            guest = run_driver(env_.argv([]), cases_file, env_.env(cpu), deadline, work / f"driver-{cpu}.log")
        except subprocess.TimeoutExpired:
            out.failures.append(f"{cpu}: parity decode exceeded the {deadline.text()} budget")
            guest = None
        except RuntimeError as exc:
            out.failures.append(f"{cpu}: {exc}")
            guest = None
        out.seconds["parity"] = round(time.monotonic() - t0, 1)
        if guest is not None:
            out.parity, failures = compare(cpu, reference, guest, cases)
            out.failures += failures
    t0 = time.monotonic()
    try:
        out.tests = guest_tests(env_, cpu, work, deadline, test_paths)
    except subprocess.TimeoutExpired:
        out.failures.append(f"{cpu}: runtime tests exceeded the {deadline.text()} budget")
        return out
    out.seconds["tests"] = round(time.monotonic() - t0, 1)
    t = out.tests
    if t["exit_code"] != 0 or t["failures"] or t["errors"] or t["passed"] == 0:
        names = ", ".join(f["test"] for f in t["failed_tests"][:10])
        out.failures.append(
            f"{cpu}: runtime tests failed (exit {t['exit_code']}): {names or t['summary_line']}; log {t['log']}"
        )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--tiny", action="append", default=[], metavar="RECIPE=BUNDLE", help="a tiny bundle to decode (repeatable)"
    )
    parser.add_argument("--default", metavar="BUNDLE", help="the default model's gguf bundle (16-token greedy parity)")
    parser.add_argument("--cpus", default=",".join(aarch64_env.PI_CPUS), help="emulated CPUs (default %(default)s)")
    parser.add_argument(
        "--tests", nargs="*", default=list(GUEST_TESTS), help="pytest paths run inside the emulated Python"
    )
    parser.add_argument(
        "--threads", type=int, default=1, help="intra-op threads on both sides (one process per CPU runs in parallel)"
    )
    parser.add_argument("--cache", type=Path, default=aarch64_env.DEFAULT_CACHE)
    parser.add_argument("--summary-json", type=Path, help="write the summary here")
    parser.add_argument(
        "--budget",
        type=float,
        default=BUDGET_S,
        help="wall-time limit in seconds (default %(default)s: 8 minutes; raise it only on a busy dev machine)",
    )
    ns = parser.parse_args(argv)
    started = time.monotonic()
    deadline = Deadline(ns.budget, started + ns.budget)
    skipped: list[str] = [
        "speed: emulation runs compute kernels 100-300x slower than a Pi; nothing is timed or asserted"
    ]
    skipped += [f"test {node}: {reason}" for node, reason in GUEST_DESELECT.items()]
    tiny = dict(item.split("=", 1) for item in ns.tiny)
    cpus = [c for c in ns.cpus.split(",") if c]
    unknown = [c for c in cpus if c not in aarch64_env.PI_CPUS]
    if unknown or not cpus:
        parser.error(f"--cpus {ns.cpus!r}: use one or more of {', '.join(aarch64_env.PI_CPUS)}")
    if not ns.default:
        skipped.append("default-model parity: no --default bundle given")
    if not tiny:
        skipped.append("tiny-bundle parity: no --tiny bundles given")
    summary: dict[str, Any] = {"cpus": cpus, "skipped": skipped, "steps": {}}

    log(f"building the aarch64 environment in {ns.cache}")
    t0 = time.monotonic()
    try:
        env_ = aarch64_env.build(ns.cache, log=lambda m: log(m.removeprefix("[pi-env] ")))
    except aarch64_env.EnvError as exc:
        log(f"FAIL environment: {exc}")
        return 1
    summary["steps"]["environment"] = round(time.monotonic() - t0, 1)
    summary["environment_steps"] = [asdict(s) for s in env_.steps]

    work = Path(tempfile.mkdtemp(prefix="edgekit-pi-job-"))
    cases = make_cases(tiny, ns.default, ns.threads)
    cases_file = work / "cases.json"
    cases_file.write_text(json.dumps(cases, indent=2))
    reference: dict = {"cases": []}
    if cases:
        t0 = time.monotonic()
        try:
            reference = run_driver([sys.executable], cases_file, None, deadline, work / "driver-x86.log")
        except (RuntimeError, subprocess.TimeoutExpired) as exc:
            log(f"FAIL x86 reference decode: {exc}")
            return 1
        summary["steps"]["x86_reference"] = round(time.monotonic() - t0, 1)
        log(
            f"x86 reference: {len(cases)} bundle(s) decoded in {summary['steps']['x86_reference']} s "
            f"(onnxruntime {reference['onnxruntime']}, features {' '.join(reference['cpu_features'] or [])})"
        )
        for case in reference["cases"]:
            log(f"  x86 {case['name']}: {len(case['token_ids'])} tokens {case['token_ids']} {case['text']!r}")

    log(f"running on {', '.join(cpus)} in parallel: {' '.join(ns.tests)} (pytest, -m 'not slow') + parity decode")
    shards = shard_tests(guest_test_files(tuple(ns.tests)), cpus)
    for cpu, shard in shards.items():
        both = sum(f in EVERY_CPU_TESTS for f in shard)
        log(f"  {cpu}: {len(shard)} test files ({both} on every CPU, {len(shard) - both} on this one only)")
    t0 = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(cpus)) as pool:
        futures = [
            pool.submit(run_cpu, env_, cpu, cases_file, cases, reference, work, deadline, tuple(shards[cpu]))
            for cpu in cpus
        ]
        outcomes = [f.result() for f in futures]
    summary["steps"]["emulated_runs"] = round(time.monotonic() - t0, 1)

    failures = []
    for out in outcomes:
        t = out.tests
        if t:
            log(
                f"{out.cpu} runtime tests: {t['passed']} passed, {t['failures'] + t['errors']} failed, {t['skipped']} "
                "skipped "
                f"in {out.seconds.get('tests', '?')} s  [{t['summary_line']}]"
            )
            for s in t["skipped_tests"]:
                skipped.append(f"{out.cpu} test {s['test']}: {s['reason']}")
        for row in out.parity:
            verdict = "PASS" if row["identical"] else "FAIL"
            log(
                f"{verdict} {out.cpu} {row['case']}: {len(row['aarch64_ids'])} greedy token ids "
                f"{'identical to' if row['identical'] else 'DIFFER from'} x86 (max |dlogprob| "
                f"{row['max_logprob_diff']:.1e}"
                + (", stream == generate" if row.get("stream_matches_generate") else "")
                + (
                    ""
                    if "sampled_identical" not in row
                    else ", seeded sample identical to x86"
                    if row["sampled_identical"]
                    else ", seeded sample repeatable on aarch64 "
                    "(differs from x86: different int8 kernels, near-uniform random model)"
                )
                + f"; emulated decode {row['greedy_s']} s, not a speed measurement)"
            )
        failures += out.failures
    summary["outcomes"] = [asdict(o) for o in outcomes]
    summary["failures"] = failures
    summary["wall_s"] = round(time.monotonic() - started, 1)
    summary["work_dir"] = str(work)
    for item in skipped:
        log(f"SKIPPED {item}")
    for item in failures:
        log(f"FAIL {item}")
    log(
        f"wall time {summary['wall_s']} s (budget {ns.budget:.0f} s): environment {summary['steps']['environment']} s, "
        f"x86 reference {summary['steps'].get('x86_reference', 0)} s, emulated runs "
        f"{summary['steps']['emulated_runs']} s; "
        f"logs in {work}"
    )
    log("RESULT " + ("PASS" if not failures else f"FAIL ({len(failures)} problem(s))"))
    if ns.summary_json:
        ns.summary_json.write_text(json.dumps(summary, indent=2))
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main())
