"""Skipping the sha256 of a file unchanged since its last check, and never trusting a changed one."""

from __future__ import annotations

import os
import shutil
import time

import pytest
from edgekit.runtime.errors import IntegrityError


@pytest.fixture()
def bundle(tiny_bundle, tmp_path, monkeypatch):
    """A private copy whose files settled before the first check (ctime cannot be backdated: wait it out,
    with the settle window shortened from 2 s)."""
    from edgekit.runtime import verified_files

    monkeypatch.setattr(verified_files, "SETTLE_S", 0.3)
    folder = tmp_path / "b"
    shutil.copytree(tiny_bundle("fp32"), folder)
    time.sleep(0.4)
    return folder


@pytest.fixture()
def record(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGEKIT_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache" / "verified-files.json"


def _hashes(monkeypatch):
    from edgekit.runtime import manifest as manifest_module

    calls = []
    real = manifest_module.sha256_file

    def counting(path, *args, **kwargs):
        calls.append(os.path.basename(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(manifest_module, "sha256_file", counting)
    return calls


def test_second_load_of_unchanged_files_skips_the_hash(bundle, record, monkeypatch):
    from edgekit.runtime import load
    from edgekit.runtime.manifest import read_manifest

    calls = _hashes(monkeypatch)
    files = sorted(entry.path for entry in read_manifest(bundle).files)
    with load(bundle) as model:
        first = model.generate("hello", max_new_tokens=3, chat=False).token_ids
    assert sorted(calls) == files and record.is_file()
    calls.clear()
    with load(bundle) as model:
        assert model.generate("hello", max_new_tokens=3, chat=False).token_ids == first
    assert calls == []
    with load(bundle, reuse_verification=False):
        pass
    assert sorted(calls) == files


def test_a_file_changed_after_its_check_is_hashed_again_and_refused(bundle, record, monkeypatch):
    from edgekit.runtime import load
    from edgekit.runtime.manifest import read_manifest

    with load(bundle):
        pass
    model_file = bundle / read_manifest(bundle).file("model").path
    stat = model_file.stat()
    with open(model_file, "r+b") as handle:  # same size, same mtime: only the ctime can tell
        handle.seek(stat.st_size // 2)
        byte = handle.read(1)
        handle.seek(stat.st_size // 2)
        handle.write(bytes([byte[0] ^ 0xFF]))
    os.utime(model_file, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert model_file.stat().st_size == stat.st_size and model_file.stat().st_mtime_ns == stat.st_mtime_ns
    calls = _hashes(monkeypatch)
    with pytest.raises(IntegrityError, match="fails its sha256 check"):
        load(bundle)
    assert model_file.name in calls


def test_freshly_written_files_are_not_recorded(tiny_bundle, tmp_path, record):
    from edgekit.runtime import load, verified_files

    assert verified_files.SETTLE_S >= 1.0

    folder = tmp_path / "fresh"
    shutil.copytree(tiny_bundle("fp32"), folder)  # mtimes/ctimes of now: inside the racy window
    with load(folder):
        pass
    assert not record.exists()


def test_unwritable_cache_costs_only_the_hash(bundle, tmp_path, monkeypatch):
    from edgekit.runtime import load

    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    monkeypatch.setenv("EDGEKIT_CACHE_DIR", str(blocker / "sub"))
    with load(bundle) as model:
        assert model.generate("hello", max_new_tokens=2, chat=False).token_ids
    (tmp_path / "cache").mkdir()
    monkeypatch.setenv("EDGEKIT_CACHE_DIR", str(tmp_path / "cache"))
    (tmp_path / "cache" / "verified-files.json").write_text("{not json")
    with load(bundle):
        pass
    assert (tmp_path / "cache" / "verified-files.json").read_text().startswith('{"')
