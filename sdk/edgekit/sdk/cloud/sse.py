"""Server-sent events as the OpenAI streaming API sends them.

Each event is ``data: <json>`` followed by a blank line; the stream ends with
``data: [DONE]``. Lines starting with ``:`` are comments (keep-alives); other
fields (``event:``, ``id:``) are ignored, as the chat-completions stream does
not use them (WHATWG HTML, "Server-sent events", §9.2.6).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

__all__ = ["DONE", "iter_sse_data", "format_sse"]

DONE = "[DONE]"


def iter_sse_data(lines: Iterable[str]) -> Iterator[str]:
    """Yield the data payload of each event (multi-line data joined with newlines)."""
    buffer: list[str] = []
    for raw in lines:
        line = raw.rstrip("\r\n")
        if line == "":
            if buffer:
                yield "\n".join(buffer)
                buffer = []
            continue
        if line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if field == "data":
            buffer.append(value)
    if buffer:
        yield "\n".join(buffer)


def format_sse(data: str) -> bytes:
    return f"data: {data}\n\n".encode()
