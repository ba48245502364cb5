"""The public API is exactly __all__ (httpx's tests/test_exports.py pattern)."""

from __future__ import annotations

import types

import edgekit.runtime as runtime


def test_all_names_exist():
    missing = [name for name in runtime.__all__ if not hasattr(runtime, name)]
    assert missing == []


def test_every_public_name_is_in_all():
    public = {
        name
        for name, value in vars(runtime).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType) and name != "annotations"
    }
    assert public == set(runtime.__all__)


def test_all_has_no_duplicates():
    assert len(runtime.__all__) == len(set(runtime.__all__))
