"""Calibration records read back: signals recomputed from the tokens a record keeps.

``edgekit eval escalation --records`` stores each local answer's tokens with their logprob and entropy, so a policy
whose families differ from the one the records were collected with (a new family, a broader pattern) can be fitted
and measured on them without running the model again: the family, the question's signals and the answer's signals
(whose answer span depends on the family's answer kind) are derived anew from the stored question and tokens.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from edgekit.runtime.confidence import summarize
from edgekit.runtime.errors import ConfigError

from .policy import Policy
from .signals import post_signals, pre_signals

__all__ = ["StoredToken", "StoredResult", "stored_result", "resignal"]


@dataclass(frozen=True)
class StoredToken:
    text: str
    logprob: float
    entropy: float


@dataclass(frozen=True)
class StoredResult:
    """The parts of a runtime ``Result`` that ``post_signals`` reads, rebuilt from a record."""

    text: str
    tokens: tuple[StoredToken, ...]
    finish_reason: str
    context_overflow: bool

    @property
    def confidence(self):
        return summarize(self.tokens)  # type: ignore[arg-type]  # reads .logprob and .entropy only


def stored_result(record: Mapping[str, Any]) -> StoredResult:
    try:
        tokens = tuple(StoredToken(str(t), float(lp), float(ent)) for t, lp, ent in record["tokens"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(
            f"record {record.get('id')!r} has no per-token numbers ({type(exc).__name__}: {exc}); re-run "
            "`edgekit eval escalation --records` with this edgekit"
        ) from None
    overflow = float((record.get("signals") or {}).get("context_overflow", 0.0)) >= 1.0
    return StoredResult(str(record.get("text", "")), tokens, str(record.get("finish_reason", "")), overflow)


def resignal(records: Sequence[Mapping[str, Any]], policy: Policy) -> list[dict[str, Any]]:
    """The records with ``family`` and ``signals`` as ``policy`` would compute them (other fields kept)."""
    out = []
    for record in records:
        question = str(record["question"])
        family = policy.classify(question)
        signals = {**pre_signals(question), **post_signals(stored_result(record), policy.answer_kind(family), question)}
        extra = {k: v for k, v in (record.get("signals") or {}).items() if k not in signals}  # e.g. "probe"
        out.append({**record, "family": family, "signals": {**signals, **extra}})
    return out
