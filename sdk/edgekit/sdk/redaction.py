"""Redaction: personal data is replaced by placeholders before a prompt leaves the device.

``Redactor().redact(text)`` returns the redacted text and a ``Redaction``
mapping placeholders (``[EMAIL_1]``, ``[PHONE_1]``, ``[CARD_1]``, ``[IP_1]``)
to the originals; ``Redaction.restore(answer)`` puts them back into the
cloud's answer, and ``StreamRestorer`` does it on a stream whose chunks may
split a placeholder. The same value gets the same placeholder across all
messages of one conversation, so the cloud can still refer to it.

Patterns, in the order they run (earlier ones win an overlap):
- e-mail: the practical subset of RFC 5322 addr-spec (dot-atom local part, dotted domain with a 2+ letter TLD);
- payment card: 13–19 digits, optionally grouped by single spaces or dashes, that pass the Luhn check
  (ISO/IEC 7812-1), so order numbers and arithmetic are left alone;
- IPv4 (each octet 0–255) and IPv6 (full or ``::``-compressed hex groups);
- phone: a ``+`` country code or separated groups (spaces, dots, dashes, parentheses), 7–15 digits in total
  (ITU-T E.164 caps a number at 15 digits). A bare run of digits is never a phone number: "What is 4839201 * 3?"
  stays as it is.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

__all__ = ["Redactor", "Redaction", "StreamRestorer", "luhn_valid", "KINDS"]

KINDS = ("email", "card", "ip", "phone")

_EMAIL = re.compile(
    r"(?<![\w.+-])[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}(?![\w-])"
)
_CARD = re.compile(r"(?<![\w.])\d(?:[ -]?\d){12,18}(?![\w.]|[ -]\d)")
_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_IPV4 = re.compile(rf"(?<![\w.]){_OCTET}(?:\.{_OCTET}){{3}}(?![\w]|\.\d)")
_H = r"[0-9A-Fa-f]{1,4}"
_IPV6 = re.compile(
    r"(?<![\w:])(?:"
    rf"(?:{_H}:){{7}}{_H}"
    rf"|(?:{_H}:){{1,7}}:(?:{_H}(?::{_H}){{0,6}})?"
    rf"|::(?:{_H}(?::{_H}){{0,6}})"
    r")(?![\w:])"
)
_PHONE = re.compile(
    r"(?<![\w+])(?:"
    r"\+\d{1,3}[ .-]?(?:\(\d{1,4}\)[ .-]?)?\d{1,4}(?:[ .-]?\d{1,4}){1,4}"  # +CC ...
    r"|\(\d{2,4}\)[ .-]?\d{2,4}(?:[ .-]\d{2,4}){1,3}"  # (0xx) ...
    r"|\d{2,4}(?:[ .-]\d{2,4}){2,4}"  # grouped by separators
    r")(?![\w])"
)


def luhn_valid(digits: str) -> bool:
    """The Luhn mod-10 check of ISO/IEC 7812-1."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def _digits(text: str) -> str:
    return "".join(ch for ch in text if ch.isdigit())


def _card_ok(match: str) -> bool:
    digits = _digits(match)
    return 13 <= len(digits) <= 19 and luhn_valid(digits)


_DATE = re.compile(r"\d{4}([./-])\d{1,2}\1\d{1,2}|\d{1,2}([./-])\d{1,2}\2\d{4}")


def _phone_ok(match: str) -> bool:
    if _DATE.fullmatch(match):  # 2024-05-01, 01.05.2024: dates, not phones
        return False
    digits = _digits(match)
    if not 7 <= len(digits) <= 15:
        return False
    # dotted groups of 1-3 digits are IPv4-like or version numbers, not phones
    if "." in match and all(len(g) <= 3 for g in match.split(".")) and not match.startswith("+"):
        return False
    return True


def _ipv6_ok(match: str) -> bool:
    # "12:30" or "10:15:00" are times, not addresses: need >= 3 colons or "::", and a hex letter or "::"
    return match.count(":") >= 3 or ("::" in match and len(match) > 2)


