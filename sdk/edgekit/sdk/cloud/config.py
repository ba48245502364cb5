"""CloudConfig: where the cloud is, how long to wait, how often to retry.

The API key is never a field: only the *name* of the environment variable that
holds it (``api_key_env``). The key is read at request time, goes into the
``Authorization`` header and nowhere else (not into repr, logs, errors or
results), so a config object can be printed, logged and saved safely.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from edgekit.runtime.errors import ConfigError

__all__ = ["CloudConfig"]


@dataclass(frozen=True)
class CloudConfig:
    """An OpenAI-compatible chat-completions endpoint.

    ``base_url`` ends before ``/chat/completions`` (e.g. ``https://api.openai.com/v1``
    or ``http://127.0.0.1:8080/v1``). ``api_key_env=None`` sends no key (a local
    server without auth).

    Retries: ``max_retries`` extra attempts after the first, on 429, 5xx,
    connection errors and connect timeouts, with exponential backoff
    ``min(backoff_max, backoff_base * 2**attempt)`` and full jitter (the AWS
    Architecture Blog's "Exponential Backoff And Jitter"); a 429's Retry-After
    is honoured when it is at most ``max_retry_after`` seconds, else the call
    fails at once. Read timeouts are not retried: the cloud had the request and
    another wait of ``read_timeout`` is worse than the local answer.

    Deadline: ``deadline`` seconds of wall-clock time for one whole call (every
    retry and backoff, every read of the answer, a streamed answer to its end);
    ``None`` for none. ``read_timeout`` alone bounds each wait for the next bytes,
    not the call: a cloud that trickles bytes or sends only SSE keep-alives would
    hold the caller indefinitely. 30 s is several times a normal 512-token answer
    at typical hosted-model speeds and still short enough that the device's own
    answer is the better outcome past it; a per-call value overrides it.

    Circuit breaker: after ``breaker_failures`` consecutive failed calls, the
    cloud is not tried for ``breaker_cooldown`` seconds; then one trial call
    decides whether it closes again.
    """

    base_url: str
    model: str
    api_key_env: str | None = "OPENAI_API_KEY"
    connect_timeout: float = 5.0
    read_timeout: float = 60.0
    deadline: float | None = 30.0
    max_retries: int = 2
    backoff_base: float = 0.5
    backoff_max: float = 8.0
    max_retry_after: float = 20.0
    breaker_failures: int = 5
    breaker_cooldown: float = 30.0
    max_tokens: int | None = 512
    temperature: float | None = None
    extra_headers: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.base_url, str) or not self.base_url.startswith(("http://", "https://")):
            raise ConfigError(
                f"CloudConfig.base_url {self.base_url!r} is not an http(s) URL; "
                "pass the API root, e.g. https://api.openai.com/v1 or http://127.0.0.1:8080/v1"
            )
        if not self.model:
            raise ConfigError("CloudConfig.model is empty; pass the cloud model name, e.g. gpt-4o-mini")
        for name in ("connect_timeout", "read_timeout"):
            value = getattr(self, name)
            if not value > 0:
                raise ConfigError(f"CloudConfig.{name}={value!r} must be > 0 seconds")
        if self.deadline is not None and not self.deadline > 0:
            raise ConfigError(f"CloudConfig.deadline={self.deadline!r} must be > 0 seconds (or None for no deadline)")
        for name in ("max_retries", "breaker_failures"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 0:
                raise ConfigError(f"CloudConfig.{name}={value!r} must be an integer >= 0")
        for name in ("backoff_base", "backoff_max", "max_retry_after", "breaker_cooldown"):
            value = getattr(self, name)
            if value < 0:
                raise ConfigError(f"CloudConfig.{name}={value!r} must be >= 0 seconds")
        if self.max_tokens is not None and self.max_tokens <= 0:
            raise ConfigError(f"CloudConfig.max_tokens={self.max_tokens!r} must be > 0 or None")
        lower = {k.lower() for k in self.extra_headers}
        if "authorization" in lower:
            raise ConfigError(
                "CloudConfig.extra_headers must not carry Authorization: put the key in an environment "
                "variable and name it with api_key_env, so it never lands in configs or logs"
            )

    @property
    def chat_url(self) -> str:
        return self.base_url.rstrip("/") + "/chat/completions"

    def api_key(self) -> str | None:
        """The key from the environment (None when api_key_env is None)."""
        if self.api_key_env is None:
            return None
        key = os.environ.get(self.api_key_env)
        if not key:
            raise ConfigError(
                f"environment variable {self.api_key_env} is not set; export the cloud API key there, "
                "or pass api_key_env=None for a server without auth"
            )
        return key

    def describe(self) -> dict[str, object]:
        """A loggable summary (names the key's variable, never its value)."""
        return {"base_url": self.base_url, "model": self.model, "api_key_env": self.api_key_env}
