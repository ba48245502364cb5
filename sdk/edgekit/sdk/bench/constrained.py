"""Constrained decoding in the bench: the grammars an edgekit row decodes under, by name.

A constrained row decodes the same prompt twice per repeat in one worker process, without and with the
grammar, interleaved (worker.py), so its overhead is a same-process ratio rather than two processes' noise
(separate runs of one bundle differ by up to ±10% on a shared 2-core VM). Each grammar must never complete
within the decoded tokens, so both halves time the same number of tokens.
"""

from __future__ import annotations

from dataclasses import dataclass

from edgekit.runtime.constraints import Constraint
from edgekit.runtime.registry import Registry

__all__ = ["BenchConstraint", "BENCH_CONSTRAINTS", "DEFAULT_CONSTRAINTS", "OVERHEAD_LIMIT"]

# The most decode speed a constraint may cost on the default model: 10%. A mask walks the tokenizer's trie
# (about 2 nodes per token, ~13 cycles a node: ~1.5 ms for a 128k vocabulary at 2 GHz, llguidance's
# docs/optimizations.md), so SmolLM2's 49k vocabulary costs ~0.6 ms against a 13-18 ms decode step here.
OVERHEAD_LIMIT = 0.10


@dataclass(frozen=True)
class BenchConstraint:
    label: str  # printed in the row's setting
    summary: str
    grammar: str  # Lark, as Constraint.lark takes it

    def constraint(self) -> Constraint:
        return Constraint.lark(self.grammar)


BENCH_CONSTRAINTS: Registry[BenchConstraint] = Registry("bench constraint")

# The body of a JSON answer: after the forced key, every token is masked to what a JSON string may hold (no
# quote, backslash or control character), so the grammar never completes and the mask is computed each token.
BENCH_CONSTRAINTS.add(
    "json-text",
    BenchConstraint(
        "constrained: JSON string value",
        'a JSON object\'s free-text string value, {"answer": "...", never closed',
        'start: "{\\"answer\\": \\"" TEXT\nTEXT: /[^"\\\\\\x00-\\x1f]+/\n',
    ),
)

# Tool-call-shaped objects (an enum name, a bounded integer, a short string) in a list that never closes: the
# mask switches between forced keys, the enum, digits under a bound and string bodies, as a tool call's does.
_CALL_SCHEMA = (
    '{"type": "object", "properties": {"name": {"enum": ["set_timer", "set_alarm", "send_message"]}, '
    '"minutes": {"type": "integer", "minimum": 1, "maximum": 1440}, "label": {"type": "string", "maxLength": 24}}, '
    '"required": ["name", "minutes", "label"], "additionalProperties": false}'
)
BENCH_CONSTRAINTS.add(
    "json-calls",
    BenchConstraint(
        "constrained: tool-call objects",
        "a list of tool-call-shaped JSON objects (enum, bounded integer, short string), never closed",
        f'start: "[" call ("," call)*\ncall: %json {_CALL_SCHEMA}\n',
    ),
)

DEFAULT_CONSTRAINTS = ("json-text", "json-calls")
