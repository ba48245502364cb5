"""Whether an interpreter can import a module, without importing it (importing optimum.executorch takes seconds)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

__all__ = ["has_module"]

_PROBE = (
    "import importlib.util, sys\n"
    "try:\n    found = importlib.util.find_spec(sys.argv[1]) is not None\n"
    "except ModuleNotFoundError:\n    found = False\n"
    "sys.exit(0 if found else 1)"
)


def _find_module(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # a dotted name whose parent package is missing
        return False


def has_module(python: str, module: str) -> bool:
    """Whether ``python`` can find ``module`` (found, not imported)."""
    if python == sys.executable:
        return _find_module(module)
    try:
        proc = subprocess.run([python, "-c", _PROBE, module], capture_output=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return proc.returncode == 0