_PATTERNS: list[tuple[str, re.Pattern[str], Callable[[str], bool] | None, str]] = [
    ("email", _EMAIL, None, "EMAIL"),
    ("card", _CARD, _card_ok, "CARD"),
    ("ip", _IPV4, None, "IP"),
    ("ip", _IPV6, _ipv6_ok, "IP"),
    ("phone", _PHONE, _phone_ok, "PHONE"),
]

_PLACEHOLDER = re.compile(r"\[(EMAIL|CARD|IP|PHONE)_(\d+)\]")


@dataclass
class Redaction:
    """Placeholder → original value for one conversation."""

    mapping: dict[str, str] = field(default_factory=dict)

    @property
    def count(self) -> int:
        return len(self.mapping)

    def kinds(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for placeholder in self.mapping:
            kind = placeholder[1:].split("_")[0].lower()
            out[kind] = out.get(kind, 0) + 1
        return out

    def restore(self, text: str) -> str:
        if not self.mapping:
            return text
        return _PLACEHOLDER.sub(lambda m: self.mapping.get(m.group(0), m.group(0)), text)


class StreamRestorer:
    """Restores placeholders in a stream: holds back a trailing ``[...`` until it closes."""

    _MAX = 16  # longest placeholder "[PHONE_999999]" is 14 characters

    def __init__(self, redaction: Redaction):
        self.redaction = redaction
        self._pending = ""

    def feed(self, chunk: str) -> str:
        text = self._pending + chunk
        self._pending = ""
        if self.redaction.mapping:
            cut = text.rfind("[")
            if cut != -1 and "]" not in text[cut:] and len(text) - cut < self._MAX:
                text, self._pending = text[:cut], text[cut:]
        return self.redaction.restore(text)

    def flush(self) -> str:
        text, self._pending = self._pending, ""
        return self.redaction.restore(text)


class Redactor:
    """Finds personal data of the enabled ``kinds`` and replaces it with numbered placeholders."""

    def __init__(self, kinds: Iterable[str] = KINDS):
        kinds = tuple(kinds)
        unknown = sorted(set(kinds) - set(KINDS))
        if unknown:
            from edgekit.runtime.errors import UnknownNameError

            raise UnknownNameError("redaction kind", unknown[0], KINDS)
        self.kinds = kinds

    def find(self, text: str) -> list[tuple[int, int, str, str]]:
        """Non-overlapping (start, end, kind, label) spans, earlier patterns first."""
        spans: list[tuple[int, int, str, str]] = []
        for kind, pattern, check, label in _PATTERNS:
            if kind not in self.kinds:
                continue
            for m in pattern.finditer(text):
                value = m.group(0)
                if check is not None and not check(value):
                    continue
                start, end = m.span()
                if any(start < e and s < end for s, e, _, _ in spans):
                    continue
                spans.append((start, end, kind, label))
        return sorted(spans)

    def redact(self, text: str, redaction: Redaction | None = None) -> tuple[str, Redaction]:
        redaction = redaction if redaction is not None else Redaction()
        reverse = {v: k for k, v in redaction.mapping.items()}
        out: list[str] = []
        pos = 0
        for start, end, _kind, label in self.find(text):
            value = text[start:end]
            placeholder = reverse.get(value)
            if placeholder is None:
                n = sum(1 for k in redaction.mapping if k.startswith(f"[{label}_")) + 1
                placeholder = f"[{label}_{n}]"
                redaction.mapping[placeholder] = value
                reverse[value] = placeholder
            out.append(text[pos:start])
            out.append(placeholder)
            pos = end
        out.append(text[pos:])
        return "".join(out), redaction

    def redact_messages(self, messages: list[dict]) -> tuple[list[dict], Redaction]:
        """Redact the text content of every message; one mapping for the whole conversation."""
        redaction = Redaction()
        out = []
        for message in messages:
            content = message.get("content")
            if isinstance(content, str):
                content, _ = self.redact(content, redaction)
                message = {**message, "content": content}
            out.append(message)
        return out, redaction

    def iter_restore(self, chunks: Iterable[str], redaction: Redaction) -> Iterator[str]:
        restorer = StreamRestorer(redaction)
        for chunk in chunks:
            piece = restorer.feed(chunk)
            if piece:
                yield piece
        tail = restorer.flush()
        if tail:
            yield tail
