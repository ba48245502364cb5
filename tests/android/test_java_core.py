"""The Android app's plain-Java core, unit-tested on the host JVM against references made here in Python.

Each test runs one JUnit class (android_demo/core/src/test/java) in a fresh JVM, after generating its reference
data with the real Python components (huggingface tokenizers, edgekit.runtime, edgekit.sdk). A mismatch fails the
pytest test with JUnit's report.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.android.default_tokenizer import default_tokenizer_json
from tests.android.java_core import compile_core, run_junit
from tests.android.make_tokenizer_vectors import VECTORS, file_sha256
from tests.android.tokenizer_variants import build_variants, reference_cases


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
