"""A generation stream with tools: plain answers stream as text, calls come back as ``Result.tool_calls``.

While the text could still open a call (a prefix of ``<tool_call>``) it is held back; once it cannot, it is a
plain answer and streams as usual. A call's text never reaches the stream: its pieces carry their tokens (for
logprobs and counting) with empty text, and the last piece's result has ``tool_calls``, ``text`` "" and finish
reason ``tool_calls``. A call cut short (max_new_tokens, a stop string) is not a call: its raw text is flushed
and the result keeps its own finish reason, so the stream's text still equals ``Result.text``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence

from .errors import ToolError
from .results import FinishReason, Piece
from .tool_grammar import CALL_OPEN, could_be_call, parse_calls
from .tools import Tool

__all__ = ["tool_pieces"]


def tool_pieces(pieces: Iterator[Piece], tools: Sequence[Tool]) -> Iterator[Piece]:
    held = ""  # text not yet streamed: it could still be (or is) a call
    plain = False  # decided: a plain answer
    try:
        for piece in pieces:
            if piece.result is not None:
                result = piece.result
                if not plain and result.text.startswith(CALL_OPEN.strip()):
                    try:
                        calls = parse_calls(result.text, tools)
                    except ToolError:  # cut short: the grammar had not finished the call
                        calls = None
                    if calls:
                        done = dataclasses.replace(
                            result, text="", tool_calls=calls, finish_reason=FinishReason.TOOL_CALLS
                        )
                        yield Piece("", None, done)
                        return
                if held:
                    yield Piece(held, None)
                yield piece
                return
            if plain:
                yield piece
                continue
            held += piece.text
            if could_be_call(held):
                yield Piece("", piece.token)
            else:
                plain = True
                yield Piece(held, piece.token)
                held = ""
    finally:
        close = getattr(pieces, "close", None)
        if close is not None:
            close()  # the runtime's generator returns its KV cache to the pool
