"""load(): manifest checks and file verification happen before any compute; every refusal names the fix."""

from __future__ import annotations

import json

import pytest
from edgekit.runtime import BundleError, IntegrityError, SchemaError, load
from edgekit.runtime.backends import BACKEND_MODULES


def _edit_manifest(folder, **changes):
    path = folder / "edgekit.json"
    data = json.loads(path.read_text())
    data.update(changes)
    path.write_text(json.dumps(data))


def test_loads_and_reports_manifest(fresh_toy_bundle):
    model = load(fresh_toy_bundle)
    assert model.manifest.backend == "onnx"
    assert model.max_context == 64
    assert model.load_ms > 0


def test_tampered_file_is_refused_by_name(fresh_toy_bundle):
    path = fresh_toy_bundle / "model.onnx"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, different content
    path.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match=r"'model.onnx' fails its sha256 check.*re-export"):
        load(fresh_toy_bundle)


def test_tampered_tokenizer_is_refused(fresh_toy_bundle):
    path = fresh_toy_bundle / "tokenizer.json"
    text = path.read_text()
    path.write_text(text.replace('"<bos>"', '"<BOS>"'))
    with pytest.raises(IntegrityError, match="tokenizer.json"):
        load(fresh_toy_bundle)


def test_verify_false_skips_hash_but_not_size(fresh_toy_bundle):
    path = fresh_toy_bundle / "tokenizer.json"
    data = path.read_bytes().replace(b'"<bos>"', b'"<BOS>"')  # same size, still valid JSON
    path.write_bytes(data)
    load(fresh_toy_bundle, verify=False)
    path.write_bytes(data[:-10])
    with pytest.raises(IntegrityError, match=r"'tokenizer.json' is \d+ bytes, the manifest says \d+ \(truncated"):
        load(fresh_toy_bundle, verify=False)


def test_truncated_model_is_refused_before_onnxruntime(fresh_toy_bundle):
    path = fresh_toy_bundle / "model.onnx"
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(IntegrityError, match=r"'model.onnx' is 100 bytes.*truncated or replaced"):
        load(fresh_toy_bundle)


def test_missing_file_is_refused(fresh_toy_bundle):
    (fresh_toy_bundle / "model.onnx").unlink()
    with pytest.raises(IntegrityError, match=r"'model.onnx' is missing.*copy the whole bundle"):
        load(fresh_toy_bundle)


def test_unknown_schema_version(fresh_toy_bundle):
    _edit_manifest(fresh_toy_bundle, schema_version=99)
    with pytest.raises(SchemaError, match=r"schema_version 99 is not supported.*re-export"):
        load(fresh_toy_bundle)


def test_unknown_backend_lists_known_ones(fresh_toy_bundle):
    _edit_manifest(fresh_toy_bundle, backend="tensorrt")
    with pytest.raises(BundleError, match=r"unknown backend 'tensorrt'; known backends: .*onnx") as info:
        load(fresh_toy_bundle)
    for name in BACKEND_MODULES:
        assert name in str(info.value)


def test_not_a_bundle(tmp_path):
    with pytest.raises(SchemaError, match="has no edgekit.json"):
        load(tmp_path)
    with pytest.raises(SchemaError, match="does not exist"):
        load(tmp_path / "nope")


def test_malformed_manifest(fresh_toy_bundle):
    (fresh_toy_bundle / "edgekit.json").write_text("{not json")
    with pytest.raises(SchemaError, match="not valid JSON"):
        load(fresh_toy_bundle)


def test_manifest_and_graph_disagree(fresh_toy_bundle):
    path = fresh_toy_bundle / "edgekit.json"
    data = json.loads(path.read_text())
    data["backend_config"]["cache"]["num_layers"] = 5  # the toy graph has 2 layers
    path.write_text(json.dumps(data))
    with pytest.raises(BundleError, match=r"graph lacks past_key_values\.2\.key.*re-export"):
        load(fresh_toy_bundle)


@pytest.mark.parametrize("threads", [0, -1, "2", 1.5])
def test_bad_threads(fresh_toy_bundle, threads):
    with pytest.raises(BundleError, match="threads=.* is invalid"):
        load(fresh_toy_bundle, threads=threads)


def test_threads_option_reaches_session(fresh_toy_bundle):
    model = load(fresh_toy_bundle, threads=1)
    assert model.backend.session.get_session_options().intra_op_num_threads == 1
    entries = model.backend.session.get_session_options().get_session_config_entry("session.intra_op.allow_spinning")
    assert model.spinning is not None and model.spinning.mode == "auto"
    assert entries == ("1" if model.spinning.allow else "0")  # what load() decided is what the session got


def test_memory_check_refuses_unless_forced(fresh_toy_bundle):
    from edgekit.runtime import InsufficientMemoryError

    _edit_manifest(fresh_toy_bundle, memory={"peak_rss_mib": 1e9})  # a petabyte: never fits
    with pytest.raises(InsufficientMemoryError):
        load(fresh_toy_bundle)
    assert load(fresh_toy_bundle, force=True).generate("hi", max_new_tokens=2).token_ids


def test_cli_refuses_an_oversized_bundle_in_one_line_and_force_overrides(fresh_toy_bundle):
    from click.testing import CliRunner
    from edgekit.sdk.cli import main

    _edit_manifest(fresh_toy_bundle, memory={"peak_rss_mib": 1e9})
    refused = CliRunner().invoke(main, ["run", str(fresh_toy_bundle), "hi", "-n", "2"])
    assert refused.exit_code == 1
    assert "--force" in refused.output and "Traceback" not in refused.output
    forced = CliRunner().invoke(main, ["run", str(fresh_toy_bundle), "hi", "-n", "2", "--force"])
    assert forced.exit_code == 0, forced.output
