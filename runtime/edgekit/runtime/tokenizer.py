"""The bundle's tokenizer (HF ``tokenizers``, from tokenizer.json) and a streaming detokenizer.

``IncrementalDetokenizer`` is the prefix/read-offset method of HF
text-generation-inference (``decode_token`` in its server's ``Model``):
decode a short window of recent ids twice, emit only the new suffix, and hold
it back while it ends in U+FFFD, i.e. while a multi-byte UTF-8 character is
split across byte-level tokens. The concatenation of the pieces equals
``decode(all ids)``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import BundleError
from .manifest import TokenizerInfo

if TYPE_CHECKING:
    import tokenizers

__all__ = ["Tokenizer", "IncrementalDetokenizer"]

_REPLACEMENT = "\ufffd"


class Tokenizer:
    """encode/decode with the bundle's special-token rules (BOS from the manifest)."""

    def __init__(self, path: str | os.PathLike[str], info: TokenizerInfo):
        from tokenizers import Tokenizer as _HFTokenizer

        try:
            self._tok = _HFTokenizer.from_file(str(path))
        except Exception as exc:  # tokenizers raises a bare Exception for bad JSON
            raise BundleError(f"tokenizer file {str(path)!r} cannot be read ({exc}); re-export the bundle") from None
        self.info = info
        self.eos_ids = tuple(info.eos_ids)
        self.bos_id = info.bos_id
        self.bos_token = self._tok.id_to_token(info.bos_id) if info.bos_id is not None else None
        self.eos_token = self._tok.id_to_token(info.eos_ids[0]) if info.eos_ids else None

    @classmethod
    def from_bundle(cls, folder: Path, info: TokenizerInfo) -> Tokenizer:
        return cls(Path(folder) / info.file, info)

    @property
    def hf_tokenizer(self) -> tokenizers.Tokenizer:
        """The parsed ``tokenizers.Tokenizer``: llguidance's vocabulary is built from it (no second copy)."""
        return self._tok

    @property
    def vocab_size(self) -> int:
        return self._tok.get_vocab_size(with_added_tokens=True)

    def encode(self, text: str, add_bos: bool | None = None) -> list[int]:
        """Token ids of ``text``; special tokens written in the text (``<|im_start|>``) map to their ids.

        ``add_bos`` defaults to the manifest's rule; a BOS already at the start
        of the text (a chat template that writes it) is not doubled.
        """
        ids = self._tok.encode(text, add_special_tokens=False).ids
        if add_bos is None:
            add_bos = self.info.add_bos
        if add_bos and self.bos_id is not None and (not ids or ids[0] != self.bos_id):
            ids = [self.bos_id, *ids]
        return ids

    def decode(self, ids: Sequence[int], skip_special_tokens: bool = True) -> str:
        return self._tok.decode(list(ids), skip_special_tokens=skip_special_tokens)

    def token_to_id(self, token: str) -> int | None:
        return self._tok.token_to_id(token)

    def id_to_token(self, token_id: int) -> str | None:
        return self._tok.id_to_token(token_id)

    def detokenizer(self, context_ids: Sequence[int] = ()) -> IncrementalDetokenizer:
        return IncrementalDetokenizer(self, context_ids)


class IncrementalDetokenizer:
    """Turns a growing id list into text pieces that never split a UTF-8 character."""

    # Decoding a few prompt ids before the first new one keeps tokenizer-specific
    # spacing (SentencePiece's "▁" prefix is stripped at the start of a decode)
    # right at the boundary; TGI uses 5.
    CONTEXT = 5

    def __init__(self, tokenizer: Tokenizer, context_ids: Sequence[int] = ()):
        self.tokenizer = tokenizer
        self.ids: list[int] = list(context_ids)[-self.CONTEXT :] if context_ids else []
        self.prefix_offset = 0
        self.read_offset = len(self.ids)

    def add(self, token_id: int) -> str:
        """Append one id; return the text it completes ("" if a character is still incomplete)."""
        self.ids.append(token_id)
        decode = self.tokenizer.decode
        prefix_text = decode(self.ids[self.prefix_offset : self.read_offset])
        new_text = decode(self.ids[self.prefix_offset :])
        if len(new_text) > len(prefix_text) and not new_text.endswith(_REPLACEMENT):
            piece = new_text[len(prefix_text) :]
            self.prefix_offset = self.read_offset
            self.read_offset = len(self.ids)
            return piece
        return ""

    def flush(self) -> str:
        """Text still held back at the end (an incomplete character decodes to U+FFFD)."""
        if self.read_offset >= len(self.ids):
            return ""
        decode = self.tokenizer.decode
        prefix_text = decode(self.ids[self.prefix_offset : self.read_offset])
        new_text = decode(self.ids[self.prefix_offset :])
        self.prefix_offset = self.read_offset
        self.read_offset = len(self.ids)
        return new_text[len(prefix_text) :]
