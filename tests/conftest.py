"""Shared pytest configuration.

Fixtures that build tiny real models and bundles live in tests/fixtures/ and are
registered here so every test folder can use them.
"""

from __future__ import annotations

import os

import pytest

# Tests must never reach the hub: everything they load is built here or shipped in a package.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
# The runtime's record of verified bundle files (runtime/edgekit/runtime/verified_files.py) stays out of ~/.cache:
# one fresh folder per test run, shared with the subprocesses tests start.
if "EDGEKIT_CACHE_DIR" not in os.environ:
    import tempfile

    os.environ["EDGEKIT_CACHE_DIR"] = tempfile.mkdtemp(prefix="edgekit-test-cache-")
# Its HMAC key lives apart from the record (as ~/.config/edgekit is apart from ~/.cache/edgekit).
if "EDGEKIT_KEY_FILE" not in os.environ:
    import tempfile

    os.environ["EDGEKIT_KEY_FILE"] = os.path.join(tempfile.mkdtemp(prefix="edgekit-test-key-"), "verified-files.key")

# Session fixtures shared by every area (tests/fixtures/bundles.py): tiny_hf_folder, tiny_gguf,
# tiny_bundle(recipe), default_bundle(recipe).
from tests.fixtures.bundles import (  # noqa: E402,F401
    default_bundle,
    prune_stale_entries,  # noqa: E402
    tiny_bundle,
    tiny_gguf,
    tiny_hf_folder,
)


def pytest_sessionstart(session):
    prune_stale_entries()


@pytest.hookimpl(trylast=True)  # after -m/-k deselection: only a selected test starts a build
def pytest_collection_modifyitems(session, config, items):
    # The longest fixture build starts now in the background; the tests that need it run last.
    from tests.fixtures import early_build

    items[:] = early_build.start(items)


def pytest_sessionfinish(session, exitstatus):
    from tests.fixtures import early_build

    early_build.finish()
