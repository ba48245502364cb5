"""Each token's bytes, read from the runtime's parsed tokenizer, for llguidance's view of the vocabulary.

``llguidance.LLTokenizer(tokenizer_json)`` parses tokenizer.json a second time and keeps that copy beside the
runtime's; given a ``TokenizerWrapper`` it takes one bytes string per token id instead (and a callback to
tokenize). The bytes here are the ones llguidance derives from tokenizer.json itself, in
``ByteTokenizer::from_tokenizer`` (guidance-ai/llguidance, toktrie_hf_tokenizers/src/lib.rs), so the two
vocabularies are the same token for token:

- an added token that is special, or written ``<...>``, is special: its name after the 0xFF marker
  (``TokTrie::SPECIAL_TOKEN_MARKER``), bytes no text contains, which a grammar names as ``<|im_end|>``;
- byte-level BPE (GPT-2, SmolLM2): each character of a token's name stands for one byte, through GPT-2's
  printable-character map (``bytes_to_unicode`` in openai/gpt-2 src/encoder.py);
- byte fallback (SentencePiece BPE, Gemma): ``<0xNN>`` is the single byte NN, and the character the decoder
  turns into a space (``▁``) is a space.

Padding rows past the tokenizer (a logits width rounded up) are special tokens named ``<[id]>``, as llguidance
pads (``ByteTokenizerEnv::new``), so no grammar ever allows them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

__all__ = ["TokenBytes", "token_bytes", "prepends_space"]

SPECIAL_MARKER = b"\xff"  # TokTrie::SPECIAL_TOKEN_MARKER (toktrie/src/toktree.rs)
_BYTE_PIECE = re.compile(r"<0x([0-9A-Fa-f]{2})>")
# the added tokens ByteTokenizer takes for eos when none is given (toktrie_hf_tokenizers/src/lib.rs)
_EOS_NAMES = frozenset({"</s>", "<|endoftext|>", "<|end_of_text|>", "<｜end▁of▁sentence｜>", "<eos>"})


@dataclass(frozen=True)
class TokenBytes:
    tokens: list[bytes]  # one per id, padded to n_vocab
    special_ids: list[int]
    eos_id: int  # llguidance's own guess (the last eos-named special token, else 0), for a bundle naming none


def _byte_level_map() -> dict[str, int]:
    """GPT-2's printable character of each byte, reversed: the bytes a byte-level token's name spells."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    chars = {b: chr(b) for b in printable}
    shifted = 0
    for b in range(256):
        if b not in chars:
            chars[b] = chr(256 + shifted)
            shifted += 1
    return {c: b for b, c in chars.items()}


def _state(component: Any) -> dict[str, Any] | None:
    """A tokenizers normalizer/pre-tokenizer/decoder as its tokenizer.json object (its pickled state is that)."""
    return None if component is None else dict(json.loads(component.__getstate__()))


def _walk(node: Any) -> Iterator[dict[str, Any]]:
    """Every component in a (possibly nested) ``Sequence``."""
    if isinstance(node, dict):
        yield node
        for key in ("decoders", "normalizers", "pretokenizers"):
            for child in node.get(key) or ():
                yield from _walk(child)


@dataclass
class _Decoding:
    byte_fallback: bool = False
    byte_level: bool = False
    space: str = " "  # the character a Replace decoder turns into " " (SentencePiece's "▁")


def _decoding(tokenizer: Any) -> _Decoding:
    found = _Decoding()
    for part in _walk(_state(tokenizer.decoder)):
        kind = part.get("type")
        if kind == "ByteFallback":
            found.byte_fallback = True
        elif kind == "ByteLevel":
            found.byte_level = True
        elif kind == "Replace" and part.get("content") == " ":
            pattern = (part.get("pattern") or {}).get("String")
            if isinstance(pattern, str) and len(pattern) == 1:
                found.space = pattern
    if not (found.byte_fallback or found.byte_level):
        raise ValueError(f"can't determine decoder type: {tokenizer.decoder!r}")
    return found


def prepends_space(tokenizer: Any) -> bool:
    """True when encoding adds a space before the text (a ``Prepend`` normalizer, a prepending ``Metaspace``).

    llguidance turns that off in its own copy before tokenizing with it; the runtime's copy must keep it, so such
    a tokenizer cannot lend llguidance its encoder.
    """
    if any(part.get("type") == "Prepend" for part in _walk(_state(tokenizer.normalizer))):
        return True
    return any(
        part.get("type") == "Metaspace" and part.get("prepend_scheme", "always") != "never"
        for part in _walk(_state(tokenizer.pre_tokenizer))
    )


def token_bytes(tokenizer: Any, n_vocab: int) -> TokenBytes:
    """The bytes of every token of a ``tokenizers.Tokenizer``, as llguidance reads them from tokenizer.json."""
    decoding = _decoding(tokenizer)
    size = int(tokenizer.get_vocab_size(with_added_tokens=True))
    if n_vocab < size:
        raise ValueError(f"vocab size too small; {n_vocab} vs {size}")
    tokens = [b""] * size
    special: set[int] = set()
    eos_id = 0
    for i, added in sorted(tokenizer.get_added_tokens_decoder().items()):
        name = str(added.content)
        if added.special or (name.startswith("<") and name.endswith(">")):
            special.add(i)
            eos_id = i if name in _EOS_NAMES else eos_id
        else:  # what a byte-level name keeps when a character of it is not in the byte map ("\n")
            tokens[i] = name.encode("utf-8")
    byte_of = _byte_level_map()
    for i in range(size):
        name = tokenizer.id_to_token(i)
        if name is None:
            continue
        if i in special:
            tokens[i] = SPECIAL_MARKER + name.encode("utf-8")
        elif decoding.byte_fallback:
            piece = _BYTE_PIECE.fullmatch(name)
            tokens[i] = bytes([int(piece[1], 16)]) if piece else name.replace(decoding.space, " ").encode("utf-8")
        elif all(c in byte_of for c in name):
            tokens[i] = bytes(byte_of[c] for c in name)
    tokens.extend(SPECIAL_MARKER + f"<[{i}]>".encode() for i in range(size, n_vocab))
    return TokenBytes(tokens, sorted(special), eos_id)
