"""The cloud client: OpenAI chat completions over httpx, plain and SSE-streamed.

One I/O seam: ``CloudClient(config, transport=...)`` takes any httpx transport,
so unit tests inject every fault through ``httpx.MockTransport`` and the
integration tests talk to a real ``edgekit serve`` on 127.0.0.1.

Failures become the EscalationError tree (edgekit.runtime.errors):
CloudTimeoutError, CloudHTTPError(status), CloudProtocolError (malformed JSON,
stream cut, refusal), CircuitOpenError. The API key goes only into the
Authorization header; error messages never quote response bodies of 401/403
answers (OpenAI's echo part of the key there) and any text that might hold the
key is scrubbed (case-insensitively, fragments included: cloud/scrub.py) before
it reaches an exception or a log line.

Each call has a wall-clock deadline (``CloudConfig.deadline``, or ``deadline=``
per call) over its retries and every read of the answer; the blocking I/O runs
on a worker thread so the caller can stop waiting exactly then (cloud/deadline.py).
"""

from __future__ import annotations

import dataclasses
import email.utils
import json
import logging
import random
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
from edgekit.runtime.errors import (
    CloudHTTPError,
    CloudProtocolError,
    CloudTimeoutError,
    ConfigError,
    EscalationError,
)

from .breaker import CircuitBreaker
from .config import CloudConfig
from .deadline import CloudDeadlineError, Deadline, Pump
from .scrub import KeyScrubber
from .sse import DONE, iter_sse_data

__all__ = ["CloudReply", "CloudChunk", "CloudClient", "RETRYABLE_STATUS"]

log = logging.getLogger("edgekit.sdk.cloud")
# A library never prints: without a handler, Python's last-resort handler writes the retry warnings to stderr
# of any application that configured no logging (Python logging HOWTO, "Configuring Logging for a Library").
log.addHandler(logging.NullHandler())

# 408/425/429 and the 5xx family are transient by definition (RFC 9110 §15.5.9, §15.6; RFC 6585 §4).
RETRYABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class CloudReply:
    """A complete cloud answer and what it cost."""

    text: str
    finish_reason: str | None
    model: str
    prompt_tokens: int
    completion_tokens: int
    tokens_estimated: bool  # True when the server sent no usage and tokens were estimated (chars / 4)
    attempts: int
    elapsed_ms: float
    # OpenAI call objects ({"id", "type", "function": {"name", "arguments"}}), as the cloud sent them (a streamed
    # answer's deltas assembled by index); the hybrid client checks them against the tools before use
    tool_calls: tuple[dict[str, Any], ...] = ()

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True)
class CloudChunk:
    """One streamed piece; the last one has ``reply`` set (and text "")."""

    text: str
    reply: CloudReply | None = None


