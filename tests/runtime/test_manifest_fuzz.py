"""Seeded fuzz of edgekit.json: every mutated manifest loads (and generates) or fails as one EdgekitError line.

Mutations of a real toy bundle's manifest: values swapped for other JSON types, huge/negative/non-finite
numbers, deleted keys, paths with '..', absolute paths and symlinks out of the folder, plus whole random JSON.
Bounded: a fixed number of examples from a fixed seed (derandomized), each load under a second.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.fixtures.require import import_or_skip_or_fail

hypothesis = import_or_skip_or_fail("hypothesis", "pip install -e '.[dev]' (scripts/setup.sh installs it)")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

EXAMPLES = 300
BUDGET_S = 60.0  # the whole run; ~10 s measured on a quiet 2-core machine

ODD_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.sampled_from([0, -1, 1, 2**31, 2**63, 10**12, -(10**12)]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(["../model.onnx", "/etc/shadow", "a/../../x", "link-out", "", ".", "model.onnx", "C:\\x"]),
    st.lists(st.integers(min_value=-5, max_value=300), max_size=4),
    st.dictionaries(st.text(max_size=4), st.integers(), max_size=3),
)
RANDOM_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=12,
)


def _paths(data, prefix=()):
    """Every (path, value) in the JSON tree."""
    yield prefix, data
    if isinstance(data, dict):
        for key, value in data.items():
            yield from _paths(value, (*prefix, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield from _paths(value, (*prefix, index))


def _apply(data, path, action, value):
    if not path:
        return value if action == "set" else data
    parent = data
    for step in path[:-1]:
        parent = parent[step]
    if action == "delete":
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    return data


@st.composite
def manifests(draw, base):
    if draw(st.integers(0, 19)) == 0:
        return draw(RANDOM_JSON)
    data = json.loads(json.dumps(base))
    for _ in range(draw(st.integers(1, 3))):
        paths = [p for p, _ in _paths(data)]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        action = draw(st.sampled_from(["set", "set", "delete"])) if path else "set"
        data = _apply(data, path, action, draw(ODD_VALUES))
        if not isinstance(data, dict):
            break
    return data


@pytest.fixture(scope="module")
def base_bundle(tmp_path_factory):
    from tests.runtime.conftest import answer_table
    from tests.runtime.toy_bundle import build_toy_bundle

    return build_toy_bundle(tmp_path_factory.mktemp("fuzz-base") / "bundle", answer_table())


def test_mutated_manifests_load_or_fail_as_one_edgekit_error(base_bundle, tmp_path_factory):
    from edgekit.runtime import EdgekitError, load
    from edgekit.sdk.cli import main

    base = json.loads((base_bundle / "edgekit.json").read_text())
    outside = tmp_path_factory.mktemp("fuzz-outside")
    shutil.copy(base_bundle / "model.onnx", outside / "model.onnx")
    runner = CliRunner()
    started = time.monotonic()
    outcomes = {"loaded": 0, "refused": 0}

    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(data=manifests(base))
    def check(data):
        folder = Path(tmp_path_factory.mktemp("case")) / "b"
        folder.mkdir()
        for name in ("model.onnx", "tokenizer.json"):
            os.link(base_bundle / name, folder / name)
        text = json.dumps(data)
        if "link-out" in text:  # only when the manifest names it: an unlisted file alone is refused by design
            os.symlink(outside / "model.onnx", folder / "link-out")
        (folder / "edgekit.json").write_text(text)
        case_started = time.monotonic()
        try:
            model = load(folder, verify=True)
            model.generate("hi", max_new_tokens=2, chat=False)
            outcomes["loaded"] += 1
        except EdgekitError as exc:
            text = str(exc)
            assert text and "\n" not in text, f"multi-line message: {text!r}"
            outcomes["refused"] += 1
        assert time.monotonic() - case_started < 10.0
        result = runner.invoke(main, ["info", str(folder)])
        assert result.exit_code in (0, 1), result.output
        assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
        assert "Traceback" not in result.output
        if result.exit_code == 1:  # the report (if the manifest read) then one "Error: ..." line
            assert result.output.splitlines()[-1].startswith("Error: "), result.output

    check()
    assert time.monotonic() - started < BUDGET_S
    # the mutations reach both outcomes (a fuzz that only ever refuses tests nothing past the first check)
    assert outcomes["loaded"] > 0 and outcomes["refused"] > outcomes["loaded"]
