"""The Android app's plain-Java core, unit-tested on the host JVM against references made here in Python.

Each test runs one JUnit class (android_demo/core/src/test/java/dev/edgekit/core) in a fresh JVM, after generating
its reference data with the real Python components (huggingface tokenizers, edgekit.runtime, edgekit.sdk, a real
`edgekit serve`). A mismatch fails the pytest test with JUnit's report.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.android.default_tokenizer import default_tokenizer_json
from tests.android.java_core import compile_core, run_junit
from tests.android.make_tokenizer_vectors import VECTORS, file_sha256
from tests.android.manifest_schema import validate_manifest
from tests.android.reference_vectors import (
    POLICY_VECTORS,
    chat_cases,
    probe_policy_vectors,
    redaction_cases,
    sampler_cases,
    signal_cases,
)
from tests.android.tokenizer_variants import build_variants, reference_cases
from tests.fixtures.require import skip_or_fail


@pytest.fixture(scope="module")
def core():
    return compile_core()


def test_tokenizer_matches_tokenizers(core, tmp_path: Path):
    default_json = default_tokenizer_json()
    committed = json.loads(VECTORS.read_text(encoding="utf-8"))
    assert committed["tokenizer_sha256"] == file_sha256(default_json), (
        "tests/vectors/tokenizer_vectors.json was made from another tokenizer.json than the default model's current "
        "one; regenerate it: .venv/bin/python tests/android/make_tokenizer_vectors.py"
    )
    suites = [{"name": "default-model", "tokenizer": str(default_json), "vectors": str(VECTORS)}]
    for name, path in build_variants(tmp_path):
        vectors = tmp_path / f"{name}.vectors.json"
        vectors.write_text(json.dumps({"cases": reference_cases(path)}, ensure_ascii=False), encoding="utf-8")
        suites.append({"name": name, "tokenizer": str(path), "vectors": str(vectors)})
    suites_file = tmp_path / "suites.json"
    suites_file.write_text(json.dumps(suites), encoding="utf-8")
    run_junit(core, "TokenizerVectorsTest", {"edgekit.tokenizerSuites": str(suites_file)})


def test_tokenizer_refuses_unsupported_files(core):
    run_junit(core, "TokenizerErrorsTest")


def test_json_reader(core):
    run_junit(core, "JsonTest")


def test_policy_matches_python_policy(core):
    if not POLICY_VECTORS.is_file():
        skip_or_fail(
            "tests/vectors/policy_vectors.json is missing",
            "it is committed in git (git checkout tests/vectors/policy_vectors.json); to remake it: "
            "python -m edgekit.sdk.policy.vectors RECORDS.jsonl tests/vectors/policy_vectors.json",
        )
    run_junit(core, "PolicyVectorsTest", {"edgekit.policyVectors": str(POLICY_VECTORS)})


def test_signals_redaction_sampler_chat_match_python(core, tmp_path: Path):
    # the default model's chat template, as the exporter writes it into the manifest
    template = json.loads((default_tokenizer_json().parent / "assets.json").read_text(encoding="utf-8"))[
        "chat_template"
    ]
    ports = tmp_path / "ports.json"
    ports.write_text(
        json.dumps(
            {
                "signals": signal_cases(),
                "redaction": redaction_cases(),
                "sampler": sampler_cases(),
                "chat": {"template": template, "cases": chat_cases(template)},
            },
            ensure_ascii=False,
        ),
        encoding="utf-8",
    )
    run_junit(core, "PortVectorsTest", {"edgekit.portVectors": str(ports)})


def test_generation_loop_rules(core):
    run_junit(core, "GeneratorTest", {"edgekit.tokenizer": str(default_tokenizer_json())})


def test_manifest_reading_and_verification(core, tiny_bundle, tmp_path: Path):
    from edgekit.runtime.manifest import read_manifest

    bundle = tiny_bundle("fp32")
    validate_manifest(bundle)  # what the Java reader is tested with is a manifest the schema describes
    m = read_manifest(bundle)
    expected = {
        "backend": m.backend,
        "max_context": m.max_context,
        "eos_ids": list(m.tokenizer.eos_ids),
        "add_bos": m.tokenizer.add_bos,
        "model_file": m.backend_config["model_file"],
        "num_layers": m.backend_config["cache"]["num_layers"],
        "n_files": len(m.files),
        "chat_template": m.chat_template,
    }
    path = tmp_path / "expected.json"
    path.write_text(json.dumps(expected), encoding="utf-8")
    run_junit(core, "BundleManifestTest", {"edgekit.bundle": str(bundle), "edgekit.bundleExpected": str(path)})


def test_cloud_client_faults_and_real_edgekit_serve(core, tiny_bundle):
    import httpx
    from edgekit.runtime import load
    from edgekit.sdk.serve.server import serve_in_thread

    question = "Say something about the sea."
    with load(tiny_bundle("int8")) as model, serve_in_thread(model) as server:
        model_id = server.options.model_id
        body = {"model": model_id, "messages": [{"role": "user", "content": question}], "max_tokens": 8}
        reply = httpx.post(f"{server.url}/v1/chat/completions", json=body, timeout=120).json()
        expected = reply["choices"][0]["message"]["content"]
        run_junit(
            core,
            "OpenAiClientTest",
            {
                "edgekit.cloudUrl": server.url,
                "edgekit.cloudModel": model_id,
                "edgekit.cloudQuestion": question,
                "edgekit.cloudExpected": expected,
            },
        )


def test_assistant_routes_escalates_redacts_and_falls_back(core, tmp_path: Path):
    from edgekit.sdk.policy.policy import Policy, RouterRule

    # a real policy file: the shipped default plus a router rule that escalates questions naming "cloud"
    base = Policy.default()
    policy = Policy(
        families=base.families,
        router_rules=(RouterRule("ask_the_cloud", "keywords", words=("cloud",)), *base.router_rules),
        router_models={},
        post_models={},
    )
    path = policy.save(tmp_path / "policy.json")
    run_junit(core, "AssistantTest", {"edgekit.tokenizer": str(default_tokenizer_json()), "edgekit.policy": str(path)})


def test_probe_policy_matches_python_policy(core, tmp_path: Path):
    """A version-2 policy with a hidden-state probe: the Java decisions on recorded signals and hidden states equal
    the Python policy's; a probe in a version-1 file and a hidden state of another size are refused by name."""
    from dataclasses import replace

    from edgekit.sdk.policy.base import base_policy
    from edgekit.sdk.policy.prompt_probe import PromptProbe

    vectors = probe_policy_vectors()
    if vectors is None:
        skip_or_fail("tests/vectors/policy_vectors.json is missing", "git checkout tests/vectors/policy_vectors.json")
    path = tmp_path / "probe_vectors.json"
    path.write_text(json.dumps(vectors), encoding="utf-8")
    v1 = replace(base_policy(), probe=PromptProbe((0.5, -0.25), 0.1, 0.5)).to_dict()
    v1["version"] = 1
    v1_path = tmp_path / "probe_v1.json"
    v1_path.write_text(json.dumps(v1), encoding="utf-8")
    run_junit(core, "PolicyProbeTest", {"edgekit.probeVectors": str(path), "edgekit.probeV1": str(v1_path)})
