"""Keep the API key out of every error and log line, even when the cloud echoes it back altered.

Clouds quote keys in error bodies in more shapes than the exact value: OpenAI's
401 message shows a masked fragment (``sk-abc***...xyz``), proxies lowercase
headers they log, gateways cut keys to a prefix. Exact matching misses all of
these, so the scrubber removes, case-insensitively:

- the whole key, and
- any run of at least ``MIN_FRAGMENT`` characters that also occurs in the key,

ignoring whitespace and invisible format characters (zero-width space, soft hyphen: Unicode category Cf)
inside the text: a key wrapped onto two lines, padded, or printed in groups of four
(``sk-p roj- Abc1 ...``, the way some dashboards and log formatters show secrets) is the key all the same,
and none of its space-separated groups is long enough to be caught as a fragment on its own.

Eight characters (48 bits of a base62 key) is short enough to catch the
fragments a masked echo shows and long enough that ordinary words in an error
message do not match by chance (a key is random; only its fixed prefix, such
as ``sk-proj-``, can collide, and scrubbing that costs nothing).
"""

from __future__ import annotations

import unicodedata

__all__ = ["KeyScrubber", "MIN_FRAGMENT", "PLACEHOLDER"]

MIN_FRAGMENT = 8
PLACEHOLDER = "[API_KEY]"


def _fold(text: str) -> str:
    """Lowercase character by character, keeping the length (so indices map back to the original text)."""
    return "".join(low if len(low := ch.lower()) == 1 else ch for ch in text)


def _ignored(ch: str) -> bool:
    """Characters that can sit inside an echoed key without changing it (see the module doc)."""
    return ch.isspace() or (ch > "\x7f" and unicodedata.category(ch) == "Cf")


class KeyScrubber:
    """``scrub(text)`` replaces the key and its fragments (see the module doc) by ``[API_KEY]``."""

    def __init__(self, key: str | None, min_fragment: int = MIN_FRAGMENT):
        self.key = _fold("".join(ch for ch in key or "" if not _ignored(ch)))
        # a key shorter than a fragment is only matched whole
        self.n = min(min_fragment, len(self.key))
        # every window of n characters of the key: a text window found in this set is part of a fragment
        self._grams = {self.key[i : i + self.n] for i in range(len(self.key) - self.n + 1)} if self.key else set()

    def scrub(self, text: str) -> str:
        if not self._grams or not text:
            return text
        # match on the text without ignored characters; ``where`` maps each kept character back to its index
        where = [i for i, ch in enumerate(text) if not _ignored(ch)]
        folded = _fold("".join(text[i] for i in where))
        covered = bytearray(len(text))
        for j in range(len(folded) - self.n + 1):
            if folded[j : j + self.n] in self._grams:
                first, last = where[j], where[j + self.n - 1]
                covered[first : last + 1] = b"\x01" * (last + 1 - first)
        if not any(covered):
            return text
        out: list[str] = []
        i = 0
        while i < len(text):
            if covered[i]:
                while i < len(text) and covered[i]:
                    i += 1
                out.append(PLACEHOLDER)
            else:
                out.append(text[i])
                i += 1
        return "".join(out)
