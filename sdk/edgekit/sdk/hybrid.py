"""HybridClient: answer on the device, escalate to a cloud LLM only when the policy says so.

    client = HybridClient(local="bundles/smollm2",
                          cloud=CloudConfig("https://api.openai.com/v1", "gpt-4o-mini", api_key_env="OPENAI_API_KEY"))
    answer = client.ask([{"role": "user", "content": "What is 37 * 89?"}])
    answer.text, answer.route, answer.rule, answer.signals, answer.cost

Flow: classify the question and compute pre-generation signals → the router
may send it straight to the cloud → else generate locally (context_policy
"signal"), where the policy's early model may stop after each of the first
tokens and escalate → post-generation signals → the policy may escalate. The
post stage's thresholds are those of the operating point asked for
(``target_accuracy`` or ``max_escalation_rate``, per client or per call), else
the policy file's own. Escalation
first passes the budget caps and the circuit breaker, redacts personal data
(on by default: ``redact=False`` opts out), calls the cloud within its
deadline (``cloud_timeout``), restores placeholders. Whatever the cloud does
(timeout, deadline, refusal, bad JSON, cut stream, wrong key), the user gets
the local answer with route ``local_fallback`` and the error.

``ask`` and ``stream`` run the same flow (``_flow``); ``ask`` keeps only its
final answer, so a routing or fallback rule is written once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from edgekit.runtime.constraints import ConstraintError
from edgekit.runtime.errors import (
    BudgetExceededError,
    CircuitOpenError,
    CloudHTTPError,
    CloudProtocolError,
    CloudTimeoutError,
    ConfigError,
    EscalationError,
    ToolError,
)
from edgekit.runtime.tool_check import checked_call
from edgekit.runtime.tools import Tool, ToolCall, ToolChoice, ToolChoiceMode, parse_tools

from .cloud import BreakerState, Budget, BudgetCaps, CloudChunk, CloudClient, CloudConfig, CloudReply
from .cloud.deadline import CloudDeadlineError
from .hybrid_answer import Answer, Cost, EventKind, HybridEvent, Route
from .policy import Policy, post_signals, pre_signals, question_of
from .policy.answer_probe import probe_state
from .policy.base import base_policy
from .policy.early import prefix_signals
from .policy.operating import check_target
from .policy.policy import Decision, default_policy_path
from .redaction import KINDS, Redaction, Redactor, StreamRestorer

__all__ = ["HybridClient"]

log = logging.getLogger("edgekit.sdk.hybrid")
# A library never prints: without this, Python's last-resort handler writes these warnings to stderr
# whenever the application configured no logging (Python logging HOWTO, "Configuring Logging for a Library").
log.addHandler(logging.NullHandler())

Messages = Sequence[Mapping[str, Any]]

_ERROR_KINDS = (
    (CloudDeadlineError, "deadline"),  # before its base class CloudTimeoutError
    (CloudTimeoutError, "timeout"),
    (CloudHTTPError, "http"),
    (CloudProtocolError, "protocol"),
    (CircuitOpenError, "circuit_open"),
    (BudgetExceededError, "budget"),
)


class _PromptRefused(Exception):
    """The probe's prefill found a prompt that does not fit the context: there is no state to read."""


@dataclass(frozen=True)
class _Stopped:
    """What an early stop had generated: shown when streamed, counted in the cost, never the answer."""

    decision: Decision
    tokens: tuple[Any, ...]
    prompt_tokens: int
    ms: float


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


def _check_timeout(value: float | None) -> float | None:
    if value is not None and not (isinstance(value, (int, float)) and value > 0):
        raise ConfigError(
            f"cloud_timeout={value!r} must be > 0 seconds (math.inf for no deadline, None for the default)"
        )
    return value


_FLOW_NAME = {False: "escalation", True: "streamed escalation"}


def _fallback_note(error: Exception | None, shown: bool) -> str:
    what = "cloud stream cut" if shown else "cloud failed"
    return f"{what} ({_error_kind(error)}): answering locally"


_TOOL_FIELDS = ("tools", "tool_choice", "parallel_tool_calls")
RESPONSE_FORMAT = "response_format"  # an option in OpenAI's shape: a grammar locally, passed as it is to the cloud


def _with_format(options: Mapping[str, Any]) -> Mapping[str, Any]:
    """``options`` with the local ``constraint`` of their OpenAI ``response_format`` (checked before any work)."""
    value = options.get(RESPONSE_FORMAT)
    if value is None:
        return options
    from .serve.openai_api import ApiError, response_format_constraint

    try:
        constraint = response_format_constraint(value)
    except ApiError as exc:
        raise ConstraintError("response_format", exc.message) from None
    return {**options, "constraint": constraint} if constraint is not None else options


