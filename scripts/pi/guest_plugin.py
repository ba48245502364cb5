"""pytest plugin loaded (``-p guest_plugin``) only when the runtime tests run in the emulated aarch64 Python.

The device has the base install, never the export stack (torch, transformers). A test whose
*fixture* would have to export a bundle there (because the x86 side did not build and cache
it first) fails in setup with ModuleNotFoundError for torch; that is a missing fixture, not a
runtime bug, so it is reported as skipped with the reason. A ModuleNotFoundError raised
through edgekit's runtime or sdk code, or in the test body itself, stays a failure: the
runtime must run without torch, and this job is where that is proven on aarch64.
"""

from __future__ import annotations

import pytest

EXPORT_STACK = {"torch", "transformers", "accelerate", "safetensors", "gguf", "executorch", "onnxruntime_genai"}
RUNTIME_PATHS = ("edgekit/runtime/", "edgekit/sdk/")


def _export_stack_missing(excinfo) -> str | None:
    if excinfo is None or not excinfo.errisinstance(ModuleNotFoundError):
        return None
    name = (getattr(excinfo.value, "name", None) or "").split(".")[0]
    if name not in EXPORT_STACK:
        return None
    frames = [str(entry.path) for entry in excinfo.traceback]
    if any(p in frame for frame in frames for p in RUNTIME_PATHS):
        return None  # the runtime itself reached for torch: a real failure
    return name


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if call.when != "setup" or not report.failed:
        return
    missing = _export_stack_missing(call.excinfo)
    if missing:
        report.outcome = "skipped"
        reason = (
            f"fixture needs {missing} (export stack), absent on the device by design; "
            "the x86 side did not pre-build this bundle"
        )
        report.longrepr = (str(item.path), item.location[1] or 0, f"Skipped: {reason}")
