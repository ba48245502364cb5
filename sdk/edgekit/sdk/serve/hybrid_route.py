"""A hybrid server's chat answers: the ``HybridClient`` flow behind ``/v1/chat/completions``, in OpenAI's shape.

With ``edgekit serve --cloud-url``, a phone app talks to the device's server alone and still gets the hybrid
path: the policy routes, the local model answers (its early model may stop it after its first tokens), and an
answer the policy does not trust is escalated to the cloud with the same tools and response format.

An OpenAI stream cannot take text back, so a streamed local answer is held until the policy has accepted it,
then sent; a question handed off early or after the answer shows the client only the cloud's tokens, streamed as
they come. A cloud stream cut after some of its text was sent is followed by the local answer, after a chunk
whose ``edgekit.restart`` says what the text before it was (``HybridClient.stream``'s RESTART event). Every
response carries the route, the rule and the cost in its ``edgekit`` field (the last chunk's, streamed);
OpenAI's clients ignore a field they do not know.
"""

from __future__ import annotations

from typing import Any

from ..hybrid_answer import Answer, EventKind, HybridEvent, Route
from .openai_api import FINISH_MAP, chunk_body, completion_body, tool_call_deltas, usage

__all__ = ["hybrid_options", "answer_body", "HybridChunks"]


def hybrid_options(request: Any) -> dict[str, Any]:
    """The request's options for ``HybridClient``: the response format as sent (the client turns it into the
    local grammar and passes it to the cloud), not the runtime constraint the local-only path uses."""
    options = {k: v for k, v in request.options.items() if k != "constraint"}
    if request.response_format is not None:
        options["response_format"] = request.response_format
    return options


def _finish(answer: Answer) -> str:
    if answer.tool_calls:
        return "tool_calls"
    if answer.route is Route.CLOUD:
        return "stop"
    return FINISH_MAP.get(str(answer.local_finish_reason), "stop")


def _tokens(answer: Answer) -> tuple[int, int]:
    cost = answer.cost
    if answer.route is Route.CLOUD:
        return cost.cloud_prompt_tokens, cost.cloud_completion_tokens
    return cost.local_prompt_tokens, cost.local_completion_tokens


def route_info(answer: Answer) -> dict[str, Any]:
    """What the ``edgekit`` field says about a hybrid answer: where it came from, why, and what it cost."""
    data = answer.to_dict()
    keep = ("route", "rule", "family", "stage", "probability", "threshold", "error", "error_kind", "cost", "redacted")
    return {key: data[key] for key in keep}


def answer_body(request: Any, cid: str, answer: Answer) -> dict[str, Any]:
    prompt_tokens, completion_tokens = _tokens(answer)
    return completion_body(
        cid,
        request.model,
        answer.text,
        _finish(answer),
        prompt_tokens,
        completion_tokens,
        {"hybrid": route_info(answer)},
        tool_calls=[c.to_openai() for c in answer.tool_calls],
    )


class HybridChunks:
    """Turns ``HybridClient.stream`` events into chat-completion chunks (``feed`` one event, get its chunks)."""

    def __init__(self, request: Any, cid: str, created: int):
        self.request, self.cid, self.created = request, cid, created
        self.held: list[str] = []  # local text the policy has not accepted yet: never sent unless it does
        self.local_final = False  # after a cloud failure the local answer is the answer: it streams as it comes
        self.answer: Answer | None = None

    def _chunk(self, delta: dict[str, Any] | None, finish: str | None = None, **extra: Any) -> dict[str, Any]:
        body = chunk_body(self.cid, self.request.model, self.created, delta, finish, extra.pop("usage_", None))
        if extra:
            body["edgekit"] = extra
        return body

    def first(self) -> dict[str, Any]:
        return self._chunk({"role": "assistant", "content": ""})

    def feed(self, event: HybridEvent) -> list[dict[str, Any]]:
        if event.kind is EventKind.TOKEN:
            if event.source == "local" and not self.local_final:
                self.held.append(event.text)
                return []
            return [self._chunk({"content": event.text})] if event.text else []
        if event.kind is EventKind.RESTART:
            self.held.clear()  # a local answer being replaced was never sent
            if event.source != "local":
                return []
            self.local_final = True
            if event.replaces != "cloud":  # the cloud failed before sending anything: nothing to take back
                return []
            return [self._chunk({"content": ""}, restart={"replaces": "cloud", "note": event.note})]
        assert event.answer is not None  # FINAL
        self.answer = event.answer
        return self._last(event.answer)

    def _last(self, answer: Answer) -> list[dict[str, Any]]:
        chunks = [self._chunk({"content": "".join(self.held)})] if self.held else []
        chunks += [self._chunk({"tool_calls": [delta]}) for delta in tool_call_deltas(answer.tool_calls)]
        chunks.append(self._chunk({}, _finish(answer), hybrid=route_info(answer)))
        if self.request.include_usage:
            chunks.append(self._chunk(None, usage_=usage(*_tokens(answer))))
        return chunks
