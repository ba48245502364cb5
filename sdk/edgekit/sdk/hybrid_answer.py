"""What the hybrid client returns: the text, where it came from, why, and what it cost."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Any

from edgekit.runtime.tools import ToolCall

__all__ = ["Route", "Cost", "Answer", "HybridEvent", "EventKind"]


class Route(str, Enum):
    LOCAL = "local"  # the local answer, and the policy accepted it
    CLOUD = "cloud"  # the cloud's answer
    LOCAL_FALLBACK = "local_fallback"  # the policy wanted the cloud but got none (error, budget, breaker, no cloud)

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Cost:
    """Tokens and wall time on each side (ms). Cloud tokens come from the server's usage, else estimated."""

    local_prompt_tokens: int = 0
    local_completion_tokens: int = 0
    local_ms: float = 0.0  # includes local_probe_ms
    local_probe_ms: float = 0.0  # the prefill a hidden-state probe ran before deciding (policy version 2)
    local_early_tokens: int = 0  # tokens generated before an early stop escalated (in local_completion_tokens)
    cloud_prompt_tokens: int = 0
    cloud_completion_tokens: int = 0
    cloud_ms: float = 0.0
    cloud_attempts: int = 0
    cloud_tokens_estimated: bool = False
    total_ms: float = 0.0


@dataclass(frozen=True)
class Answer:
    """One answer of ``HybridClient.ask`` (or the final event of ``stream``).

    ``route`` says where the text came from; ``rule`` the rule that fired (e.g.
    ``router:model:arithmetic``, ``post:model:fact``, ``post:accept``,
    ``privacy:local-only``); ``signals`` the values it read and ``probability`` /
    ``threshold`` the model's numbers; ``error`` why a wanted escalation fell
    back (cloud error, budget, breaker), never containing the API key.
    """

    text: str
    route: Route
    rule: str
    family: str
    stage: str
    signals: dict[str, float] = field(default_factory=dict)
    probability: float | None = None
    threshold: float | None = None
    cost: Cost = field(default_factory=Cost)
    error: str | None = None
    # "timeout", "deadline", "http", "auth", "protocol", "circuit_open", "budget", "no_cloud", "config"
    error_kind: str | None = None
    local_text: str | None = None
    local_finish_reason: str | None = None
    redacted: dict[str, int] = field(default_factory=dict)  # kinds -> count replaced before the cloud saw the prompt
    # a streamed cloud answer that was cut after this text had been shown; ``text`` is the local answer instead
    cloud_partial_text: str | None = None
    # with tools: the calls of the answer (local ones from the call grammar, cloud ones checked against the tools'
    # schemas; a cloud call that fails its schema is never here: the answer falls back to the local one)
    tool_calls: tuple[ToolCall, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["route"] = self.route.value
        return data


class EventKind(str, Enum):
    TOKEN = "token"  # text from the current source
    RESTART = "restart"  # the text shown so far is superseded (escalation, or the cloud failed mid-stream)
    FINAL = "final"  # carries the Answer

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class HybridEvent:
    kind: EventKind
    text: str = ""
    source: str = "local"  # "local" or "cloud"
    note: str = ""  # for RESTART: why
    # for RESTART: whose shown text is now superseded ("local" when escalating, "cloud" when a cut or failed
    # cloud stream is replaced by the local answer), "" when nothing had been shown
    replaces: str = ""
    # for RESTART: the superseded text itself, as its TOKEN events showed it (the whole local answer, or the
    # cloud's partial one); "" exactly when ``replaces`` is ""
    replaced_text: str = ""
    answer: Answer | None = None
