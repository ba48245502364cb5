"""Text from the command line and stdin, checked to be UTF-8 before it reaches a tokenizer.

Python hands bytes that are not valid UTF-8 in ``sys.argv`` (and in stdin under a
C/POSIX locale) to the program as lone surrogates (PEP 383, ``surrogateescape``):
``edgekit run B $'caf\\xe9'`` arrives as ``'caf\\udce9'``, which no tokenizer
accepts. Under a UTF-8 locale stdin is strict instead and the read itself fails.

Decision: such input is *refused* with one line naming the first bad byte, its
byte offset and the fix, rather than decoded with U+FFFD replacement. A
replaced prompt is a different prompt (``café`` in Latin-1 would silently become
``caf�``), and the model would answer it without the user knowing; the fix
(a UTF-8 terminal, or ``iconv -f latin1 -t utf-8``) is one command away.

Every command that takes text (``run``, ``chat``, ``ask``) calls ``checked_text``
on its arguments and on each line it reads (``lenient_stdin`` first, so a read
never fails half-way), or ``stdin_text`` for all of stdin.
"""

from __future__ import annotations

from typing import TextIO

from edgekit.runtime.errors import ConfigError

__all__ = ["InputEncodingError", "checked_text", "decode_text", "lenient_stdin", "stdin_text"]

FIX = "use a UTF-8 terminal/locale (e.g. LANG=C.UTF-8) or convert the text first: iconv -f latin1 -t utf-8"


class InputEncodingError(ConfigError):
    """Text given to a command is not valid UTF-8."""

    def __init__(self, what: str, offset: int, byte: int, count: int):
        self.what, self.offset, self.byte, self.count = what, offset, byte, count
        more = f" ({count} invalid bytes in all)" if count > 1 else ""
        super().__init__(f"{what} is not valid UTF-8: byte 0x{byte:02x} at byte offset {offset}{more}; {FIX}")


def _first_bad(data: bytes) -> tuple[int, int, int]:
    """(offset of the first invalid byte, its value, number of invalid bytes)."""
    first = None
    count = 0
    position = 0
    while position < len(data):
        try:
            data[position:].decode("utf-8")
            break
        except UnicodeDecodeError as exc:
            start = position + exc.start
            if first is None:
                first = start
            count += exc.end - exc.start
            position = position + exc.end
    assert first is not None
    return first, data[first], count


def decode_text(data: bytes, what: str) -> str:
    """UTF-8 bytes → str, or InputEncodingError naming the first bad byte."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise InputEncodingError(what, *_first_bad(data)) from None


def checked_text(text: str, what: str) -> str:
    """An argv string (bytes that were not UTF-8 arrive as lone surrogates) → the same str, or InputEncodingError."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        raw = text.encode("utf-8", "surrogateescape") if _only_escapes(text) else None
    if raw is None:  # lone surrogates that are not escaped bytes (e.g. from a broken JSON \\ud800)
        index = next(i for i, ch in enumerate(text) if 0xD800 <= ord(ch) <= 0xDFFF)
        offset = len(text[:index].encode("utf-8"))
        raise InputEncodingError(what, offset, ord(text[index]), sum(0xD800 <= ord(c) <= 0xDFFF for c in text))
    return decode_text(raw, what)


def _only_escapes(text: str) -> bool:
    return all(not (0xD800 <= ord(ch) <= 0xDFFF) or 0xDC80 <= ord(ch) <= 0xDCFF for ch in text)


def lenient_stdin(stream: TextIO) -> TextIO:
    """``sys.stdin`` made to hand undecodable bytes over as surrogates (as argv does) instead of raising mid-read.

    Text is still decoded with the locale's encoding; ``checked_text`` then refuses what did not decode.
    """
    reconfigure = getattr(stream, "reconfigure", None)
    if reconfigure is not None:
        reconfigure(errors="surrogateescape")
    return stream


def stdin_text(stream: TextIO, what: str = "the text on stdin") -> str:
    """All of ``stream`` (``sys.stdin``), checked: undecodable bytes → InputEncodingError."""
    return checked_text(lenient_stdin(stream).read(), what)
