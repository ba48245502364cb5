"""Redaction: personal data is replaced by placeholders before a prompt leaves the device.

``Redactor().redact(text)`` returns the redacted text and a ``Redaction``
mapping placeholders (``[EMAIL_1]``, ``[IBAN_1]``, ``[PHONE_1]``, ``[CARD_1]``, ``[IP_1]``)
to the originals; ``Redaction.restore(answer)`` puts them back into the
cloud's answer, and ``StreamRestorer`` does it on a stream whose chunks may
split a placeholder. The same value gets the same placeholder across all
messages of one conversation, so the cloud can still refer to it.

Patterns, in the order they run (earlier ones win an overlap):
- e-mail: the practical subset of RFC 5322 addr-spec (dot-atom local part, dotted domain with a 2+ letter TLD),
  internationalized as RFC 6531 (SMTPUTF8) allows: local parts and domain labels may hold letters, marks and
  digits of any script (``josé@exämple.de``, ``用户@例子.广告``, ``संपर्क@डाटामेल.भारत``), ``xn--`` A-label TLDs
  count, and the ideographic full stops that IDNA reads as dots (RFC 3490 §3.1) separate labels. In scripts
  written without spaces the address cannot be told from the words around it, so the placeholder may take
  those too: more is hidden from the cloud, and the restore puts it all back;
- IBAN: ISO 13616, two letters, two check digits and up to 30 letters or digits, compact or in the paper format
  (groups of four split by single spaces), kept only when python-stdnum's ``stdnum.iban`` accepts it: the
  ISO 7064 MOD 97-10 check digits and the country's registered BBAN length and layout, so order references and
  other digit strings with two letters in front are left alone;
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

__all__ = ["Redactor", "Redaction", "StreamRestorer", "luhn_valid", "iban_valid", "KINDS"]

KINDS = ("email", "iban", "card", "ip", "phone")

# Non-ASCII punctuation, symbols and spaces (Latin-1 punctuation, × ÷, General Punctuation to Miscellaneous
# Symbols and Arrows, Supplemental Punctuation, CJK Symbols and Punctuation but U+3003 ditto, vertical and small
# forms, fullwidth ASCII punctuation, emoji). Python's re has no \p{M}, and \w misses the combining marks that
# Indic and other scripts need inside words, so "a letter, mark or digit of any script" is written as
# "not ASCII, not a space, not one of these".
_NON_ASCII_PUNCT = (
    "\u00a0-\u00bf\u00d7\u00f7\u2000-\u2bff\u2e00-\u2e7f\u3000-\u3002\u3004-\u303f\ufe10-\ufe1f\ufe30-\ufe6f"
    "\uff00-\uff0f\uff1a-\uff20\uff3b-\uff40\uff5b-\uff65\U0001f000-\U0001faff"
)
_U = rf"[^\x00-\x7f\s{_NON_ASCII_PUNCT}]"
_ATOM = rf"(?:[A-Za-z0-9!#$%&'*+/=?^_`{{|}}~-]|{_U})+"
_LABEL_CH = rf"(?:[A-Za-z0-9]|{_U})"
_LABEL = rf"{_LABEL_CH}(?:(?:{_LABEL_CH}|-){{0,61}}{_LABEL_CH})?"
_DOT = "[.\u3002\uff0e\uff61]"  # the label separators of IDNA (RFC 3490 §3.1)
_TLD = rf"(?:xn--[A-Za-z0-9-]{{1,59}}|(?:[A-Za-z]|{_U}){{2,63}})"
_EMAIL = re.compile(rf"(?<![\w.+-])(?<!{_U}){_ATOM}(?:\.{_ATOM})*@(?:{_LABEL}{_DOT})+{_TLD}(?![\w-])(?!{_U})")
# ISO 13616: country code, check digits, BBAN; compact or in groups of four split by single spaces
_IBAN = re.compile(r"(?<![\w])[A-Za-z]{2}\d{2}(?: ?[A-Za-z0-9]{4}){2,7}(?: ?[A-Za-z0-9]{1,3})?(?![\w])")
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


def iban_valid(value: str) -> bool:
    """An IBAN (spaces allowed) with valid ISO 7064 MOD 97-10 check digits and its country's BBAN layout."""
    # imported on first use: stdnum.util pulls in pydoc and ssl (~0.1 s), and most prompts hold no IBAN
    from stdnum import iban

    return iban.is_valid(value)


def _iban_length(match: str) -> int:
    """Length of the longest leading part of ``match`` that is a valid IBAN (0 for none).

    The pattern cannot know a country's length, so a grouped IBAN followed by a short word or number
    ("BE68 5390 0754 7034 and ...") is matched with it; the IBAN is then the match cut at a group boundary.
    """
    ends = [len(match)] + [i for i in range(len(match) - 1, 0, -1) if match[i] == " "]
    for end in ends:
        if end >= 15 and iban_valid(match[:end]):  # the shortest IBANs (Norway) have 15 characters
            return end
    return 0


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


def _whole(check: Callable[[str], bool] | None) -> Callable[[str], int]:
    """A yes/no check as a ``keep`` function: all of the match, or nothing."""
    return lambda match: len(match) if check is None or check(match) else 0


# (kind, pattern, keep, label): ``keep(match)`` is how many leading characters of a match are the value (0: none)
_PATTERNS: list[tuple[str, re.Pattern[str], Callable[[str], int], str]] = [
    ("email", _EMAIL, _whole(None), "EMAIL"),
    ("iban", _IBAN, _iban_length, "IBAN"),
    ("card", _CARD, _whole(_card_ok), "CARD"),
    ("ip", _IPV4, _whole(None), "IP"),
    ("ip", _IPV6, _whole(_ipv6_ok), "IP"),
    ("phone", _PHONE, _whole(_phone_ok), "PHONE"),
]

_PLACEHOLDER = re.compile(r"\[(EMAIL|IBAN|CARD|IP|PHONE)_(\d+)\]")


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
        for kind, pattern, keep, label in _PATTERNS:
            if kind not in self.kinds:
                continue
            for m in pattern.finditer(text):
                length = keep(m.group(0))
                if not length:
                    continue
                start = m.start()
                end = start + length
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
