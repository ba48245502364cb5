"""The on-disk fixture cache drops entries no session used for STALE_DAYS, and keeps the rest."""

from __future__ import annotations

import os
import time

from tests.fixtures import bundles


def _entry(root, kind, name, age_days, lock=True):
    folder = root / kind / name
    folder.mkdir(parents=True)
    (folder / "edgekit.json").write_text("{}")
    stamp = time.time() - age_days * 86400
    if lock:
        folder.with_suffix(".lock").touch()
        os.utime(folder.with_suffix(".lock"), (stamp, stamp))
    os.utime(folder, (stamp, stamp))
    return folder


def test_prune_removes_only_stale_entries_and_use_refreshes(tmp_path, monkeypatch):
    monkeypatch.setattr(bundles, "CACHE_ROOT", tmp_path)
    stale = _entry(tmp_path, "test-bundles", "tiny-int8-old", 30)
    stale_no_lock = _entry(tmp_path, "test-models", "tiny-hf-old", 30, lock=False)
    fresh = _entry(tmp_path, "test-bundles", "tiny-int8-new", 1)
    used = _entry(tmp_path, "test-bundles", "tiny-int4-old-but-used", 30)
    assert bundles.build_cached(used, lambda folder: None) == used  # a cache hit marks the entry used
    removed = bundles.prune_stale_entries(days=14)
    assert sorted(removed) == sorted([stale, stale_no_lock])
    assert not stale.exists() and not stale.with_suffix(".lock").exists() and not stale_no_lock.exists()
    assert fresh.exists() and used.exists()
    assert bundles.prune_stale_entries(days=14) == []
