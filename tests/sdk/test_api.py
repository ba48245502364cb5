"""The public API of edgekit.sdk: explicit __all__, every name importable, no heavy imports for the CLI."""

from __future__ import annotations

import subprocess
import sys

import edgekit.sdk as sdk


def test_all_names_resolve():
    for name in sdk.__all__:
        assert getattr(sdk, name) is not None, name
    assert {"HybridClient", "CloudConfig", "Policy", "BudgetCaps", "Redactor", "serve_in_thread"} <= set(sdk.__all__)


def test_importing_the_package_stays_light():
    code = "import sys, edgekit.sdk; print('httpx' in sys.modules, 'numpy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "False"]