def _estimate_tokens(text: str) -> int:
    # ~4 characters per token for English BPE vocabularies (OpenAI's tokenizer guide rule of thumb).
    return max(1, (len(text) + 3) // 4) if text else 0


def _message_chars(messages: Sequence[dict[str, Any]]) -> str:
    return "".join(str(m.get("content") or "") for m in messages)


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Retry-After as seconds: delta-seconds or an HTTP-date (RFC 9110 §10.2.3)."""
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
        return max(0.0, seconds)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    now = time.time() if now is None else now
    return max(0.0, when.timestamp() - now)


class CloudClient:
    """Calls one OpenAI-compatible endpoint with timeouts, retries and a circuit breaker."""

    def __init__(
        self,
        config: CloudConfig,
        *,
        transport: httpx.BaseTransport | None = None,
        breaker: CircuitBreaker | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ):
        self.config = config
        self.breaker = breaker or CircuitBreaker(config.breaker_failures, config.breaker_cooldown)
        self._sleep = sleep
        self._rng = rng or random.Random()
        timeout = httpx.Timeout(
            connect=config.connect_timeout,
            read=config.read_timeout,
            write=config.read_timeout,
            pool=config.connect_timeout,
        )
        self._http = httpx.Client(timeout=timeout, transport=transport, follow_redirects=False)

    # -- lifecycle ----------------------------------------------------------
    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> CloudClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- public calls -------------------------------------------------------
    def complete(
        self, messages: Sequence[dict[str, Any]], *, deadline: float | None = None, **options: Any
    ) -> CloudReply:
        """One non-streaming chat completion. ``deadline`` (s) overrides the config's; ``inf`` = none."""
        start = time.perf_counter()
        self.breaker.before_call()
        limit = self._deadline(deadline)
        payload = self._payload(messages, stream=False, **options)

        def work(pump: Pump) -> None:
            response, attempts = self._send(payload, limit, pump)
            try:
                try:
                    response.read()
                except httpx.TimeoutException:
                    raise CloudTimeoutError(f"cloud read timed out after {self.config.read_timeout:g} s") from None
                except httpx.TransportError as exc:
                    raise CloudProtocolError(
                        f"cloud connection broke while reading the answer ({type(exc).__name__})"
                    ) from None
            finally:
                response.close()
            pump.put((response, attempts))

        try:
            ((response, attempts),) = list(Pump(work, limit, name="edgekit-cloud-complete"))
            reply = self._parse_completion(response, messages, attempts, start)
        except EscalationError:
            self.breaker.record_failure()
            raise
        self.breaker.record_success()
        return reply

    def stream(
        self, messages: Sequence[dict[str, Any]], *, deadline: float | None = None, **options: Any
    ) -> Iterator[CloudChunk]:
        """SSE-streamed chat completion: text chunks, then one chunk carrying the CloudReply.

        Retries happen only before the first byte of the answer; a stream cut
        after that raises CloudProtocolError (the caller already showed text).
        The deadline covers the whole stream, keep-alive comments included.
        """
        start = time.perf_counter()
        self.breaker.before_call()
        limit = self._deadline(deadline)
        payload = self._payload(messages, stream=True, **options)

        def work(pump: Pump) -> None:
            response, attempts = self._send(payload, limit, pump)
            try:
                pump.put(attempts)  # the answer started: retries are over
                for line in response.iter_lines():
                    pump.put(line)
            finally:
                response.close()

        items = iter(Pump(work, limit, name="edgekit-cloud-stream"))
        ok = False
        try:
            attempts = next(items)
            yield from self._iter_stream(items, messages, attempts, start)
            ok = True
        finally:
            items.close()  # stops the worker if the stream ended early
            if ok:
                self.breaker.record_success()
            else:
                self.breaker.record_failure()

    def scrub(self, text: str) -> str:
        """``text`` without the API key or any fragment of it (for errors and logs)."""
        return self._scrub(text)

    # -- internals ------------------------------------------------------------
    def _payload(self, messages: Sequence[dict[str, Any]], *, stream: bool, **options: Any) -> dict[str, Any]:
        payload: dict[str, Any] = {"model": self.config.model, "messages": list(messages)}
        if self.config.max_tokens is not None:
            payload["max_tokens"] = self.config.max_tokens
        if self.config.temperature is not None:
            payload["temperature"] = self.config.temperature
        payload.update({k: v for k, v in options.items() if v is not None})
        if stream:
            payload["stream"] = True
            payload["stream_options"] = {"include_usage": True}
        return payload

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        headers.update(self.config.extra_headers)
        key = self.config.api_key()
        if key:
            headers["Authorization"] = f"Bearer {key}"
        return headers

    def _scrub(self, text: str) -> str:
        """Remove the key (if any) and its fragments, in any case, from text that will reach an error or a log."""
        if self.config.api_key_env is None:
            return text
        try:
            key = self.config.api_key()
        except ConfigError:  # no key set: nothing to leak
            return text
        return KeyScrubber(key).scrub(text)

    def _deadline(self, seconds: float | None) -> Deadline:
        return Deadline(self.config.deadline if seconds is None else seconds)

    def _backoff(self, attempt: int) -> float:
        cap = min(self.config.backoff_max, self.config.backoff_base * (2**attempt))
        return self._rng.uniform(0, cap)  # "full jitter"

    def _send(self, payload: dict[str, Any], deadline: Deadline, pump: Pump) -> tuple[httpx.Response, int]:
        """Send with retries (on the pump's worker thread); never sleeps past the deadline."""
        config = self.config
        headers = self._headers()
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        last_error: EscalationError | None = None
        for attempt in range(config.max_retries + 1):
            wait: float | None = None
            try:
                request = self._http.build_request(
                    "POST", config.chat_url, content=body, headers=headers, extensions={"trace": pump.trace}
                )
                response = self._http.send(request, stream=True)
                pump.watch(response.extensions.get("network_stream"))
            except httpx.ConnectTimeout:
                last_error = CloudTimeoutError(
                    f"cloud connect timed out after {config.connect_timeout:g} s ({config.base_url})"
                )
            except httpx.TimeoutException:
                # read/write/pool timeout: the cloud had the request; do not wait again.
                raise CloudTimeoutError(
                    f"cloud did not answer within {config.read_timeout:g} s ({config.base_url})"
                ) from None
            except httpx.TransportError as exc:  # ConnectError (refused, DNS), ReadError, RemoteProtocolError ...
                last_error = CloudHTTPError(
                    0, f"cloud unreachable at {config.base_url} ({type(exc).__name__}: {self._scrub(str(exc))})"
                )
            else:
                status = response.status_code
                if 200 <= status < 300:
                    return response, attempt + 1
                detail = self._error_detail(response)
                response.close()
                if status in (401, 403):
                    raise CloudHTTPError(
                        status,
                        f"cloud refused the API key (HTTP {status}); check the key in ${config.api_key_env}",
                    )
                last_error = CloudHTTPError(status, f"cloud answered HTTP {status}{detail}")
                if status not in RETRYABLE_STATUS:
                    raise last_error
                retry_after = parse_retry_after(response.headers.get("retry-after"))
                if retry_after is not None:
                    if retry_after > config.max_retry_after:
                        raise CloudHTTPError(
                            status,
                            f"cloud answered HTTP {status} with Retry-After {retry_after:.0f} s, longer than "
                            f"max_retry_after={config.max_retry_after:g} s{detail}",
                        )
                    wait = retry_after
            if attempt == config.max_retries:
                break
            if wait is None:
                wait = self._backoff(attempt)
            left = deadline.remaining()
            if left is not None and wait >= left:  # the retry could not finish in time: answer locally now
                raise CloudDeadlineError(
                    f"cloud deadline of {deadline.seconds:g} s leaves no time to retry in {wait:.1f} s "
                    f"(after: {last_error})"
                )
            log.warning(
                "cloud attempt %d/%d failed (%s); retrying in %.2f s",
                attempt + 1,
                config.max_retries + 1,
                last_error,
                wait,
            )
            self._sleep(wait)
        raise last_error  # type: ignore[misc]  # the loop ran at least once; every path set it or returned

    def _error_detail(self, response: httpx.Response) -> str:
        try:
            response.read()
            data = response.json()
            message = data.get("error", {}).get("message") if isinstance(data, dict) else None
        except (httpx.HTTPError, ValueError, AttributeError):
            message = None
        if not message:
            return ""
        # scrubbed first (the key may be split across lines), then on one line: it ends up in a CLI route line
        return ": " + " ".join(self._scrub(str(message)).split())[:200]

    def _parse_completion(self, response: httpx.Response, messages, attempts: int, start: float) -> CloudReply:
        try:
            data = response.json()
        except (ValueError, UnicodeDecodeError):
            raise CloudProtocolError(
                f"cloud answer is not valid JSON (HTTP {response.status_code}, {len(response.content)} bytes)"
            ) from None
        try:
            choice = data["choices"][0]
            message = choice["message"]
            content = message.get("content")
            finish = choice.get("finish_reason")
        except (KeyError, IndexError, TypeError, AttributeError):
            raise CloudProtocolError(
                "cloud answer JSON has no choices[0].message (not an OpenAI chat completion)"
            ) from None
        refusal = message.get("refusal") if isinstance(message, dict) else None
        if refusal or finish == "content_filter":
            raise CloudProtocolError(f"cloud refused to answer ({self._scrub(str(refusal or finish))[:200]})")
        calls = message.get("tool_calls") if isinstance(message, dict) else None
        if calls is not None and not (isinstance(calls, list) and all(isinstance(c, dict) for c in calls)):
            raise CloudProtocolError("cloud answer's choices[0].message.tool_calls is not an array of objects")
        if not isinstance(content, str) and not calls:
            raise CloudProtocolError("cloud answer has no text content (choices[0].message.content is not a string)")
        usage = data.get("usage") if isinstance(data, dict) else None
        reply = self._reply(content or "", finish, data.get("model"), usage, messages, attempts, start)
        return dataclasses.replace(reply, tool_calls=tuple(calls or ()))

    def _reply(self, text, finish, model, usage, messages, attempts, start) -> CloudReply:
        estimated = not isinstance(usage, dict) or "completion_tokens" not in usage
        if estimated:
            prompt_tokens = _estimate_tokens(_message_chars(messages))
            completion_tokens = _estimate_tokens(text)
        else:
            prompt_tokens = int(usage.get("prompt_tokens") or 0)
            completion_tokens = int(usage.get("completion_tokens") or 0)
        return CloudReply(
            text=text,
            finish_reason=finish,
            model=str(model or self.config.model),
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            tokens_estimated=estimated,
            attempts=attempts,
            elapsed_ms=(time.perf_counter() - start) * 1e3,
        )

    def _iter_stream(self, lines: Iterator[str], messages, attempts: int, start: float) -> Iterator[CloudChunk]:
        parts: list[str] = []
        calls: dict[int, dict[str, Any]] = {}  # streamed tool calls by index
        finish: str | None = None
        model: str | None = None
        usage: dict | None = None
        done = False
        try:
            for data in iter_sse_data(lines):
                if data.strip() == DONE:
                    done = True
                    break
                try:
                    event = json.loads(data)
                except ValueError:
                    raise CloudProtocolError(
                        f"cloud stream sent malformed JSON after {len(''.join(parts))} characters"
                    ) from None
                if not isinstance(event, dict):
                    raise CloudProtocolError("cloud stream sent a non-object event")
                if "error" in event:
                    err = event["error"]
                    message = err.get("message") if isinstance(err, dict) else err
                    raise CloudProtocolError(f"cloud stream reported an error: {self._scrub(str(message))[:200]}")
                model = event.get("model") or model
                if isinstance(event.get("usage"), dict):
                    usage = event["usage"]
                for choice in event.get("choices") or []:
                    delta = choice.get("delta") or {}
                    if delta.get("refusal"):
                        raise CloudProtocolError(
                            f"cloud refused to answer ({self._scrub(str(delta['refusal']))[:200]})"
                        )
                    piece = delta.get("content")
                    if piece:
                        parts.append(piece)
                        yield CloudChunk(piece)
                    for call_delta in delta.get("tool_calls") or []:
                        _add_call_delta(calls, call_delta)
                    if choice.get("finish_reason"):
                        finish = choice["finish_reason"]
        except httpx.TimeoutException:
            raise CloudTimeoutError(
                f"cloud stream stalled for {self.config.read_timeout:g} s after {len(''.join(parts))} characters"
            ) from None
        except httpx.TransportError as exc:
            raise CloudProtocolError(
                f"cloud stream was cut mid-way after {len(''.join(parts))} characters ({type(exc).__name__})"
            ) from None
        if finish == "content_filter":
            raise CloudProtocolError("cloud refused to answer (content_filter)")
        if not done and finish is None:
            raise CloudProtocolError(
                f"cloud stream was cut mid-way after {len(''.join(parts))} characters (no finish_reason, no [DONE])"
            )
        reply = self._reply("".join(parts), finish, model, usage, messages, attempts, start)
        yield CloudChunk("", dataclasses.replace(reply, tool_calls=tuple(calls[i] for i in sorted(calls))))


def _add_call_delta(calls: dict[int, dict[str, Any]], delta: Any) -> None:
    """OpenAI streams a call as deltas of one ``index``: id, type and name first, the arguments in pieces."""
    if not isinstance(delta, dict) or not isinstance(delta.get("index"), int):
        raise CloudProtocolError("cloud stream sent a tool_calls delta without an integer index")
    call = calls.setdefault(delta["index"], {"id": None, "type": "function", "function": {"name": "", "arguments": ""}})
    if isinstance(delta.get("id"), str):
        call["id"] = delta["id"]
    found = delta.get("function")
    function: dict[str, Any] = found if isinstance(found, dict) else {}
    for key in ("name", "arguments"):
        if isinstance(function.get(key), str):
            call["function"][key] += function[key]
