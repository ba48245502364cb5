"""Machine checkers for the labelled escalation set, one per answer kind.

- number: the answer number (edgekit.sdk.policy.answer_span rules) equals the expected value
  within 1e-6 relative;
- entity: one of the expected aliases appears as whole words in the first sentence,
  case- and accent-insensitive ("Brasilia" matches "Brasília");
- yesno: the first yes/no word equals the expected one.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from typing import Any

from edgekit.runtime.registry import Registry

from ..policy.answer_span import find_answer, first_sentence, parse_number

__all__ = ["CHECKERS", "check"]

CHECKERS: Registry[Callable[[str, Any], bool]] = Registry("checker")


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).lower()


@CHECKERS.register("number")
def check_number(text: str, expected: Any) -> bool:
    span = find_answer("number", text)
    if span is None:
        return False
    value = parse_number(span.value)
    if value is None:
        return False
    target = float(expected)
    return abs(value - target) <= 1e-6 * max(1.0, abs(target))


@CHECKERS.register("entity")
def check_entity(text: str, expected: Any) -> bool:
    aliases = [expected] if isinstance(expected, str) else list(expected)
    sentence = _fold(first_sentence(text))
    return any(re.search(r"(?<!\w)" + re.escape(_fold(a)) + r"(?!\w)", sentence) for a in aliases)


@CHECKERS.register("yesno")
def check_yesno(text: str, expected: Any) -> bool:
    span = find_answer("yesno", text)
    return span is not None and span.value == str(expected).lower()


def check(kind: str, text: str, expected: Any) -> bool:
    return CHECKERS.get(kind)(text, expected)
