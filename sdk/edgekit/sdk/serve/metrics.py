"""`GET /metrics`: counters in the Prometheus text exposition format, version 0.0.4
(https://prometheus.io/docs/instrumenting/exposition_formats/).

A handful of counters and one latency histogram do not justify a dependency (prometheus_client keeps a
process-global registry; two servers in one test process would share it). Thread-safe: handlers run on
pool threads.
"""

from __future__ import annotations

import bisect
import threading
from collections import defaultdict
from collections.abc import Mapping

__all__ = ["ServerMetrics", "CONTENT_TYPE"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# seconds; a phone/Pi answer takes from ~0.1 s (a refusal) to minutes (a long generation)
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)


def _labels(pairs: tuple[tuple[str, str], ...]) -> str:
    if not pairs:
        return ""
    escaped = (f'{k}="{v.replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"' for k, v in pairs)
    return "{" + ",".join(escaped) + "}"


class ServerMetrics:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: dict[tuple[tuple[str, str], ...], int] = defaultdict(int)
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.cancelled = 0
        self.rejected_busy = 0
        self.context_overflows = 0
        self._bucket_counts = [0] * (len(LATENCY_BUCKETS) + 1)
        self._latency_sum = 0.0
        self._latency_count = 0
        self.hybrid_routes: dict[str, int] = defaultdict(int)  # a hybrid server's answers by route

    def hybrid_answer(self, route: str) -> None:
        with self._lock:
            self.hybrid_routes[route] += 1

    def request(self, endpoint: str, status: int) -> None:
        with self._lock:
            self.requests[(("endpoint", endpoint), ("status", str(status)))] += 1

    def generation(self, prompt_tokens: int, completion_tokens: int, seconds: float, overflow: bool) -> None:
        with self._lock:
            self.prompt_tokens += prompt_tokens
            self.completion_tokens += completion_tokens
            self.context_overflows += int(overflow)
            self._bucket_counts[bisect.bisect_left(LATENCY_BUCKETS, seconds)] += 1
            self._latency_sum += seconds
            self._latency_count += 1

    def count(self, name: str) -> None:
        with self._lock:
            setattr(self, name, getattr(self, name) + 1)

    def render(self, generating: int, queued: int, decode_calls: Mapping[int, int] | None = None) -> str:
        """``decode_calls``: the model's decode calls by sequences per call (a batching backend's ``calls``)."""
        with self._lock:
            lines = [
                "# HELP edgekit_requests_total HTTP requests answered, by endpoint and status.",
                "# TYPE edgekit_requests_total counter",
            ]
            lines += [f"edgekit_requests_total{_labels(k)} {v}" for k, v in sorted(self.requests.items())]
            scalars = [
                ("edgekit_prompt_tokens_total", "counter", "Prompt tokens prefilled.", self.prompt_tokens),
                ("edgekit_completion_tokens_total", "counter", "Tokens generated.", self.completion_tokens),
                (
                    "edgekit_cancelled_total",
                    "counter",
                    "Generations stopped because the client left or the server shut down.",
                    self.cancelled,
                ),
                (
                    "edgekit_rejected_busy_total",
                    "counter",
                    "Connections refused with 503 (worker pool and queue full).",
                    self.rejected_busy,
                ),
                # a prompt that did not fit the context: the one local signal the hybrid client always escalates on
                (
                    "edgekit_escalation_signals_total",
                    "counter",
                    "Generations a hybrid client escalates whatever its policy (context overflow).",
                    self.context_overflows,
                ),
                ("edgekit_generating", "gauge", "Generations running now.", generating),
                ("edgekit_queued_connections", "gauge", "Accepted connections waiting for a worker.", queued),
            ]
            for name, kind, help_, value in scalars:
                lines += [f"# HELP {name} {help_}", f"# TYPE {name} {kind}", f"{name} {value}"]
            lines += [
                "# HELP edgekit_generation_seconds Wall time of a generation (prefill + decode).",
                "# TYPE edgekit_generation_seconds histogram",
            ]
            running = 0
            for bound, count in zip(LATENCY_BUCKETS, self._bucket_counts):
                running += count
                lines.append(f'edgekit_generation_seconds_bucket{{le="{bound}"}} {running}')
            lines.append(f'edgekit_generation_seconds_bucket{{le="+Inf"}} {self._latency_count}')
            lines.append(f"edgekit_generation_seconds_sum {self._latency_sum:.6f}")
            lines.append(f"edgekit_generation_seconds_count {self._latency_count}")
            if self.hybrid_routes:  # --cloud-url: where the answers came from (local, cloud, local_fallback)
                lines += [
                    "# HELP edgekit_hybrid_answers_total Chat answers of a hybrid server, by route.",
                    "# TYPE edgekit_hybrid_answers_total counter",
                ]
                lines += [
                    f'edgekit_hybrid_answers_total{{route="{route}"}} {count}'
                    for route, count in sorted(self.hybrid_routes.items())
                ]
            if decode_calls is not None:  # --parallel N: how often the concurrent generations shared a call
                lines += [
                    "# HELP edgekit_decode_calls_total Decode calls of the model, by sequences decoded in one call.",
                    "# TYPE edgekit_decode_calls_total counter",
                ]
                lines += [
                    f'edgekit_decode_calls_total{{sequences="{size}"}} {count}'
                    for size, count in sorted(dict(decode_calls).items())
                ]
        return "\n".join(lines) + "\n"
