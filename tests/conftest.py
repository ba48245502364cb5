"""Shared pytest configuration.

Fixtures that build tiny real models and bundles live in tests/fixtures/ and are
registered here so every test folder can use them.
"""

from __future__ import annotations

import os

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
