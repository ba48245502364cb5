"""`edgekit serve --parallel N`: N requests generate at once, decoded together, each with the answer it gets
alone; the official openai client on 127.0.0.1, plain and streaming."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from edgekit.runtime import load
from edgekit.runtime.batching import DecodeBatcher
from edgekit.sdk.serve import serve_in_thread

from tests.sdk.serve_support import edgekit_serve_process, openai_client

QUESTIONS = ["Tell me a story.", "Count to ten.", "What is a ship?"]
TOKENS = 150  # long enough that every stream is still running when the last one starts, even on a busy machine


def _no_eos(model) -> dict:
    # the tiny model's random weights may pick eos at any step; every answer runs its full length instead
    return {"logit_bias": {str(int(e)): -100 for e in model.tokenizer.eos_ids}}


def _ask(client, model_id: str, question: str, stream: bool, extra: dict) -> tuple[str, float, float]:
    """(answer, time of the first content, time of the end)."""
    messages = [{"role": "user", "content": question}]
    kw = dict(model=model_id, messages=messages, max_tokens=TOKENS, temperature=0, extra_body=extra)
    if not stream:
        reply = client.chat.completions.create(**kw)
        now = time.monotonic()
        return reply.choices[0].message.content, now, now
    parts, first = [], None
    for chunk in client.chat.completions.create(stream=True, **kw):
        if chunk.choices and chunk.choices[0].delta.content:
            first = first or time.monotonic()
            parts.append(chunk.choices[0].delta.content)
    return "".join(parts), first or time.monotonic(), time.monotonic()


@pytest.mark.parametrize("stream", [False, True])
def test_parallel_requests_are_decoded_together_and_answer_as_alone(tiny_bundle, stream):
    bundle = tiny_bundle("gguf")
    model = load(bundle, threads=1, parallel=len(QUESTIONS))
    assert isinstance(model.backend, DecodeBatcher)
    extra = _no_eos(model)
    with serve_in_thread(model, parallel=len(QUESTIONS)) as server:
        client = openai_client(server)
        model_id = server.options.model_id
        alone = [_ask(client, model_id, q, stream, extra)[0] for q in QUESTIONS]
        calls_before = sum(n for size, n in model.backend.calls.items() if size > 1)
        results: list = [None] * len(QUESTIONS)

        def work(i: int) -> None:
            results[i] = _ask(client, model_id, QUESTIONS[i], stream, extra)

        threads = [threading.Thread(target=work, args=(i,)) for i in range(len(QUESTIONS))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        metrics = httpx.get(server.url + "/metrics").text
    assert [r[0] for r in results] == alone and all(alone)
    shared = {
        int(line.split('"')[1]): int(line.split()[-1])
        for line in metrics.splitlines()
        if line.startswith("edgekit_decode_calls_total{")
    }
    assert shared == dict(model.backend.calls) and any(size > 1 for size in shared), metrics
    batched = sum(n for size, n in model.backend.calls.items() if size > 1) - calls_before
    assert batched > 0, model.backend.calls  # the concurrent requests shared decode calls
    if stream:  # every stream had started before any of them ended: they ran at once, not in turn
        assert max(r[1] for r in results) < min(r[2] for r in results)


def test_cli_parallel_serves_requests_at_once(tiny_bundle):
    bundle = tiny_bundle("gguf")
    with edgekit_serve_process(bundle, "--parallel", "2") as served:
        model_id = httpx.get(served.url + "/v1/models").json()["data"][0]["id"]
        body = {"model": model_id, "max_tokens": TOKENS, "temperature": 0, "stream": True}
        spans: list = [None, None]

        def work(i: int) -> None:
            first = None
            with httpx.stream(
                "POST",
                served.url + "/v1/chat/completions",
                json={**body, "messages": [{"role": "user", "content": QUESTIONS[i]}]},
                timeout=60,
            ) as reply:
                assert reply.status_code == 200
                for line in reply.iter_lines():
                    if line.startswith("data: ") and first is None:
                        first = time.monotonic()
            spans[i] = (first, time.monotonic())

        threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
    assert all(spans) and max(s[0] for s in spans) < min(s[1] for s in spans), spans


@pytest.mark.parametrize("value", ["0", "33", "two"])
def test_cli_parallel_out_of_range_is_one_line(tiny_bundle, value):
    exe = Path(sys.executable).with_name("edgekit")
    proc = subprocess.run(
        [str(exe), "serve", str(tiny_bundle("gguf")), "--parallel", value], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 2 and "--parallel" in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
