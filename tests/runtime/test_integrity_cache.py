"""The remembered-verification record cannot be forged: entries are HMAC-bound to a per-user key kept elsewhere."""

from __future__ import annotations

import json
import os
import shutil
import time

import pytest
from edgekit.runtime.errors import IntegrityError


@pytest.fixture()
def env(tmp_path, monkeypatch):
    from edgekit.runtime import verified_files

    monkeypatch.setattr(verified_files, "SETTLE_S", 0.3)
    monkeypatch.setenv("EDGEKIT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("EDGEKIT_KEY_FILE", str(tmp_path / "config" / "edgekit" / "verified-files.key"))
    return tmp_path


@pytest.fixture()
def bundle(fresh_toy_bundle):
    time.sleep(0.4)  # past the (shortened) settle window, so the first load records its files
    return fresh_toy_bundle


def _record(env):
    return env / "cache" / "verified-files.json"


def _key(env):
    return env / "config" / "edgekit" / "verified-files.key"


def _flip_byte_keep_size(path):
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def _hash_calls(monkeypatch):
    from edgekit.runtime import manifest as manifest_module

    calls = []
    real = manifest_module.sha256_file

    def counting(path, *args, **kwargs):
        calls.append(os.path.basename(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(manifest_module, "sha256_file", counting)
    return calls


def test_key_is_private_and_apart_from_the_record(env, bundle):
    from edgekit.runtime import load

    with load(bundle):
        pass
    key = _key(env)
    assert key.is_file() and _record(env).is_file()
    assert key.stat().st_mode & 0o777 == 0o600 and key.parent.stat().st_mode & 0o077 == 0
    assert key.parent != _record(env).parent
    assert key.read_bytes().hex() not in _record(env).read_text()
    entries = json.loads(_record(env).read_text())
    assert entries and all(len(e["mac"]) == 64 for e in entries.values())


def test_forged_entry_does_not_skip_the_hash_of_a_tampered_file(env, bundle, monkeypatch):
    from edgekit.runtime import load
    from edgekit.runtime.manifest import read_manifest
    from edgekit.runtime.verified_files import _identity

    with load(bundle):
        pass
    model = bundle / "model.onnx"
    _flip_byte_keep_size(model)
    expected = next(f.sha256 for f in read_manifest(bundle).files if f.path == "model.onnx")
    # What a forger without the key can write: the tampered file's new identity, the digest the manifest expects,
    # and any MAC (here: the entry's old one, and none at all).
    record = json.loads(_record(env).read_text())
    entry = record[str(model.resolve())]
    for mac in (entry["mac"], None):
        forged = {"identity": _identity(model.stat()), "sha256": expected, "at": time.time()}
        if mac:
            forged["mac"] = mac
        record[str(model.resolve())] = forged
        _record(env).write_text(json.dumps(record))
        calls = _hash_calls(monkeypatch)
        with pytest.raises(IntegrityError, match="'model.onnx' fails its sha256 check"):
            load(bundle)
        assert "model.onnx" in calls


def test_entry_is_bound_to_the_manifest_digest(env, bundle, monkeypatch):
    from edgekit.runtime import load
    from edgekit.runtime.manifest import read_manifest
    from edgekit.runtime.verified_files import VerifiedFiles

    with load(bundle):
        pass
    model = bundle / "model.onnx"
    entry = next(f for f in read_manifest(bundle).files if f.path == "model.onnx")
    record = VerifiedFiles()
    assert record.trusted(model, model.stat(), entry.sha256)
    assert not record.trusted(model, model.stat(), "0" * 64)
    # an attacker who rewrites the entry's digest field (to match an edited manifest) breaks its MAC
    data = json.loads(_record(env).read_text())
    data[str(model.resolve())]["sha256"] = "0" * 64
    _record(env).write_text(json.dumps(data))
    assert not VerifiedFiles().trusted(model, model.stat(), "0" * 64)


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o660])
def test_key_readable_by_others_disables_the_record(env, bundle, monkeypatch, mode):
    from edgekit.runtime import load
    from edgekit.runtime.verified_files import VerifiedFiles

    with load(bundle):
        pass
    os.chmod(_key(env), mode)
    record = VerifiedFiles()
    assert "chmod 600" in record.disabled
    calls = _hash_calls(monkeypatch)
    with load(bundle):
        pass
    assert sorted(calls) == ["model.onnx", "tokenizer.json"]  # hashed again, not skipped
    os.chmod(_key(env), 0o600)
    calls.clear()
    with load(bundle):
        pass
    assert calls == []  # the private key vouches for the record again


def test_symlinked_or_foreign_key_is_not_used(env, bundle, tmp_path):
    from edgekit.runtime import load
    from edgekit.runtime.verified_files import VerifiedFiles

    with load(bundle):
        pass
    key = _key(env)
    elsewhere = tmp_path / "planted.key"
    shutil.copy(key, elsewhere)
    os.chmod(elsewhere, 0o600)
    key.unlink()
    os.symlink(elsewhere, key)
    assert VerifiedFiles().disabled
    if os.geteuid() == 0:  # only root can hand a file to another user
        key.unlink()
        shutil.copy(elsewhere, key)
        os.chmod(key, 0o600)
        os.chown(key, 4242, -1)
        assert "another user" in VerifiedFiles().disabled


def test_record_still_saves_the_hash_on_the_next_load(env, bundle, monkeypatch):
    from edgekit.runtime import load

    with load(bundle) as model:
        first = model.generate("hello", max_new_tokens=3, chat=False).token_ids
    calls = _hash_calls(monkeypatch)
    with load(bundle) as model:
        assert model.generate("hello", max_new_tokens=3, chat=False).token_ids == first
    assert calls == []