def _cloud_tool_fields(options: Mapping[str, Any]) -> dict[str, Any]:
    """The tool and response-format fields of ``options`` for the cloud request, unchanged (typed ones back in
    OpenAI's shape)."""
    out: dict[str, Any] = {}
    if options.get(RESPONSE_FORMAT) is not None:
        out[RESPONSE_FORMAT] = options[RESPONSE_FORMAT]
    if options.get("tools"):
        out["tools"] = [t.to_openai() if isinstance(t, Tool) else t for t in options["tools"]]
    choice = options.get("tool_choice")
    if isinstance(choice, ToolChoice):
        named = {"type": "function", "function": {"name": choice.name}}
        choice = named if choice.mode is ToolChoiceMode.NAMED else choice.mode.value
    if choice is not None:
        out["tool_choice"] = choice
    if options.get("parallel_tool_calls") is not None:
        out["parallel_tool_calls"] = options["parallel_tool_calls"]
    return out


def _constrained(options: Mapping[str, Any]) -> bool:
    """Tool calls and response formats have their own grammar: the early model was fitted on free answers."""
    return bool(options.get("tools")) or options.get("constraint") is not None


def _prompt_tokens(local: Any, messages: list[dict[str, Any]]) -> int:
    """The prompt's token count for an answer stopped before its Result existed (0 if the model cannot say)."""
    count = getattr(local, "count_tokens", None)
    return int(count(messages)) if count is not None else 0


def _load_local(local: Any) -> Any:
    if isinstance(local, (str, Path)):
        from edgekit.runtime import load

        return load(local)
    if not hasattr(local, "generate") or not hasattr(local, "stream"):
        raise ConfigError(f"local={local!r} is neither a bundle path nor a LocalModel (edgekit.runtime.load(path))")
    return local


def _bundle_policy(local: Any) -> Policy | None:
    """The policy the local bundle carries (policy.json, sha256-checked), if any."""
    folder, manifest = getattr(local, "folder", None), getattr(local, "manifest", None)
    if folder is None or manifest is None:
        return None
    from .policy.bundle_policy import bundle_policy

    return bundle_policy(folder, manifest)


