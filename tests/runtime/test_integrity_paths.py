"""Every path in edgekit.json stays inside the bundle, and every file a backend opens is listed and hashed.

A hostile edit of a verified bundle's manifest must not make `edgekit info` say "integrity ok" while `load`
runs something nobody hashed.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from edgekit.runtime import IntegrityError, SchemaError, load
from edgekit.sdk.cli import main


def _edit(folder: Path, change) -> None:
    path = folder / "edgekit.json"
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def _info(folder: Path):
    return CliRunner().invoke(main, ["info", str(folder)])


def _tampered_copy(folder: Path, where: Path) -> Path:
    shutil.copytree(folder, where)
    model = where / "model.onnx"
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 0xFF
    model.write_bytes(bytes(data))
    return where


def _one_line_refusal(result) -> str:
    assert result.exit_code != 0, result.output
    assert "Traceback" not in result.output and "integrity  ok" not in result.output
    return result.output


def test_model_file_pointing_at_another_folder_is_refused(fresh_toy_bundle, tmp_path):
    _tampered_copy(fresh_toy_bundle, tmp_path / "other")

    def point_out(data):
        data["backend_config"]["model_file"] = "../other/model.onnx"

    _edit(fresh_toy_bundle, point_out)
    with pytest.raises(SchemaError, match=r"backend_config\.model_file.*'\.\.'"):
        load(fresh_toy_bundle)
    assert "model_file" in _one_line_refusal(_info(fresh_toy_bundle))


def test_model_file_not_listed_in_files_is_refused(fresh_toy_bundle):
    shutil.copy(fresh_toy_bundle / "model.onnx", fresh_toy_bundle / "other.onnx")
    _edit(fresh_toy_bundle, lambda d: d["backend_config"].update(model_file="other.onnx"))
    with pytest.raises(SchemaError, match=r"backend_config names 'other.onnx', which files does not list"):
        load(fresh_toy_bundle)
    _one_line_refusal(_info(fresh_toy_bundle))


def test_tokenizer_file_outside_or_unlisted_is_refused(fresh_toy_bundle, tmp_path):
    shutil.copy(fresh_toy_bundle / "tokenizer.json", tmp_path / "tokenizer.json")
    _edit(fresh_toy_bundle, lambda d: d["tokenizer"].update(file=str(tmp_path / "tokenizer.json")))
    with pytest.raises(SchemaError, match=r"tokenizer\.file.*absolute"):
        load(fresh_toy_bundle)
    shutil.copy(tmp_path / "tokenizer.json", fresh_toy_bundle / "tok2.json")
    _edit(fresh_toy_bundle, lambda d: d["tokenizer"].update(file="tok2.json"))
    with pytest.raises(SchemaError, match=r"tokenizer\.file = 'tok2\.json' is not listed in files"):
        load(fresh_toy_bundle)


@pytest.mark.parametrize("bad", ["/etc/shadow", "../../etc/passwd", "a/../model.onnx", "./model.onnx", "a//b", "C:x"])
def test_files_entries_must_be_relative_and_normalised(fresh_toy_bundle, bad):
    def add(data):
        data["files"].append({"path": bad, "size": 0, "sha256": "0" * 64, "role": "other"})

    _edit(fresh_toy_bundle, add)
    with pytest.raises(SchemaError, match=r"files\[2\]"):
        load(fresh_toy_bundle)
    out = _one_line_refusal(_info(fresh_toy_bundle))
    assert "bytes" not in out  # the size of a file outside the bundle is never reported


def test_symlink_out_of_the_bundle_is_refused(fresh_toy_bundle, tmp_path):
    outside = _tampered_copy(fresh_toy_bundle, tmp_path / "other")
    # same bytes as the listed model, so only the link itself can be the reason for the refusal
    shutil.copy(fresh_toy_bundle / "model.onnx", outside / "model.onnx")
    (fresh_toy_bundle / "model.onnx").unlink()
    os.symlink(outside / "model.onnx", fresh_toy_bundle / "model.onnx")
    with pytest.raises(IntegrityError, match=r"'model.onnx' resolves to .* outside the bundle folder"):
        load(fresh_toy_bundle)
    assert "outside the bundle folder" in _one_line_refusal(_info(fresh_toy_bundle))


def test_symlink_inside_the_bundle_is_fine(fresh_toy_bundle):
    (fresh_toy_bundle / "data").mkdir()
    os.replace(fresh_toy_bundle / "model.onnx", fresh_toy_bundle / "data" / "model.onnx")
    os.symlink("data/model.onnx", fresh_toy_bundle / "model.onnx")

    def list_it(data):
        entry = dict(next(f for f in data["files"] if f["path"] == "model.onnx"), path="data/model.onnx", role="other")
        data["files"].append(entry)

    _edit(fresh_toy_bundle, list_it)
    assert load(fresh_toy_bundle).generate("hi", max_new_tokens=2, chat=False).token_ids


def test_unlisted_file_beside_the_graph_is_refused(fresh_toy_bundle):
    (fresh_toy_bundle / "model.onnx.data").write_bytes(b"\0" * 64)  # what onnxruntime could read as external data
    with pytest.raises(IntegrityError, match=r"holds 'model.onnx.data', which edgekit.json does not list"):
        load(fresh_toy_bundle)
    _one_line_refusal(_info(fresh_toy_bundle))


def test_external_data_dropped_from_files_is_refused(tiny_bundle, tmp_path):
    folder = tmp_path / "b"
    shutil.copytree(tiny_bundle("fp32"), folder)
    assert (folder / "model.onnx.data").is_file()
    _edit(folder, lambda d: d.update(files=[f for f in d["files"] if f["path"] != "model.onnx.data"]))
    # tamper the now unlisted weights: before, this loaded and ran unverified weights
    with open(folder / "model.onnx.data", "r+b") as handle:
        handle.seek(1000)
        handle.write(b"\x7f\x7f\x7f\x7f")
    with pytest.raises(IntegrityError, match=r"'model.onnx.data', which edgekit.json does not list"):
        load(folder)
    _one_line_refusal(_info(folder))


def test_info_shows_the_manifest_digest(fresh_toy_bundle):
    from edgekit.runtime.manifest import sha256_file

    result = _info(fresh_toy_bundle)
    assert result.exit_code == 0, result.output
    assert f"manifest   sha256 {sha256_file(fresh_toy_bundle / 'edgekit.json')}" in result.output
    assert "integrity  ok (sha256)" in result.output
