"""When a local call matches a labelled one: the same tool and the same arguments, after normalization.

Normalization makes the comparison about meaning, not spelling: JSON objects are compared as mappings (key order
and whitespace do not count), numbers by value (``5`` equals ``5.0``; booleans stay booleans), and strings
case-insensitively with surrounding whitespace, quotes and final ``.``/``!``/``?`` trimmed ("Mom" equals "mom",
"I'm on my way." equals "I'm on my way"). Anything else (a missing or extra argument, another value) is a miss.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

__all__ = ["normalize", "same_call"]


def normalize(value: Any) -> Any:
    if isinstance(value, bool):
        return ("bool", value)  # tagged: in Python True == 1.0, in JSON a boolean is not a number
    if value is None:
        return value
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        return value.strip().strip("\"'").strip().rstrip(".!?").strip().casefold()
    if isinstance(value, Mapping):
        return {str(k): normalize(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [normalize(v) for v in value]
    return value


def same_call(name: str, arguments: str | Mapping[str, Any], expected: Mapping[str, Any]) -> bool:
    """``name``/``arguments`` (JSON text or a mapping) against a label ``{"name", "arguments"}``."""
    if name != expected.get("name"):
        return False
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments)
        except ValueError:
            return False
    return bool(normalize(arguments) == normalize(expected.get("arguments")))