class HybridClient:
    """Local first, cloud when the policy says so. Thread-safe for concurrent ``ask`` calls.

    ``redact`` (default True: every kind of edgekit.sdk.redaction.KINDS) replaces personal data by
    placeholders before a prompt leaves the device and restores them in the answer; pass a list of
    kinds for a subset, or False to send prompts as they are. ``cloud_timeout`` (s) is the wall-clock
    deadline of each escalation (default: ``CloudConfig.deadline``; ``math.inf`` for none).
    ``target_accuracy`` or ``max_escalation_rate`` state the operating point (policy/operating.py): the
    post-generation thresholds are set from the policy's measured curve (``ask``/``stream`` take them per call).
    """

    def __init__(
        self,
        local: Any,
        cloud: CloudConfig | None = None,
        policy: Policy | str | Path | None = None,
        *,
        privacy: str | None = None,
        redact: bool | Iterable[str] = True,
        cloud_timeout: float | None = None,
        budget: BudgetCaps | None = None,
        generation: Mapping[str, Any] | None = None,
        transport: Any = None,
        cloud_client: CloudClient | None = None,
        target_accuracy: float | None = None,
        max_escalation_rate: float | None = None,
    ):
        self.local = _load_local(local)
        if policy is None:
            policy = _bundle_policy(self.local)
        if policy is None:
            policy = Policy.default() if default_policy_path().is_file() else base_policy()
        elif isinstance(policy, (str, Path)):
            policy = Policy.load(policy)
        if privacy is not None:
            policy = policy.with_privacy(privacy)
        self.base_policy = policy  # as given; per-call targets start from it
        self.policy = policy.at_operating_point(target_accuracy, max_escalation_rate)
        self.cloud_config = cloud
        if cloud is not None and cloud_client is None:
            cloud.api_key()  # a missing key is a setup error: say so now, not at the first escalation
            cloud_client = CloudClient(cloud, transport=transport)
        self.cloud = cloud_client
        if redact is True:
            self.redactor: Redactor | None = Redactor(KINDS)
        elif redact:
            self.redactor = Redactor(redact)
        else:
            self.redactor = None
        self.cloud_timeout = _check_timeout(cloud_timeout)
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
        local = {k: v for k, v in options.items() if k != RESPONSE_FORMAT}  # the runtime takes its constraint
        return {**self.generation, **local, "context_policy": "signal"}

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
    def _cost(
        result: Any,
        reply: CloudReply | None,
        cloud_ms: float,
        started: float,
        probed: Any = None,
        stopped: _Stopped | None = None,
    ) -> Cost:
        probe_ms = probed.timings.total_ms if probed is not None else 0.0
        early_tokens = len(stopped.tokens) if stopped is not None else 0
        return Cost(
            local_prompt_tokens=(result.prompt_tokens if result is not None else 0)
            + (probed.prompt_tokens if probed is not None else 0)
            + (stopped.prompt_tokens if stopped is not None else 0),
            local_completion_tokens=(len(result.token_ids) if result is not None else 0) + early_tokens,
            local_ms=(result.timings.total_ms if result is not None else 0.0)
            + probe_ms
            + (stopped.ms if stopped is not None else 0.0),
            local_probe_ms=probe_ms,
            local_early_tokens=early_tokens,
            cloud_prompt_tokens=reply.prompt_tokens if reply else 0,
            cloud_completion_tokens=reply.completion_tokens if reply else 0,
            cloud_ms=cloud_ms,
            cloud_attempts=reply.attempts if reply else 0,
            cloud_tokens_estimated=reply.tokens_estimated if reply else False,
            total_ms=(time.perf_counter() - started) * 1e3,
        )

    def _decide_pre(
        self, messages: list[dict[str, Any]], options: Mapping[str, Any], policy: Policy
    ) -> tuple[str, dict[str, float], Decision, Any]:
        """The router's decision, and the prefill the policy's hidden-state probe ran for it (or None).

        The probe reads the prompt's hidden state, which only a prefill gives: it is run (one token generated)
        only when the decision reaches the probe, and its time and prompt tokens count in the answer's cost.
        """
        question = question_of(messages)
        pre = pre_signals(question)
        probed: list[Any] = []

        def prompt_hidden() -> Any:
            probed.append(self.local.generate(messages, **{**self._local_options(options), "max_new_tokens": 1}))
            if probed[0].prompt_hidden is None and probed[0].context_overflow:
                raise _PromptRefused
            return probed[0].prompt_hidden

        try:
            decision = policy.route(question, pre, prompt_hidden=prompt_hidden)
        except _PromptRefused:
            # nothing to probe: the local answer is refused too, and the post stage escalates on context_overflow
            # (the Java and web apps skip the probe the same way)
            decision = replace(policy, probe=None).route(question, pre)
        if "probe" in decision.signals:  # the answer reports what the probe read, whichever stage decides
            pre = {**pre, "probe": decision.signals["probe"]}
        return question, pre, decision, probed[0] if probed else None

    @staticmethod
    def _decide_post(
        policy: Policy, family: str, question: str, pre: Mapping[str, float], result: Any, tools: bool
    ) -> Decision:
        signals = {**pre, **post_signals(result, policy.answer_kind(family), question)}
        return policy.decide(family, signals, answer_hidden=probe_state(result, tools))

    # -- the decision flow -------------------------------------------------------------
    def ask(
        self,
        messages: Messages | str,
        *,
        cloud_timeout: float | None = None,
        target_accuracy: float | None = None,
        max_escalation_rate: float | None = None,
        **options: Any,
    ) -> Answer:
        """Answer ``messages`` (a list of {role, content} or a plain question). ``options`` go to the local model.

        ``cloud_timeout`` (s) bounds this call's cloud escalation (retries and reads included) and overrides
        the client's; past it the local answer is returned (``error_kind`` "deadline"). ``target_accuracy`` or
        ``max_escalation_rate`` set this call's operating point, over the client's.
        """
        final: Answer | None = None
        policy = self._policy_for(target_accuracy, max_escalation_rate)
        for event in self._flow(messages, options, streamed=False, cloud_timeout=cloud_timeout, policy=policy):
            if event.answer is not None:
                final = event.answer
        assert final is not None  # the flow always ends with a FINAL event
        return final

    def stream(
        self,
        messages: Messages | str,
        *,
        cloud_timeout: float | None = None,
        target_accuracy: float | None = None,
        max_escalation_rate: float | None = None,
        **options: Any,
    ) -> Iterator[HybridEvent]:
        """Events: TOKEN pieces (with their source), RESTART when shown text is superseded, FINAL with the Answer.

        Local tokens stream as they are generated; if the policy then escalates, a
        RESTART event ("escalating to the cloud: <rule>", ``replaces="local"``)
        precedes the cloud's tokens. If the cloud fails mid-stream, a RESTART
        precedes the local answer again (route ``local_fallback``); its
        ``replaces`` is "cloud" when part of a cloud answer had been shown. Each
        RESTART's ``replaced_text`` is the superseded text itself (the local answer
        when escalating; the cloud's partial answer, also in
        ``Answer.cloud_partial_text``, when falling back), so a caller that drew it
        can take it back without keeping its own copy. When the policy's early model
        stops the local answer after one of its first tokens, the RESTART comes then
        (rule ``early:model:<family>``) and the tokens not generated are not paid for.
        """
        policy = self._policy_for(target_accuracy, max_escalation_rate)
        return self._flow(messages, options, streamed=True, cloud_timeout=cloud_timeout, policy=policy)

    def _policy_for(self, target_accuracy: float | None, max_escalation_rate: float | None) -> Policy:
        """The client's policy, or the base policy at this call's operating point (checked before any work)."""
        check_target(target_accuracy, max_escalation_rate)
        if target_accuracy is None and max_escalation_rate is None:
            return self.policy
        return self.base_policy.at_operating_point(target_accuracy, max_escalation_rate)

    def _flow(
        self,
        messages: Messages | str,
        options: Mapping[str, Any],
        *,
        streamed: bool,
        cloud_timeout: float | None,
        policy: Policy,
    ) -> Iterator[HybridEvent]:
        """route -> generate -> decide -> escalate -> fall back, once for ``ask`` and ``stream``.

        ``streamed`` only picks how each side produces text (local ``stream`` vs
        ``generate``, cloud SSE vs one completion): every rule is here.
        """
        started = time.perf_counter()
        _check_timeout(cloud_timeout)
        options = _with_format(options)
        messages = self._messages(messages)
        question, pre, decision, probed = self._decide_pre(messages, options, policy)
        result: Any = None
        stopped: _Stopped | None = None  # an early stop's first tokens: paid for, not kept
        if not decision.escalate:
            # with no cloud to hand off to, an early stop would only make the device generate the answer twice
            watch = policy if self.cloud is not None else None
            result = yield from self._local(messages, options, streamed, watch, decision.family, pre)
            if isinstance(result, _Stopped):
                stopped, result = result, None
                decision = stopped.decision
            else:
                tools = bool(options.get("tools"))
                decision = self._decide_post(policy, decision.family, question, pre, result, tools)
            if not decision.escalate and result is not None:
                yield HybridEvent(
                    EventKind.FINAL,
                    answer=self._answer(
                        result.text,
                        Route.LOCAL,
                        decision,
                        self._cost(result, None, 0.0, started, probed, stopped),
                        local_text=result.text,
                        local_finish_reason=str(result.finish_reason),
                        tool_calls=tuple(getattr(result, "tool_calls", ())),
                    ),
                )
                return
            # a streamed Result's text is what its tokens showed; an early stop showed its first tokens
            early_text = "".join(t.text for t in stopped.tokens) if stopped is not None else ""
            shown_local = (early_text if result is None else result.text) if streamed else ""
            yield HybridEvent(
                EventKind.RESTART,
                source="cloud",
                note=f"escalating to the cloud ({decision.rule})",
                replaces="local" if shown_local else "",
                replaced_text=shown_local,
            )
        t0 = time.perf_counter()
        error: Exception | None = None
        reply: CloudReply | None = None
        shown: list[str] = []
        redaction = Redaction()
        cloud_calls: tuple[ToolCall, ...] = ()
        try:
            outgoing, redaction = self._prepare_escalation(messages)
            restorer = StreamRestorer(redaction)
            for chunk in self._cloud_chunks(outgoing, streamed, cloud_timeout, _cloud_tool_fields(options)):
                if chunk.reply is not None:
                    reply = chunk.reply
                    text = restorer.flush() if streamed else redaction.restore(reply.text)
                else:
                    text = restorer.feed(chunk.text)
                if text:
                    shown.append(text)
                    yield HybridEvent(EventKind.TOKEN, text, "cloud")
            if reply is not None and reply.tool_calls:
                try:
                    cloud_calls = self._cloud_calls(reply.tool_calls, options.get("tools"), redaction)
                except ToolError as exc:  # never returned: the local answer stands in for it
                    self.budget.record_tokens(reply.total_tokens)
                    reply = None
                    raise CloudProtocolError(f"the cloud's tool call is refused: {exc}") from None
        except EscalationError as exc:
            error = exc
            log.warning("%s fell back to the local answer: %s", _FLOW_NAME[streamed], self._scrub(str(exc)))
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
                    self._cost(result, reply, cloud_ms, started, probed, stopped),
                    local_text=result.text if result else None,
                    local_finish_reason=str(result.finish_reason) if result else None,
                    redacted=redaction.kinds(),
                    tool_calls=cloud_calls,
                ),
            )
            return
        # fallback: the local answer, never lost (generated now if the router skipped it)
        if shown or result is not None:
            yield HybridEvent(
                EventKind.RESTART,
                source="local",
                note=_fallback_note(error, bool(shown)),
                replaces="cloud" if shown else "",
                replaced_text="".join(shown),
            )
        if result is None:  # routed, or stopped early: the whole local answer now, with no early stop
            result = yield from self._local(messages, options, streamed, None)
        else:
            yield HybridEvent(EventKind.TOKEN, result.text, "local")
        yield HybridEvent(
            EventKind.FINAL,
            answer=self._answer(
                result.text,
                Route.LOCAL_FALLBACK,
                decision,
                self._cost(result, None, cloud_ms, started, probed, stopped),
                error=self._scrub(str(error)),
                error_kind=_error_kind(error),
                local_text=result.text,
                local_finish_reason=str(result.finish_reason),
                cloud_partial_text="".join(shown) if shown else None,
                tool_calls=tuple(getattr(result, "tool_calls", ())),
            ),
        )

    def _local(
        self,
        messages: list[dict[str, Any]],
        options: Mapping[str, Any],
        streamed: bool,
        policy: Policy | None,
        family: str = "",
        pre: Mapping[str, float] | None = None,
    ):
        """Generate the local answer, yielding its TOKEN events; returns the runtime Result, or a ``_Stopped``
        when ``policy``'s early model stopped it after one of its first tokens (the generator is closed then,
        so the tokens after it are never computed)."""
        opts = self._local_options(options)
        early = policy is not None and policy.early is not None and not _constrained(options)
        if not streamed and not early:
            result = self.local.generate(messages, **opts)
            if result.text:
                yield HybridEvent(EventKind.TOKEN, result.text, "local")
            return result
        result = None
        tokens: list[Any] = []
        started = time.perf_counter()
        pieces = self.local.stream(messages, **opts)
        try:
            for piece in pieces:
                if piece.text and streamed:
                    yield HybridEvent(EventKind.TOKEN, piece.text, "local")
                if piece.result is not None:
                    result = piece.result
                elif early and piece.token is not None and len(tokens) < policy.early.max_tokens:  # type: ignore[union-attr]
                    tokens.append(piece.token)
                    signals = {**(pre or {}), **prefix_signals(tokens)}
                    decision = policy.stop_early(family, signals)  # type: ignore[union-attr]
                    if decision is not None:
                        ms = (time.perf_counter() - started) * 1e3
                        return _Stopped(decision, tuple(tokens), _prompt_tokens(self.local, messages), ms)
        finally:
            close = getattr(pieces, "close", None)
            if close is not None:
                close()
        if not streamed and result is not None and result.text:
            yield HybridEvent(EventKind.TOKEN, result.text, "local")
        return result

    def _cloud_chunks(
        self,
        outgoing: list[dict[str, Any]],
        streamed: bool,
        cloud_timeout: float | None,
        extra: Mapping[str, Any] | None = None,
    ):
        """The cloud's answer as CloudChunks: SSE pieces, or one final chunk of a plain completion. ``extra``:
        request fields passed as they are (the tools)."""
        deadline = cloud_timeout if cloud_timeout is not None else self.cloud_timeout
        fields = dict(extra or {})
        if streamed:
            return self.cloud.stream(outgoing, deadline=deadline, **fields)  # type: ignore[union-attr]
        reply = self.cloud.complete(outgoing, deadline=deadline, **fields)  # type: ignore[union-attr]
        return iter([CloudChunk("", reply)])

    def _cloud_calls(self, raw: Sequence[Mapping[str, Any]], tools: Any, redaction: Redaction) -> tuple[ToolCall, ...]:
        """The cloud's calls, placeholders restored, each checked against its tool's schema (tool_check.py):
        a call to a tool not offered, or arguments its schema refuses, is a ``ToolError``."""
        offered = parse_tools(tools)
        calls = []
        for i, call in enumerate(raw):
            function = dict(call.get("function") or {})
            if isinstance(function.get("arguments"), str):
                function["arguments"] = redaction.restore(function["arguments"])
            restored = {**call, "function": function}
            calls.append(checked_call(restored, offered, self.local.grammar_vocabulary, f"tool_calls[{i}]"))
        return tuple(calls)

    def _scrub(self, text: str) -> str:
        return self.cloud.scrub(text) if self.cloud is not None else text
