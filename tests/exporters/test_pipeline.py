"""export(): every recipe through the tiny model, the manifest it writes, atomic output, quality gates."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from edgekit.runtime.errors import ConfigError, QualityGateError, UnknownNameError, UnsupportedError
from edgekit.runtime.manifest import MANIFEST_NAME, read_manifest, verify_files

from tests.fixtures.tiny_models import TINY


def _onnx_recipes() -> list[str]:
    from edgekit.exporters.recipes import RECIPES

    return [name for name, recipe in RECIPES.items() if "onnx" in recipe.targets]


@pytest.mark.parametrize("recipe", _onnx_recipes())
def test_every_recipe_exports_a_valid_bundle(tiny_bundle, recipe):
    folder = tiny_bundle(recipe)
    manifest = read_manifest(folder)
    verify_files(folder, manifest, check_hash=True)  # sizes and sha256 of every listed file
    roles = {entry.role for entry in manifest.files}
    assert {"model", "tokenizer"} <= roles
    assert manifest.backend == "onnx" and manifest.recipe["name"] == recipe
    arch = manifest.architecture
    assert (arch.family, arch.num_layers, arch.hidden_size, arch.num_kv_heads) == (
        "llama",
        TINY.num_layers,
        TINY.hidden_size,
        TINY.num_kv_heads,
    )
    assert manifest.max_context == TINY.max_position_embeddings  # min(model's 512, 2048)
    assert manifest.tokenizer.eos_ids == (2,) and manifest.tokenizer.bos_id == 1
    assert manifest.chat_template and "<|im_start|>" in manifest.chat_template
    assert manifest.backend_config["cache"]["num_layers"] == TINY.num_layers
    validation = manifest.validation
    for key in ("top1_agreement", "mean_kl", "perplexity_reference", "perplexity_exported", "golden", "weights"):
        assert key in validation, key
    assert validation["positions"] > 900  # tiny bundles validate on 1,024 tokens
    assert 0.0 <= validation["top1_agreement"] <= 1.0 and validation["mean_kl"] >= 0.0
    assert manifest.memory.peak_rss_mib > 30
    for package in ("edgekit", "onnx", "onnxruntime", "torch", "transformers"):
        assert package in manifest.produced_by, package


def test_fp32_matches_the_float_reference(tiny_bundle):
    validation = read_manifest(tiny_bundle("fp32")).validation
    assert validation["top1_agreement"] == 1.0
    assert validation["mean_kl"] < 1e-5
    assert abs(validation["perplexity_ratio"] - 1.0) < 1e-4
    assert validation["golden"]["match"]


def test_gguf_recipe_is_an_exact_repack(tiny_bundle):
    manifest = read_manifest(tiny_bundle("gguf"))
    assert manifest.model.source_kind == "gguf" and manifest.model.source_sha256
    assert manifest.validation["weights"]["gguf_repack_max_error"] == 0.0
    # Same weights as the float reference (the dequantized GGUF); the 8-bit embedding/head run with int8
    # activations (onnxruntime has no fast float-activation 8-bit kernel), so not bit-exact.
    assert manifest.validation["top1_agreement"] >= 0.97


def test_quantized_recipes_lose_some_quality_and_report_it(tiny_bundle):
    fp32 = read_manifest(tiny_bundle("fp32")).validation
    int4 = read_manifest(tiny_bundle("int4")).validation
    assert int4["mean_kl"] > 100 * fp32["mean_kl"]  # the metric sees quantization
    assert int4["top1_agreement"] < 1.0


def _spec(**kwargs):
    from edgekit.exporters import ExportSpec, ValidationSettings

    kwargs.setdefault("validation", ValidationSettings(max_tokens=256))
    return ExportSpec(**kwargs)


def _leftovers(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if ".edgekit-" in p.name)


def test_strict_quality_miss_fails_and_leaves_nothing(tiny_hf_folder, tmp_path):
    from edgekit.exporters import export

    out = tmp_path / "gate"
    with pytest.raises(
        QualityGateError, match=r"recipe 'int4' missed the quality floor: top-1 agreement 0\.\d+ < 0\.9990"
    ):
        export(_spec(model=str(tiny_hf_folder), out=out, quant="int4", min_agreement=0.999))
    assert not out.exists()
    assert _leftovers(tmp_path) == []


def test_quality_miss_without_gate_is_reported_not_fatal(tiny_hf_folder, tmp_path):
    from edgekit.exporters import export

    report = export(_spec(model=str(tiny_hf_folder), out=tmp_path / "b", quant="int4"))
    assert report.validation.min_agreement == 0.95 and report.validation.passed is False
    assert any("quality below the floor" in w and "--strict" in w for w in report.warnings)
    assert read_manifest(tmp_path / "b").validation["passed"] is False


def test_existing_output_needs_force(tiny_hf_folder, tmp_path):
    from edgekit.exporters import export

    out = tmp_path / "exists"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    with pytest.raises(ConfigError, match="already exists; pass --force"):
        export(_spec(model=str(tiny_hf_folder), out=out, quant="fp32"))
    assert (out / "keep.txt").exists()
    report = export(_spec(model=str(tiny_hf_folder), out=out, quant="fp32", force=True, validate=False))
    assert report.validation is None
    assert not (out / "keep.txt").exists() and (out / MANIFEST_NAME).is_file()
    assert _leftovers(tmp_path) == []


def test_max_context_above_the_model_is_refused(tiny_hf_folder, tmp_path):
    from edgekit.exporters import export

    with pytest.raises(ConfigError, match=r"--max-context 4096 is above the model's maximum context of 512 tokens"):
        export(_spec(model=str(tiny_hf_folder), out=tmp_path / "b", quant="fp32", max_context=4096))
    assert not (tmp_path / "b").exists()


def test_max_context_is_written_and_used(tiny_hf_folder, tmp_path):
    from edgekit.exporters import export

    report = export(_spec(model=str(tiny_hf_folder), out=tmp_path / "b", quant="fp32", max_context=128))
    manifest = read_manifest(tmp_path / "b")
    assert manifest.max_context == 128 and report.validation.segments == 2  # 256 tokens in 128-token segments


def test_unknown_recipe_lists_known(tiny_hf_folder, tmp_path):
    from edgekit.exporters import export

    with pytest.raises(UnknownNameError, match=r"unknown quant recipe 'int3'; known quant recipes: .*fp32.*gguf.*int8"):
        export(_spec(model=str(tiny_hf_folder), out=tmp_path / "b", quant="int3"))


def test_unknown_target_lists_known(tiny_hf_folder, tmp_path):
    from edgekit.exporters import export

    with pytest.raises(UnknownNameError, match=r"unknown export target 'tflite'; known export targets: .*onnx"):
        export(_spec(model=str(tiny_hf_folder), out=tmp_path / "b", target="tflite"))


def test_gguf_recipe_needs_a_gguf_source(tiny_hf_folder, tmp_path):
    from edgekit.exporters import export

    with pytest.raises(UnsupportedError, match=r"cannot build recipe 'gguf'.*not a GGUF"):
        export(_spec(model=str(tiny_hf_folder), out=tmp_path / "b", quant="gguf"))
    assert _leftovers(tmp_path) == []


def test_default_recipe_is_gguf_for_gguf_and_int8_otherwise(tiny_gguf, tiny_hf_folder):
    from edgekit.exporters.pipeline import default_recipe_name, load_target
    from edgekit.exporters.sources import resolve_source

    target = load_target("onnx")
    import tempfile

    with tempfile.TemporaryDirectory() as work:
        assert default_recipe_name(target, resolve_source(str(tiny_gguf), Path(work) / "a")) == "gguf"
        assert default_recipe_name(target, resolve_source(str(tiny_hf_folder), Path(work) / "b")) == "int8"


def test_auto_picks_the_smallest_recipe_over_the_floor(tiny_hf_folder, tmp_path):
    from edgekit.exporters import export

    events = []
    report = export(
        _spec(model=str(tiny_hf_folder), out=tmp_path / "auto", quant="auto", min_agreement=0.999),
        on_progress=events.append,
    )
    statuses = {c.recipe: c.status for c in report.candidates}
    # The float reference is computed for the first candidate and reused by the others (validate._float_reference).
    validated = sum(1 for c in report.candidates if c.status != "refused")
    references = [e.message for e in events if e.name == "validate" and e.message.startswith("float reference")]
    assert validated >= 2 and references == ["float reference"] + ["float reference reused"] * (validated - 1)
    assert statuses["gguf"] == "refused"  # HF source: nothing to repack
    assert statuses.get("int4") == "below floor"
    chosen = [c for c in report.candidates if c.status == "chosen"]
    assert len(chosen) == 1 and chosen[0].recipe == report.recipe
    assert report.validation.top1_agreement >= 0.999
    assert read_manifest(tmp_path / "auto").recipe["name"] == report.recipe
    assert _leftovers(tmp_path) == []


def test_spec_rejects_bad_values():
    from edgekit.exporters import ExportSpec

    with pytest.raises(ConfigError, match="--min-agreement must be between 0 and 1"):
        ExportSpec(min_agreement=1.5)
    with pytest.raises(ConfigError, match="--max-context must be a positive integer"):
        ExportSpec(max_context=0)
    with pytest.raises(ConfigError, match="validation is off"):
        ExportSpec(validate=False, strict=True)


def test_report_json_is_serializable(tiny_hf_folder, tmp_path):
    from edgekit.exporters import export

    report = export(_spec(model=str(tiny_hf_folder), out=tmp_path / "b", quant="int8", strict=True, min_agreement=0.0))
    data = json.loads(json.dumps(report.to_dict()))
    assert data["recipe"] == "int8" and data["validation"]["passed"] is True
    assert data["memory"]["peak_rss_mib"] > 0
