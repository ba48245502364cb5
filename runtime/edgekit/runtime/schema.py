"""Typed decoding of ``edgekit.json``: JSON data -> frozen dataclasses, or one ``SchemaError`` line.

The manifest sections are plain dataclasses whose fields carry their limits as
``Annotated[..., msgspec.Meta(...)]``. msgspec (a compiled, well-kept library:
https://jcristharif.com/msgspec/constraints.html) checks types strictly (no
``true`` for an int, no ``"2"`` for a number, no float for an int) and the
limits, calls each dataclass's ``__post_init__`` for rules a limit cannot say
(a path inside the bundle), and emits the JSON Schema of the same classes
(``msgspec.json.schema``), so the checked-in schema and the reader cannot
disagree. Importing it costs ~9 ms beside numpy/onnxruntime.

A failure becomes ``SchemaError("<file>: <key> = <value> is invalid (<why>);
<fix>")``: the key path, the offending value and the fix on one line, before
any compute.
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Any, TypeVar

import msgspec

from .errors import SchemaError

__all__ = [
    "Meta",
    "PosInt",
    "NonNegInt",
    "TokenId",
    "NonNegFloat",
    "Name",
    "MAX_CONTEXT_LIMIT",
    "MAX_PARALLEL",
    "MAX_VOCAB",
    "decode",
    "lookup",
    "field_error",
    "check_path_field",
]

T = TypeVar("T")
Meta = msgspec.Meta

# Upper bounds for sizes a real model has, far above today's largest (context 1M tokens, Gemma 3's 262k vocab):
# they exist so a hostile or mistyped number (10**12) is refused here instead of as a numpy MemoryError.
MAX_CONTEXT_LIMIT = 1 << 20
MAX_VOCAB = 1 << 24
MAX_DIM = 1 << 16  # layers, heads, head_dim, hidden size
MAX_PARALLEL = 32  # generations one loaded model holds at once (each a KV cache); a device runs far fewer
MAX_TOKEN_ID = (1 << 31) - 1  # token ids travel as int32 in some graphs and the Java/web readers

PosInt = Annotated[int, Meta(ge=1, le=MAX_DIM)]
NonNegInt = Annotated[int, Meta(ge=0, le=1 << 40)]
TokenId = Annotated[int, Meta(ge=0, le=MAX_TOKEN_ID)]
NonNegFloat = Annotated[float, Meta(ge=0.0)]
Name = Annotated[str, Meta(min_length=1, max_length=256)]

_AT = re.compile(r"^(?P<why>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.S)
_MISSING = re.compile(r"Object missing required field (?P<field>\S+)$")
_STEP = re.compile(r"\.([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]")
_FIELD = re.compile(r"^@(?P<key>[A-Za-z_][A-Za-z0-9_]*)@ ")


def check_path_field(key: str, value: object) -> None:
    """``check_bundle_path`` for field ``key`` of a section (its refusal names the key)."""
    from .bundle_paths import check_bundle_path

    try:
        check_bundle_path(value)
    except ValueError as exc:
        raise field_error(key, exc) from None


def field_error(key: str, exc: ValueError) -> ValueError:
    """A ``__post_init__`` refusal of field ``key``: msgspec reports the object, this marks which of its keys."""
    return ValueError(f"@{key}@ {exc}")


def lookup(data: Any, path: str) -> tuple[bool, Any]:
    """(found, value) at a msgspec error path like ``.files[0].path`` inside ``data``."""
    value = data
    for key, index in _STEP.findall(path):
        if key and isinstance(value, dict) and key in value:
            value = value[key]
        elif index and isinstance(value, list) and int(index) < len(value):
            value = value[int(index)]
        else:
            return False, None
    return True, value


def _show(value: Any) -> str:
    try:
        text = json.dumps(value)  # ASCII escapes: no line separator (U+2028, \x1c) splits the one line
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def decode(data: Any, cls: type[T], where: str, prefix: str = "") -> T:
    """``data`` as ``cls`` (strict types, limits, ``__post_init__`` rules), or SchemaError naming key and value."""
    try:
        return msgspec.convert(data, cls)
    except msgspec.ValidationError as exc:
        raise SchemaError(_message(str(exc), data, where, prefix)) from None


def _message(text: str, data: Any, where: str, prefix: str) -> str:
    match = _AT.match(text.strip())
    why, path = (match.group("why"), match.group("path") or "") if match else (text, "")
    why = why.replace("`", "")
    marked = _FIELD.match(why)
    if marked:
        path, why = f"{path}.{marked.group('key')}", why[marked.end() :]
    missing = _MISSING.search(why)
    if missing:
        path = f"{path}.{missing.group('field')}"
    key = (prefix + path).lstrip(".") or "(top level)"
    if missing:
        return f"{where}: required key {key} is missing; add it or re-export the bundle with `edgekit export`"
    found, value = lookup(data, path)
    shown = f" = {_show(value)}" if found else ""
    return f"{where}: {key}{shown} is invalid ({why}); set a valid value or re-export the bundle with `edgekit export`"
