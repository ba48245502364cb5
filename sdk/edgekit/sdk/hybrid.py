"""HybridClient: answer on the device, escalate to a cloud LLM only when the policy says so.

    client = HybridClient(local="bundles/smollm2",
                          cloud=CloudConfig("https://api.openai.com/v1", "gpt-4o-mini", api_key_env="OPENAI_API_KEY"))
    answer = client.ask([{"role": "user", "content": "What is 37 * 89?"}])
    answer.text, answer.route, answer.rule, answer.signals, answer.cost

Flow: classify the question and compute pre-generation signals → the router
may send it straight to the cloud → else generate locally (context_policy
"signal") → post-generation signals → the policy may escalate. Escalation
first passes the budget caps and the circuit breaker, redacts personal data
(when enabled), calls the cloud, restores placeholders. Whatever the cloud
does (timeout, refusal, bad JSON, cut stream, wrong key), the user gets the
local answer with route ``local_fallback`` and the error.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from edgekit.runtime.errors import (
    BudgetExceededError,
    CircuitOpenError,
    CloudHTTPError,
    CloudProtocolError,
    CloudTimeoutError,
    ConfigError,
    EscalationError,
)

from .answer import Answer, Cost, EventKind, HybridEvent, Route
from .cloud import BreakerState, Budget, BudgetCaps, CloudClient, CloudConfig, CloudReply
from .policy import Policy, post_signals, pre_signals, question_of
from .policy.base import base_policy
from .policy.policy import Decision, default_policy_path
from .redaction import KINDS, Redaction, Redactor, StreamRestorer

__all__ = ["HybridClient"]

log = logging.getLogger("edgekit.sdk.hybrid")

Messages = Sequence[Mapping[str, Any]]

_ERROR_KINDS = (
    (CloudTimeoutError, "timeout"),
    (CloudHTTPError, "http"),
    (CloudProtocolError, "protocol"),
    (CircuitOpenError, "circuit_open"),
    (BudgetExceededError, "budget"),
)


class _NoCloud(EscalationError):
    """The policy escalated but no cloud is configured (the answer says so; never raised to the user)."""


def _error_kind(exc: Exception | None) -> str:
    if isinstance(exc, _NoCloud):
        return "no_cloud"
    for cls, name in _ERROR_KINDS:
        if isinstance(exc, cls):
            if name == "http" and getattr(exc, "status", None) in (401, 403):
                return "auth"
            return name
    return "config" if isinstance(exc, ConfigError) else "escalation"


def _load_local(local: Any) -> Any:
    if isinstance(local, (str, Path)):
        from edgekit.runtime import load

        return load(local)
    if not hasattr(local, "generate") or not hasattr(local, "stream"):
        raise ConfigError(f"local={local!r} is neither a bundle path nor a LocalModel (edgekit.runtime.load(path))")
    return local


class HybridClient:
    """Local first, cloud when the policy says so. Thread-safe for concurrent ``ask`` calls."""

    def __init__(
        self,
        local: Any,
        cloud: CloudConfig | None = None,
        policy: Policy | str | Path | None = None,
        *,
        privacy: str | None = None,
        redact: bool | Iterable[str] = False,
        budget: BudgetCaps | None = None,
        generation: Mapping[str, Any] | None = None,
        transport: Any = None,
        cloud_client: CloudClient | None = None,
    ):
        self.local = _load_local(local)
        if policy is None:
            policy = Policy.default() if default_policy_path().is_file() else base_policy()
        elif isinstance(policy, (str, Path)):
            policy = Policy.load(policy)
        if privacy is not None:
            policy = policy.with_privacy(privacy)
        self.policy = policy
        self.cloud_config = cloud
        if cloud is not None and cloud_client is None:
            cloud.api_key()  # a missing key is a setup error: say so now, not at the first escalation
            cloud_client = CloudClient(cloud, transport=transport)
        self.cloud = cloud_client
        if redact is True:
            self.redactor: Redactor | None = Redactor(KINDS)
        elif redact:
            self.redactor = Redactor(redact)  # type: ignore[arg-type]
        else:
            self.redactor = None
        self.budget = Budget(budget)
        self.generation = {"max_new_tokens": 128, **dict(policy.generation), **dict(generation or {})}

    def close(self) -> None:
        if self.cloud is not None:
            self.cloud.close()

    def __enter__(self) -> HybridClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- helpers ----------------------------------------------------------------------
    @staticmethod
    def _messages(messages: Messages | str) -> list[dict[str, Any]]:
        if isinstance(messages, str):
            return [{"role": "user", "content": messages}]
        return [dict(m) for m in messages]

    def _local_options(self, options: Mapping[str, Any]) -> dict[str, Any]:
        return {**self.generation, **options, "context_policy": "signal"}

    def _prepare_escalation(self, messages: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], Redaction]:
        """Budget and breaker gates, then redaction. Raises EscalationError (or ConfigError without a cloud)."""
        if self.cloud is None:
            raise _NoCloud("no cloud configured (pass cloud=CloudConfig(...) or --cloud-url)")
        if self.cloud.breaker.state is BreakerState.OPEN:
            self.cloud.breaker.before_call()  # raises CircuitOpenError; checked before the budget is charged
        self.budget.reserve()
        if self.redactor is None:
            return messages, Redaction()
        return self.redactor.redact_messages(messages)

    def _answer(self, text: str, route: Route, decision: Decision, cost: Cost, **extra: Any) -> Answer:
        return Answer(
            text=text,
            route=route,
            rule=decision.rule,
            family=decision.family,
            stage=decision.stage,
            signals=dict(decision.signals),
            probability=decision.probability,
            threshold=decision.threshold,
            cost=cost,
            **extra,
        )

    @staticmethod
    def _cost(result: Any, reply: CloudReply | None, cloud_ms: float, started: float) -> Cost:
        return Cost(
            local_prompt_tokens=result.prompt_tokens if result is not None else 0,
            local_completion_tokens=len(result.token_ids) if result is not None else 0,
            local_ms=result.timings.total_ms if result is not None else 0.0,
            cloud_prompt_tokens=reply.prompt_tokens if reply else 0,
            cloud_completion_tokens=reply.completion_tokens if reply else 0,
            cloud_ms=cloud_ms,
            cloud_attempts=reply.attempts if reply else 0,
            cloud_tokens_estimated=reply.tokens_estimated if reply else False,
            total_ms=(time.perf_counter() - started) * 1e3,
        )

    def _decide_pre(self, messages: list[dict[str, Any]]) -> tuple[str, dict[str, float], Decision]:
        question = question_of(messages)
        pre = pre_signals(question)
        return question, pre, self.policy.route(question, pre)

    def _decide_post(self, family: str, question: str, pre: Mapping[str, float], result: Any) -> Decision:
        signals = {**pre, **post_signals(result, self.policy.answer_kind(family), question)}
        return self.policy.decide(family, signals)

    # -- ask ---------------------------------------------------------------------------
    def ask(self, messages: Messages | str, **options: Any) -> Answer:
        """Answer ``messages`` (a list of {role, content} or a plain question). ``options`` go to the local model."""
        started = time.perf_counter()
        messages = self._messages(messages)
        question, pre, decision = self._decide_pre(messages)
        if decision.escalate:
            reply, error, redaction, cloud_ms = self._call_cloud(messages)
            if reply is not None:
                return self._answer(
                    redaction.restore(reply.text),
                    Route.CLOUD,
                    decision,
                    self._cost(None, reply, cloud_ms, started),
                    redacted=redaction.kinds(),
                )
            result = self.local.generate(messages, **self._local_options(options))
            return self._answer(
                result.text,
                Route.LOCAL_FALLBACK,
                decision,
                self._cost(result, None, cloud_ms, started),
                error=str(error),
                error_kind=_error_kind(error),
                local_text=result.text,
                local_finish_reason=str(result.finish_reason),
            )
        result = self.local.generate(messages, **self._local_options(options))
        post = self._decide_post(decision.family, question, pre, result)
        if not post.escalate:
            return self._answer(
                result.text,
                Route.LOCAL,
                post,
                self._cost(result, None, 0.0, started),
                local_text=result.text,
                local_finish_reason=str(result.finish_reason),
            )
        reply, error, redaction, cloud_ms = self._call_cloud(messages)
        if reply is not None:
            return self._answer(
                redaction.restore(reply.text),
                Route.CLOUD,
                post,
                self._cost(result, reply, cloud_ms, started),
                local_text=result.text,
                local_finish_reason=str(result.finish_reason),
                redacted=redaction.kinds(),
            )
        return self._answer(
            result.text,
            Route.LOCAL_FALLBACK,
            post,
            self._cost(result, None, cloud_ms, started),
            error=str(error),
            error_kind=_error_kind(error),
            local_text=result.text,
            local_finish_reason=str(result.finish_reason),
        )

    def _call_cloud(
        self, messages: list[dict[str, Any]]
    ) -> tuple[CloudReply | None, Exception | None, Redaction, float]:
        t0 = time.perf_counter()
        redaction = Redaction()
        try:
            outgoing, redaction = self._prepare_escalation(messages)
            reply = self.cloud.complete(outgoing)  # type: ignore[union-attr]
        except EscalationError as exc:
            log.warning("escalation fell back to the local answer: %s", exc)
            return None, exc, redaction, (time.perf_counter() - t0) * 1e3
        self.budget.record_tokens(reply.total_tokens)
        return reply, None, redaction, (time.perf_counter() - t0) * 1e3

    # -- stream ------------------------------------------------------------------------
    def stream(self, messages: Messages | str, **options: Any) -> Iterator[HybridEvent]:
        """Events: TOKEN pieces (with their source), RESTART when shown text is superseded, FINAL with the Answer.

        Local tokens stream as they are generated; if the policy then escalates, a
        RESTART event ("escalating to the cloud: <rule>") precedes the cloud's
        tokens. If the cloud fails mid-stream, a RESTART precedes the local answer
        again (route ``local_fallback``).
        """
        started = time.perf_counter()
        messages = self._messages(messages)
        question, pre, decision = self._decide_pre(messages)
        result = None
        if not decision.escalate:
            for piece in self.local.stream(messages, **self._local_options(options)):
                if piece.text:
                    yield HybridEvent(EventKind.TOKEN, piece.text, "local")
                if piece.result is not None:
                    result = piece.result
            decision = self._decide_post(decision.family, question, pre, result)
            if not decision.escalate:
                yield HybridEvent(
                    EventKind.FINAL,
                    answer=self._answer(
                        result.text,
                        Route.LOCAL,
                        decision,
                        self._cost(result, None, 0.0, started),
                        local_text=result.text,
                        local_finish_reason=str(result.finish_reason),
                    ),
                )
                return
            yield HybridEvent(EventKind.RESTART, source="cloud", note=f"escalating to the cloud ({decision.rule})")
        t0 = time.perf_counter()
        error: Exception | None = None
        reply = None
        shown = False
        redaction = Redaction()
        try:
            outgoing, redaction = self._prepare_escalation(messages)
            restorer = StreamRestorer(redaction)
            for chunk in self.cloud.stream(outgoing):  # type: ignore[union-attr]
                if chunk.reply is not None:
                    reply = chunk.reply
                    tail = restorer.flush()
                    if tail:
                        yield HybridEvent(EventKind.TOKEN, tail, "cloud")
                    continue
                text = restorer.feed(chunk.text)
                if text:
                    shown = True
                    yield HybridEvent(EventKind.TOKEN, text, "cloud")
        except EscalationError as exc:
            error = exc
            log.warning("streamed escalation fell back to the local answer: %s", exc)
        cloud_ms = (time.perf_counter() - t0) * 1e3
        if reply is not None:
            self.budget.record_tokens(reply.total_tokens)
            yield HybridEvent(
                EventKind.FINAL,
                source="cloud",
                answer=self._answer(
                    redaction.restore(reply.text),
                    Route.CLOUD,
                    decision,
                    self._cost(result, reply, cloud_ms, started),
                    local_text=result.text if result else None,
                    local_finish_reason=str(result.finish_reason) if result else None,
                    redacted=redaction.kinds(),
                ),
            )
            return
        # fallback: the local answer (generated now if the router skipped it)
        if shown or result is not None:
            yield HybridEvent(
                EventKind.RESTART, source="local", note=f"cloud failed ({_error_kind(error)}): answering locally"
            )
        if result is None:
            for piece in self.local.stream(messages, **self._local_options(options)):
                if piece.text:
                    yield HybridEvent(EventKind.TOKEN, piece.text, "local")
                if piece.result is not None:
                    result = piece.result
        else:
            yield HybridEvent(EventKind.TOKEN, result.text, "local")
        yield HybridEvent(
            EventKind.FINAL,
            answer=self._answer(
                result.text,
                Route.LOCAL_FALLBACK,
                decision,
                self._cost(result, None, cloud_ms, started),
                error=str(error),
                error_kind=_error_kind(error),
                local_text=result.text,
                local_finish_reason=str(result.finish_reason),
            ),
        )
