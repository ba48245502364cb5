"""docs/edgekit.schema.json as the contract of the Java and web bundle readers.

``validate_manifest`` checks a bundle's edgekit.json against the checked-in schema (the one
tests/runtime/test_manifest_contract.py keeps equal to what the manifest dataclasses emit). ``read_problem`` and
``is_required`` place a key path that a reader reads (``("backend_config", "cache", "num_layers")``, ``"[]"`` for
the items of an array) in the schema. Both readers run ONNX bundles only, so ``backend_config`` is the schema's
branch for ``backend: onnx``.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

REPO = Path(__file__).resolve().parents[2]
SCHEMA_FILE = REPO / "docs" / "edgekit.schema.json"
ITEMS = "[]"
# what a reader may call on an array it read (JavaScript's Array members the readers use)
ARRAY_MEMBERS = {"length", "filter", "map", "reduce", "forEach", "find", "some", "every", "slice"}


@cache
def schema() -> dict[str, Any]:
    return json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))


def validate_manifest(bundle: Path) -> None:
    """Fail, naming every violation and where it is, unless ``bundle/edgekit.json`` validates against the schema."""
    data = json.loads((bundle / "edgekit.json").read_text(encoding="utf-8"))
    problems = [
        f"{'/'.join(map(str, e.absolute_path)) or '(top)'}: {e.message}"
        for e in Draft202012Validator(schema()).iter_errors(data)
    ]
    assert not problems, f"{bundle / 'edgekit.json'} does not validate against {SCHEMA_FILE.name}: {problems}"


def _deref(node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        node = schema()["$defs"][node["$ref"].removeprefix("#/$defs/")]
    objects = [branch for branch in node.get("anyOf", []) if "properties" in _deref(branch)]
    return _deref(objects[0]) if objects else node


def _onnx_backend_config() -> dict[str, Any]:
    for branch in schema()["allOf"]:
        if branch["if"]["properties"]["backend"] == {"const": "onnx"}:
            return _deref(branch["then"]["properties"]["backend_config"])
    raise AssertionError(f"{SCHEMA_FILE.name} has no backend_config branch for backend 'onnx'")


def _child(node: dict[str, Any], key: str, parents: tuple[str, ...]) -> dict[str, Any]:
    if parents == () and key == "backend_config":
        return _onnx_backend_config()
    return _deref(node["properties"][key])


def read_problem(path: tuple[str, ...]) -> str | None:
    """Why a reader cannot read ``path`` from a schema-valid manifest (None: it can).

    Past a string, number or boolean the rest of the path is the value's own members (``.replace``); past an array
    only ``"[]"`` or an Array member."""
    node = _deref(schema())
    for i, key in enumerate(path):
        where = ".".join(path[:i]) or "the top level"
        kind = node.get("type")
        if kind == "array":
            if key == ITEMS:
                node = _deref(node["items"])
                continue
            return None if key in ARRAY_MEMBERS else f"{where} is an array; {key!r} is neither [] nor an Array member"
        if kind != "object" and "properties" not in node:
            return None  # a leaf value: what follows are its members
        if "properties" not in node:
            return f"{where} is a free-form object in the schema: it names no keys, so {key!r} is not described"
        if key not in node["properties"]:
            return f"{where} has no key {key!r} in the schema (its keys: {sorted(node['properties'])})"
        node = _child(node, key, path[:i])
    return None


def is_required(path: tuple[str, ...]) -> bool:
    """Whether a schema-valid manifest always holds the last key of ``path`` (its object lists it as required)."""
    node = _deref(schema())
    for i, key in enumerate(path[:-1]):
        node = _deref(node["items"]) if key == ITEMS else _child(node, key, path[:i])
    return path[-1] in node.get("required", [])
