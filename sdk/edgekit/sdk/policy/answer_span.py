"""Where the answer is in a generated text, by expected kind.

Used twice: the policy's post-generation signals need the answer *span* (its
tokens' logprobs are the strongest single signal measured, AUROC 0.80 on the
default model), and the labelled set's checkers need the answer *value*.
The rules are deliberately simple and fully written down, so the Java and web
demos can reproduce them:

- region: the text up to the first blank line, at most 400 characters;
- first sentence: the region up to the first ``.``/``!``/``?``/newline that is
  followed by whitespace or the end (so ``2.5`` stays one number);
- number: if the region has ``=``, the first number after the first ``=`` that
  is followed by one; else, in the first sentence, the first number after the
  first marker (`` is ``, `` are ``, `` equals ``, `` was ``, `` be ``, ``:``)
  that is followed by one; else the last number of the first sentence; else
  the first number of the region. Numbers may carry a sign, thousands commas
  and a decimal part;
- entity: the first sentence after its first marker, trimmed of punctuation
  (or the whole first sentence without a marker);
- yesno: the first word "yes" or "no" of the region.

For the policy's signals (not for checking), ``exclude`` holds the numbers of
the question: a candidate number equal to one of them is skipped, since an
echoed operand ("To add 56 and 94, ...") is not an answer.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["AnswerSpan", "ANSWER_KINDS", "find_answer", "parse_number", "question_numbers", "region", "first_sentence"]

_NUMBER = re.compile(r"(?<![\w.])-?\d{1,3}(?:,\d{3})+(?:\.\d+)?(?!\d)|(?<![\w.])-?\d+(?:\.\d+)?(?!\d)")
_SENTENCE_END = re.compile(r"[.!?\n](?=\s|$)")
_MARKERS = (" is ", " are ", " equals ", " was ", " be ", ":")
_YESNO = re.compile(r"\b(yes|no)\b", re.IGNORECASE)


@dataclass(frozen=True)
class AnswerSpan:
    start: int  # character offsets into the generated text
    end: int
    value: str


def region(text: str) -> str:
    cut = text.find("\n\n")
    out = text if cut == -1 else text[:cut]
    return out[:400]


def first_sentence(text: str) -> str:
    r = region(text)
    m = _SENTENCE_END.search(r)
    return r if m is None else r[: m.start()]


def parse_number(value: str) -> float | None:
    try:
        return float(value.replace(",", ""))
    except ValueError:
        return None


def _numbers(
    text: str, start: int = 0, end: int | None = None, exclude: frozenset[float] = frozenset()
) -> list[re.Match[str]]:
    end = len(text) if end is None else end
    return [m for m in _NUMBER.finditer(text, start, end) if parse_number(m.group(0)) not in exclude]


def _find_number(text: str, exclude: frozenset[float] = frozenset()) -> AnswerSpan | None:
    r = region(text)
    if "=" in r:
        pos = r.find("=")
        while pos != -1:
            after = _numbers(r, pos + 1, exclude=exclude)
            if after:
                m = after[0]
                return AnswerSpan(m.start(), m.end(), m.group(0))
            pos = r.find("=", pos + 1)
    sentence = first_sentence(text)
    for marker in _MARKERS:
        pos = sentence.find(marker)
        if pos != -1:
            after = _numbers(sentence, pos + len(marker), exclude=exclude)
            if after:
                m = after[0]
                return AnswerSpan(m.start(), m.end(), m.group(0))
    in_sentence = _numbers(sentence, exclude=exclude)
    if in_sentence:
        m = in_sentence[-1]
        return AnswerSpan(m.start(), m.end(), m.group(0))
    in_region = _numbers(r, exclude=exclude)
    if in_region:
        m = in_region[0]
        return AnswerSpan(m.start(), m.end(), m.group(0))
    return None


def _find_entity(text: str) -> AnswerSpan | None:
    sentence = first_sentence(text)
    start = 0
    for marker in _MARKERS:
        pos = sentence.find(marker)
        if pos != -1:
            start = pos + len(marker)
            break
    end = len(sentence)
    while start < end and not sentence[start].isalnum():
        start += 1
    while end > start and not sentence[end - 1].isalnum():
        end -= 1
    if end <= start or not any(ch.isalpha() for ch in sentence[start:end]):
        return None
    return AnswerSpan(start, end, sentence[start:end])


def _find_yesno(text: str) -> AnswerSpan | None:
    m = _YESNO.search(region(text))
    return None if m is None else AnswerSpan(m.start(), m.end(), m.group(1).lower())


# Callable[...]: every finder takes the text; the number finder also takes the numbers to exclude.
ANSWER_KINDS: dict[str, Callable[..., AnswerSpan | None]] = {
    "number": _find_number,
    "entity": _find_entity,
    "yesno": _find_yesno,
}


def question_numbers(question: str) -> frozenset[float]:
    return frozenset(v for v in (parse_number(m.group(0)) for m in _NUMBER.finditer(question)) if v is not None)


def find_answer(kind: str, text: str, exclude: frozenset[float] = frozenset()) -> AnswerSpan | None:
    try:
        finder = ANSWER_KINDS[kind]
    except KeyError:
        from edgekit.runtime.errors import UnknownNameError

        raise UnknownNameError("answer kind", kind, ANSWER_KINDS) from None
    return finder(text, exclude) if kind == "number" else finder(text)
