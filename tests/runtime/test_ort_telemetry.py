"""onnxruntime telemetry stays off: loading a bundle and generating writes no device id or event queue.

onnxruntime 1.32 (Linux) writes ``~/.cache/Microsoft/DeveloperTools/.onnxruntime/{deviceid,onnxruntime.db}`` at
import unless ``ORT_DISABLE_TELEMETRY=1`` is set first; it also stays silent when it sees a CI environment, so the
children below run with every CI marker it checks removed (otherwise the test would pass for the wrong reason).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from edgekit.runtime.backends.ort_telemetry import ORT_TELEMETRY_ENV

# the CI markers onnxruntime's telemetry checks (strings of onnxruntime_pybind11_state, 1.32.0) and our own switch
_SUPPRESSING = (
    "CI",
    "TF_BUILD",
    "GITHUB_ACTIONS",
    "GITLAB_CI",
    "CIRCLECI",
    "TRAVIS",
    "JENKINS_URL",
    "CODEBUILD_BUILD_ID",
    "BUILDKITE",
    "TEAMCITY_VERSION",
    "APPVEYOR",
    "ORT_RUNNING_UNIT_TESTS",
    "XDG_CACHE_HOME",
    ORT_TELEMETRY_ENV,
)


def _run(code: str, home: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in _SUPPRESSING}
    env["HOME"] = str(home)
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr


def _files(home: Path) -> list[str]:
    return sorted(str(p.relative_to(home)) for p in home.rglob("*") if p.is_file())


def test_plain_onnxruntime_writes_telemetry_files(tmp_path):
    """The control: without edgekit, this onnxruntime does write them (so the next test can fail)."""
    _run("import onnxruntime", tmp_path)
    assert any("onnxruntime" in f for f in _files(tmp_path)), _files(tmp_path)


def test_load_and_generate_write_no_telemetry_files(tmp_path, toy_bundle):
    _run(
        "from edgekit.runtime import load\n"
        f"model = load({str(toy_bundle)!r})\n"
        "assert model.generate('hello', max_new_tokens=3).text is not None\n",
        tmp_path,
    )
    assert _files(tmp_path) == []


def test_user_choice_is_kept(monkeypatch):
    from edgekit.runtime.backends.ort_telemetry import keep_telemetry_off

    monkeypatch.setenv(ORT_TELEMETRY_ENV, "0")  # the user opted in
    keep_telemetry_off()
    assert os.environ[ORT_TELEMETRY_ENV] == "0"
    monkeypatch.delenv(ORT_TELEMETRY_ENV)
    keep_telemetry_off()
    assert os.environ[ORT_TELEMETRY_ENV] == "1"
