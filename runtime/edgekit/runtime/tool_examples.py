"""Worked examples of tool calls, chosen per request: the few-shot turns a small model copies.

A 135M model told about tools in the system turn rarely calls them right. Shown a few earlier requests that were
answered with the right call, it copies the pattern: on the default model and the shipped command set, exact
match of name and arguments under ``tool_choice="required"`` went from 0 of 30 held-out requests to 10 of 30 with
one fixed example per tool and to 18 of 30 with the four examples most similar to the request. Choosing examples
by similarity to the input is the kNN selection of Liu et al. 2022, "What Makes Good In-Context Examples for
GPT-3?"; the most similar one goes last, nearest the question, since a model leans on the examples it saw last
(Zhao et al. 2021, "Calibrate Before Use", recency bias).

Similarity is the cosine of character-trigram TF-IDF vectors (sublinear term frequency, smoothed idf over the
pool): no model or dependency, robust to typos and inflections, and cheap for hundreds of examples. An example
below ``min_similarity`` is not shown: a request unlike every example (a chat question, a request no tool serves)
gets none, and the model stays free to answer in words. On the command set's held-out split (pool: the train
split's 219 calls) a chat question's best match scored at most 0.25 and a no-tool request's 0.30, while calls
scored 0.10-0.90 (median 0.47). Shown regardless of similarity, examples drew calls for 9 of 13 chat questions and
all 13 no-tool requests under ``tool_choice="auto"``; with the default threshold of 0.3, none of those 26 got a call.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .errors import ToolError

__all__ = ["ToolExample", "ToolExamples", "example_turns"]

_GRAM = 3


def _grams(text: str) -> Counter[str]:
    padded = f" {' '.join(text.lower().split())} "
    return Counter(padded[i : i + _GRAM] for i in range(max(0, len(padded) - _GRAM + 1)))


@dataclass(frozen=True)
class ToolExample:
    """One request and the call that answers it (``arguments`` as an object)."""

    utterance: str
    name: str
    arguments: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def parse(cls, value: Any, where: str) -> ToolExample:
        """From ``{"utterance": ..., "call": {"name": ..., "arguments": {...}}}`` (the command set's
        ``{"utterance", "expected"}`` rows are taken too)."""
        if isinstance(value, ToolExample):
            return value
        if not isinstance(value, Mapping):
            raise ToolError(where, value, 'use {"utterance": "...", "call": {"name": "...", "arguments": {...}}}')
        utterance = value.get("utterance")
        call = value.get("call", value.get("expected"))
        if not isinstance(utterance, str) or not utterance.strip():
            raise ToolError(f"{where}.utterance", utterance, "use the request as a non-empty string")
        if not isinstance(call, Mapping) or not isinstance(call.get("name"), str) or not call["name"]:
            raise ToolError(f"{where}.call", call, 'use {"name": "<tool>", "arguments": {...}}')
        arguments = call.get("arguments", {})
        if not isinstance(arguments, Mapping):
            raise ToolError(f"{where}.call.arguments", arguments, "use a JSON object")
        return cls(utterance, call["name"], dict(arguments))


class ToolExamples:
    """A pool of examples; ``select(request)`` gives the ``k`` most similar at or above ``min_similarity``,
    least similar first."""

    def __init__(self, examples: Sequence[Any], k: int = 4, min_similarity: float = 0.3):
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ToolError("tool_examples.k", k, "use a positive integer")
        if not isinstance(min_similarity, (int, float)) or not 0.0 <= min_similarity <= 1.0:
            raise ToolError("tool_examples.min_similarity", min_similarity, "use a number from 0 to 1")
        self.examples = tuple(ToolExample.parse(e, f"tool_examples[{i}]") for i, e in enumerate(examples))
        self.k, self.min_similarity = k, float(min_similarity)
        grams = [_grams(e.utterance) for e in self.examples]
        df = Counter(g for c in grams for g in c)
        n = len(self.examples)
        # scikit-learn's smoothed idf (log((n+1)/(df+1)) + 1): a pool of one example still has weights
        self._idf = {g: math.log((n + 1) / (d + 1)) + 1.0 for g, d in df.items()}
        self._unseen_idf = math.log(n + 1) + 1.0
        self._vectors = [self._vector(c) for c in grams]
        self._checked: dict[Any, tuple[ToolExample | None, ...]] = {}

    @classmethod
    def of(cls, value: Any) -> ToolExamples | None:
        """``value`` as a pool: a pool as it is, a list of rows as a pool with the defaults, None as None."""
        if value is None or isinstance(value, ToolExamples):
            return value
        if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Sequence):
            raise ToolError("tool_examples", value, "use a ToolExamples pool or a list of examples")
        return cls(value)

    def without(self, index: int) -> ToolExamples:
        """The pool less its example ``index`` (leave-one-out), keeping the checks already made for the others."""
        rest = ToolExamples([e for i, e in enumerate(self.examples) if i != index], self.k, self.min_similarity)
        rest._checked = {key: (*done[:index], *done[index + 1 :]) for key, done in self._checked.items()}
        return rest

    def checked(self, tools: Sequence[Any], check: Callable[[ToolExample, str], ToolExample]) -> tuple[Any, ...]:
        """Every example of an offered tool in its checked, canonical form (None for the others), computed once per
        tool set: ``check`` raises ``ToolError`` naming ``where`` for an example the tool's schema refuses, so a
        bad example fails the first request, whatever it asks."""
        key = tuple((t.name, json.dumps(t.schema(), sort_keys=True)) for t in tools)
        if key not in self._checked:  # a race computes it twice; both results are equal
            names = {t.name for t in tools}
            self._checked[key] = tuple(
                check(e, f"tool_examples[{i}].call") if e.name in names else None for i, e in enumerate(self.examples)
            )
        return self._checked[key]

    def _vector(self, counts: Counter[str]) -> dict[str, float]:
        weights = {g: (1.0 + math.log(c)) * self._idf.get(g, self._unseen_idf) for g, c in counts.items()}
        norm = math.sqrt(sum(w * w for w in weights.values())) or 1.0
        return {g: w / norm for g, w in weights.items()}

    def similarities(self, request: str) -> list[float]:
        query = self._vector(_grams(request))
        return [sum(w * vector.get(g, 0.0) for g, w in query.items()) for vector in self._vectors]

    def select(
        self, request: str, tool_names: Sequence[str] | None = None, checked: Sequence[Any] | None = None
    ) -> list[ToolExample]:
        """The examples to show for ``request``; with ``tool_names``, only examples of those tools; with
        ``checked`` (from ``checked``), only checked ones, in their canonical form."""
        allowed = None if tool_names is None else set(tool_names)
        pool = self.examples if checked is None else checked
        scored = [
            (s, i)
            for i, s in enumerate(self.similarities(request))
            if s >= self.min_similarity
            and pool[i] is not None
            and (allowed is None or self.examples[i].name in allowed)
        ]
        best = sorted(scored, key=lambda pair: (-pair[0], pair[1]))[: self.k]
        return [pool[i] for _, i in reversed(best)]


def example_turns(examples: Sequence[ToolExample]) -> list[dict[str, Any]]:
    """Each example as a user turn and an assistant turn holding its call (the shape tool_prompt.py renders)."""
    turns: list[dict[str, Any]] = []
    for i, example in enumerate(examples):
        arguments = json.dumps(dict(example.arguments), ensure_ascii=False)
        turns.append({"role": "user", "content": example.utterance})
        turns.append(
            {
                "role": "assistant",
                "content": "",
                "tool_calls": [
                    {
                        "id": f"example_{i}",
                        "type": "function",
                        "function": {"name": example.name, "arguments": arguments},
                    }
                ],
            }
        )
    return turns
