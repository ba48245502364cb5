"""Open a GGUF file and read its metadata, with one clean error for every way it can be broken.

gguf-py's ``GGUFReader`` maps the file and parses every header field; a
truncated or foreign file makes it raise ``ValueError``/``IndexError`` deep
inside numpy. Those become one ``SourceError`` naming the file and the fix.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, BinaryIO

from edgekit.runtime.errors import SourceError

__all__ = ["GGUF_MAGIC", "open_gguf", "open_checked", "check_gguf_magic", "gguf_value", "gguf_tensor_names"]

GGUF_MAGIC = b"GGUF"


def open_checked(path: Path) -> BinaryIO:
    """``open(path, "rb")`` with a ``SourceError`` naming the path when it cannot be read."""
    try:
        return open(path, "rb")
    except OSError as exc:
        raise SourceError(f"cannot read {str(path)!r} ({exc.strerror}); check the path and its permissions") from None


def check_gguf_magic(path: Path) -> None:
    """Raise ``SourceError`` unless ``path`` is readable and starts with the GGUF magic (cheap: 4 bytes)."""
    with open_checked(path) as handle:
        magic = handle.read(4)
    if magic != GGUF_MAGIC:
        raise SourceError(
            f"{str(path)!r} is not a GGUF file (it does not start with the GGUF magic); "
            "pass a .gguf model file or a Hugging Face model folder"
        )


def open_gguf(path: Path) -> Any:
    """Return a ``gguf.GGUFReader`` for ``path`` or raise ``SourceError``."""
    import gguf

    check_gguf_magic(path)
    try:
        reader = gguf.GGUFReader(path)
        size = path.stat().st_size
        # GGUFReader maps tensors lazily in some versions: check that the last tensor ends inside the file.
        for tensor in reader.tensors:
            if tensor.data_offset + tensor.n_bytes > size:
                raise ValueError(f"tensor {tensor.name} ends past the end of the file")
    except (ValueError, IndexError, KeyError, OSError, EOFError) as exc:
        raise SourceError(
            f"GGUF file {str(path)!r} is truncated or damaged ({exc}); download or copy it again"
        ) from None
    return reader


def gguf_value(reader: Any, key: str, default: Any = None) -> Any:
    """A metadata value as a plain Python object (str, int, float, bool or list)."""
    field = reader.fields.get(key)
    if field is None:
        return default
    return field.contents()


def gguf_tensor_names(reader: Any) -> list[str]:
    return [tensor.name for tensor in reader.tensors]
