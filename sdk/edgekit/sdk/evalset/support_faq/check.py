"""The task metric of the support FAQ: an answer is right when it holds every key fact of its question (any one
accepted spelling of each, case- and accent-insensitive, as whole words)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

__all__ = ["has_key_facts", "mentions_product"]


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).lower()


def _contains(text: str, phrase: str) -> bool:
    return re.search(r"(?<!\w)" + re.escape(_fold(phrase)) + r"(?!\w)", _fold(text)) is not None


def has_key_facts(answer: str, keys: Sequence[Sequence[str]]) -> bool:
    return bool(keys) and all(any(_contains(answer, spelling) for spelling in key) for key in keys)


def mentions_product(answer: str) -> bool:
    """An out-of-domain answer that talks about the hub has learned to say the FAQ for everything."""
    return _contains(answer, "Larkspur")
