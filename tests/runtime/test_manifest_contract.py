"""The typed manifest contract: key constants, the checked-in JSON Schema and docs/bundle-format.md stay in step."""

from __future__ import annotations

import ast
import dataclasses
import json
import os
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCHEMA_FILE = REPO / "docs" / "edgekit.schema.json"
DOC_FILE = REPO / "docs" / "bundle-format.md"


def _sections():
    from edgekit.runtime.backends.executorch_config import ExecuTorchKV, ExecuTorchSpec
    from edgekit.runtime.backends.onnx_config import CacheSpec, OnnxGraphSpec
    from edgekit.runtime.manifest import SECTIONS

    return [*SECTIONS.values(), OnnxGraphSpec, CacheSpec, ExecuTorchSpec, ExecuTorchKV]


def _key_constants(cls) -> dict[str, str]:
    return {name: value for name, value in vars(cls.Key).items() if not name.startswith("_")}


@pytest.mark.parametrize("cls", _sections(), ids=lambda c: c.__name__)
def test_every_section_is_a_dataclass_with_its_keys_as_constants(cls):
    assert dataclasses.is_dataclass(cls)
    constants = _key_constants(cls)
    assert sorted(constants.values()) == sorted(f.name for f in dataclasses.fields(cls))
    assert all(name == value.upper() for name, value in constants.items())


def test_top_level_keys_are_the_document_fields():
    from edgekit.runtime.manifest import EdgekitJson, K

    keys = {v for n, v in vars(K).items() if not n.startswith("_")} - {"max_context", "peak_rss_mib"}
    assert keys == {f.name for f in dataclasses.fields(EdgekitJson)}


def test_checked_in_json_schema_is_current():
    from edgekit.runtime.manifest import json_schema

    current = json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n"
    if SCHEMA_FILE.is_file() and SCHEMA_FILE.read_text(encoding="utf-8") == current:
        return
    if os.environ.get("CI") != "true":
        SCHEMA_FILE.write_text(current, encoding="utf-8")  # regenerated here: commit it
    pytest.fail(f"{SCHEMA_FILE.relative_to(REPO)} was stale and has been regenerated; review and commit it")


def test_json_schema_carries_the_limits_and_path_rule():
    from edgekit.runtime.bundle_paths import PATH_PATTERN
    from edgekit.runtime.manifest import json_schema

    schema = json_schema()
    defs = schema["$defs"]
    assert defs["ContextInfo"]["properties"]["max_context"]["maximum"] == 1 << 20
    assert defs["FileEntry"]["properties"]["path"]["pattern"] == PATH_PATTERN
    assert defs["OnnxGraphSpec"]["properties"]["model_file"]["pattern"] == PATH_PATTERN
    assert {"const": "onnx"} in [c["if"]["properties"]["backend"] for c in schema["allOf"]]
    for probe, ok in [("model.onnx", True), ("sub/w.data", True), ("../x", False), ("/etc/shadow", False)]:
        assert bool(re.search(PATH_PATTERN, probe)) is ok


def test_doc_names_every_key():
    from edgekit.runtime.manifest import K

    text = DOC_FILE.read_text(encoding="utf-8")
    keys = {v for n, v in vars(K).items() if not n.startswith("_")}
    for cls in _sections():
        keys |= set(_key_constants(cls).values())
    missing = sorted(k for k in keys if f"`{k}`" not in text)
    assert not missing, f"docs/bundle-format.md does not document: {missing}"


def test_old_imports_still_work():
    from edgekit.runtime.backends import executorch, onnx_config
    from edgekit.runtime.backends.executorch_config import ExecuTorchSpec
    from edgekit.runtime.manifest import CacheSpec, OnnxGraphSpec

    assert OnnxGraphSpec is onnx_config.OnnxGraphSpec and CacheSpec is onnx_config.CacheSpec
    assert executorch.ExecuTorchSpec is ExecuTorchSpec


def test_bundle_of_the_schema_1_exporter_still_loads(fresh_toy_bundle):
    """What the exporter wrote before the typed contract: null license/source_sha256, no graph context, {} memory."""
    from edgekit.runtime import load

    path = fresh_toy_bundle / "edgekit.json"
    data = json.loads(path.read_text())
    data["model"].update(license=None, source_sha256=None, source_kind="")
    data["backend_config"].pop("max_context")
    data.update(memory={}, recipe={}, validation={}, produced_by={}, created_at="")
    path.write_text(json.dumps(data))
    model = load(fresh_toy_bundle)
    assert model.manifest.model.name == "toy" and model.manifest.model.license is None
    assert model.generate("hi", max_new_tokens=2, chat=False).token_ids


def test_exported_bundle_reads_back_typed(tiny_bundle):
    from edgekit.runtime.backends.onnx_config import OnnxGraphSpec
    from edgekit.runtime.manifest import MemoryInfo, ModelInfo, read_manifest

    manifest = read_manifest(tiny_bundle("fp32"))
    assert isinstance(manifest.model, ModelInfo) and isinstance(manifest.memory, MemoryInfo)
    assert manifest.model.source_kind and manifest.memory.peak_rss_mib > 0
    spec = manifest.backend_spec
    assert isinstance(spec, OnnxGraphSpec) and spec.max_context == manifest.max_context
    assert set(spec.opened_files()) <= {f.path for f in manifest.files}


VALIDATING_MODULES = [
    "manifest.py",
    "schema.py",
    "bundle_paths.py",
    "verified_files.py",
    "loader.py",
    "memory.py",
    "backends/configs.py",
    "backends/onnx_config.py",
    "backends/executorch_config.py",
]


@pytest.mark.parametrize("module", VALIDATING_MODULES)
def test_validation_never_uses_assert(module):
    source = (REPO / "runtime" / "edgekit" / "runtime" / module).read_text(encoding="utf-8")
    asserts = [node.lineno for node in ast.walk(ast.parse(source)) if isinstance(node, ast.Assert)]
    assert not asserts, f"{module} uses assert at lines {asserts} (python -O strips it): raise an EdgekitError"
