"""Paths inside a bundle: every path ``edgekit.json`` names is relative, normalised and stays in the bundle folder.

Two checks, because a path can escape in two ways:

- lexically (``check_bundle_path``, at manifest parse time): an absolute path (``/etc/shadow``, ``C:\\x``),
  a ``..`` part, a backslash (a Windows separator on one side, a file name on the other), an empty or ``.``
  part, a NUL byte. Such a manifest is refused before any file is touched;
- through the file system (``resolve_in_bundle``, before a file is read): a symlink inside the folder that
  points out of it. The path is resolved (every symlink followed) and must still lie under the resolved
  bundle folder.

The same rule as onnxruntime's own check of external-data locations (``ValidateExternalDataPathFromDir``
in ``core/framework/tensorprotoutils.cc``: no absolute path, nothing resolving outside the model folder).
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath
from typing import Annotated

import msgspec

from .errors import IntegrityError

__all__ = ["MAX_PATH_CHARS", "PATH_PATTERN", "BundlePath", "check_bundle_path", "resolve_in_bundle"]

MAX_PATH_CHARS = 1024  # longer than any file name an exporter writes; bounds what a hostile manifest can send
# The same rule as check_bundle_path, for the JSON Schema's readers (Java, JavaScript): not absolute, no drive
# letter, no '//', no '.' or '..' part, no trailing '/', no backslash or NUL.
PATH_PATTERN = r"^(?![A-Za-z]:)(?!.*//)(?!(?:.*/)?\.{1,2}(?:/|$))[^/\\\x00][^\\\x00]*(?<!/)$"
BundlePath = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=MAX_PATH_CHARS,
        description="relative to the bundle folder, '/' separators, no '..', no absolute path",
        # for the schema's other readers; here check_bundle_path (called by each __post_init__) says what is wrong
        extra_json_schema={"pattern": PATH_PATTERN},
    ),
]


def check_bundle_path(value: object) -> str:
    """``value`` if it is a clean bundle-relative POSIX path, else ValueError saying what is wrong and the fix."""
    if not isinstance(value, str):
        raise ValueError(f"a bundle path must be a string, not {type(value).__name__}")
    fix = "use a path relative to the bundle folder, like 'model.onnx'"
    if not value or len(value) > MAX_PATH_CHARS:
        raise ValueError(f"bundle path of {len(value)} characters; {fix}")
    if "\x00" in value or "\\" in value:
        raise ValueError(f"bundle path {value!r} holds a NUL or backslash; {fix} with '/' separators")
    if value.startswith("/") or (len(value) > 1 and value[1] == ":"):
        raise ValueError(f"bundle path {value!r} is absolute; {fix}")
    parts = value.split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise ValueError(f"bundle path {value!r} has an empty, '.' or '..' part; {fix} (no '..', no '//')")
    if str(PurePosixPath(value)) != value:  # pragma: no cover - the checks above leave nothing to normalise
        raise ValueError(f"bundle path {value!r} is not normalised; {fix}")
    return value


def resolve_in_bundle(folder: str | os.PathLike[str], relpath: str, root: Path | None = None) -> Path:
    """The real path of bundle file ``relpath``; IntegrityError when it (through a symlink) lies outside the folder.

    ``root``: the already resolved bundle folder (saves one ``realpath`` per file).
    """
    root = root if root is not None else Path(folder).resolve()
    try:
        check_bundle_path(relpath)
    except ValueError as exc:
        raise IntegrityError(f"bundle file path refused: {exc}") from None
    real = Path(os.path.realpath(Path(folder) / relpath))
    if real != root and root not in real.parents:
        raise IntegrityError(
            f"bundle file {relpath!r} resolves to {str(real)!r}, outside the bundle folder {str(root)!r} (a symlink "
            "out of the bundle); replace the link by the file itself or re-export"
        )
    return real
