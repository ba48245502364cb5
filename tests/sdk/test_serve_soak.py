"""A bounded soak of `edgekit serve` as a subprocess on 127.0.0.1 (about 60 s): plain, streaming,
mid-stream-disconnecting, idle and bad-JSON clients at once. Every request is answered or refused cleanly
(a 503 JSON error when the pool is full), the server's RSS after the run is within 24 MiB of its RSS after
warm-up (no per-request leak: the ~1,000 requests of the soak would leak far more), and SIGTERM then exits 0."""

from __future__ import annotations

import json
import signal
import socket
import threading
import time
from collections import Counter

import httpx
import openai
import pytest

from tests.sdk.serve_support import edgekit_serve_process, host_port

pytestmark = pytest.mark.slow

WARMUP_S = 15.0
SOAK_S = 40.0
RSS_TOLERANCE_KIB = 24 * 1024  # allocator noise and onnxruntime arenas settle within this after warm-up


def test_mixed_clients_soak(tiny_bundle):
    with edgekit_serve_process(tiny_bundle("int8"), "--workers", "6", "--queue", "8", "--idle-timeout", "2") as served:
        url = served.url
        model_id = httpx.get(url + "/v1/models").json()["data"][0]["id"]
        outcomes: Counter = Counter()
        problems: list[str] = []
        lock = threading.Lock()
        stop_at = [time.monotonic() + WARMUP_S + SOAK_S]

        def note(kind: str, problem: str | None = None) -> None:
            with lock:
                outcomes[kind] += 1
                if problem:
                    problems.append(problem)

        def refused(status: int, body: bytes) -> bool:
            return status == 503 and json.loads(body)["error"]["code"] == "server_busy"

        def plain() -> None:
            c = openai.OpenAI(base_url=url + "/v1", api_key="x", max_retries=0, timeout=60)
            while time.monotonic() < stop_at[0]:
                try:
                    r = c.chat.completions.create(
                        model=model_id, messages=[{"role": "user", "content": "hi"}], max_tokens=8
                    )
                    note("plain", None if r.choices[0].message.content is not None else "plain: no content")
                except openai.APIStatusError as exc:
                    note("refused", None if exc.status_code == 503 else f"plain: {exc.status_code} {exc.body}")

        def streaming(leave_early: bool) -> None:
            body = {
                "model": model_id,
                "messages": [{"role": "user", "content": "hi"}],
                "max_tokens": 40,
                "stream": True,
            }
            while time.monotonic() < stop_at[0]:
                with httpx.stream("POST", url + "/v1/chat/completions", json=body, timeout=60) as r:
                    if r.status_code != 200:
                        r.read()
                        note("refused", None if refused(r.status_code, r.content) else f"stream: {r.status_code}")
                        continue
                    lines = [line for line in r.iter_lines() if line][: 3 if leave_early else None]
                    if leave_early:
                        note("left", None if lines and lines[0].startswith("data: ") else f"left: {lines}")
                        continue  # leaving the with-block closes the connection mid-stream
                note("stream", None if lines[-1] == "data: [DONE]" else f"stream ended with {lines[-1]!r}")

        def idle() -> None:
            host, port = host_port(url)
            while time.monotonic() < stop_at[0]:
                with socket.create_connection((host, port), timeout=10) as sock:
                    data = sock.recv(4096)  # the server closes an idle socket after --idle-timeout
                    note("idle", None if data == b"" or b" 503 " in data[:20] else f"idle got {data[:60]!r}")

        def bad_json() -> None:
            while time.monotonic() < stop_at[0]:
                r = httpx.post(url + "/v1/chat/completions", content=b'{"model": "x", "messages": [', timeout=30)
                ok = r.status_code == 400 or refused(r.status_code, r.content)
                note("bad", None if ok else f"bad json: {r.status_code} {r.text[:100]}")
                time.sleep(0.05)

        clients = [plain, plain, lambda: streaming(False), lambda: streaming(True), idle, idle, bad_json]
        threads = [threading.Thread(target=fn, daemon=True) for fn in clients]
        for t in threads:
            t.start()
        time.sleep(WARMUP_S)
        warm = served.rss_kib()
        for t in threads:
            t.join(SOAK_S + 60)
        end = served.rss_kib()
        assert httpx.get(url + "/health", timeout=10).status_code == 200
        metrics = httpx.get(url + "/metrics", timeout=10).text
        served.proc.send_signal(signal.SIGTERM)
        rc = served.proc.wait(timeout=60)
        log = served.stderr()
    print(f"\nsoak outcomes {dict(outcomes)}; RSS warm {warm / 1024:.1f} MiB, end {end / 1024:.1f} MiB")
    assert not problems, problems[:5]
    assert all(outcomes[k] > 0 for k in ("plain", "stream", "left", "idle", "bad")), outcomes
    assert end - warm <= RSS_TOLERANCE_KIB, f"RSS grew {(end - warm) / 1024:.1f} MiB after warm-up"
    assert rc == 0 and "Traceback" not in log and "terminate called" not in log, log[-2000:]
    assert "edgekit_cancelled_total" in metrics
