"""`edgekit serve` never hangs or goes silent: clients that leave free the model at once, every malformed
request gets an OpenAI-shaped JSON error, idle sockets time out, and a full server answers 503 in JSON.
Real server on 127.0.0.1, real tiny model, raw sockets where a client library would hide the bytes."""

from __future__ import annotations

import json
import logging
import socket
import threading
import time

import httpx
import openai
import pytest
from edgekit.sdk.serve import serve_in_thread

from tests.sdk.serve_support import CountingModel, assert_openai_error, host_port, parse_reply, post_bytes, raw_request

LONG = 470  # tokens: the tiny bundle (512 context) generates this many without an eos, greedy


def _body(model_id: str, **extra) -> bytes:
    body = {"model": model_id, "messages": [{"role": "user", "content": "hi"}], "temperature": 0, **extra}
    return json.dumps(body).encode()


def _send_and_leave(url: str, body: bytes, counting: CountingModel) -> None:
    host, port = host_port(url)
    sock = socket.create_connection((host, port), timeout=10)
    head = f"POST /v1/chat/completions HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Length: {len(body)}\r\n\r\n"
    sock.sendall(head.encode() + body)
    assert counting.started.wait(30), "the generation never started"
    sock.close()  # the client gives up mid-generation


@pytest.mark.parametrize("stream", [False, True])
def test_client_that_leaves_stops_its_generation_and_frees_the_model(tiny_local, caplog, stream):
    counting = CountingModel(tiny_local)
    caplog.set_level(logging.INFO, logger="edgekit.sdk.serve")
    with serve_in_thread(counting) as srv:
        _send_and_leave(srv.url, _body(srv.options.model_id, max_tokens=LONG, stream=stream), counting)
        # the next caller gets the model right away, and the first generation stopped long before its end
        reply = openai.OpenAI(base_url=srv.url + "/v1", api_key="x", max_retries=0, timeout=60).chat.completions.create(
            model=srv.options.model_id, messages=[{"role": "user", "content": "next"}], max_tokens=3, temperature=0
        )
        assert reply.choices[0].message.content is not None
        assert counting.tokens < LONG, f"the abandoned generation ran {counting.tokens} tokens (to its end)"
        assert counting.finished == 1  # only the second request ran to completion
        metrics = httpx.get(srv.url + "/metrics").text
    assert "\nedgekit_cancelled_total 1\n" in metrics
    assert not [r for r in caplog.records if r.exc_info], "a client leaving must not log a traceback"
    assert any("client went away" in r.getMessage() for r in caplog.records)


def test_waiting_client_that_leaves_never_runs(tiny_local):
    counting = CountingModel(tiny_local)
    with serve_in_thread(counting) as srv:
        host, port = host_port(srv.url)
        first = threading.Thread(
            target=lambda: post_bytes(srv.url, "/v1/chat/completions", _body(srv.options.model_id, max_tokens=LONG))
        )
        first.start()
        assert counting.started.wait(30)
        body = _body(srv.options.model_id, max_tokens=LONG)
        waiting = socket.create_connection((host, port))
        waiting.sendall(
            f"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        waiting.close()  # leaves while queued behind the first generation
        first.join(60)
        time.sleep(0.5)
        assert counting.finished == 1 and counting.tokens == LONG  # the first ran to its end, the second never ran


@pytest.fixture(scope="module")
def server(tiny_local):
    with serve_in_thread(tiny_local) as srv:
        yield srv


def test_lone_surrogate_gets_a_json_400(server):
    body = b'{"model": "%s", "messages": [{"role": "user", "content": "x\\ud83dy"}]}' % server.options.model_id.encode()
    err = assert_openai_error(post_bytes(server.url, "/v1/chat/completions", body), 400)
    assert "surrogate" in err["message"] and "\\ud83d" in err["message"]


def test_deeply_nested_json_gets_a_json_400(server):
    body = b"[" * 200_000 + b"]" * 200_000
    err = assert_openai_error(post_bytes(server.url, "/v1/chat/completions", body), 400)
    assert "nested too deeply" in err["message"]


def test_invalid_utf8_and_non_object_bodies(server):
    assert (
        "not valid JSON"
        in assert_openai_error(post_bytes(server.url, "/v1/chat/completions", b'"\xff"'), 400)["message"]
    )
    assert "JSON object" in assert_openai_error(post_bytes(server.url, "/v1/chat/completions", b"[1]"), 400)["message"]


@pytest.mark.parametrize(
    "request_bytes, status",
    [
        (b"GARBAGE\r\n\r\n", 400),
        (b"PUT /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 501),
        (b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\n\r\n", 414),
        (b"GET /v1/models HTTP/1.1\r\nX-Big: " + b"b" * 70_000 + b"\r\n\r\n", 431),
        (b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 411),
        (b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 99999999\r\n\r\n{}", 413),
        (b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: -5\r\n\r\n", 400),
        (b"POST /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\n\r\n{}", 405),
    ],
)
def test_malformed_requests_get_openai_shaped_errors(server, request_bytes, status):
    assert_openai_error(raw_request(server.url, request_bytes), status)


def test_body_shorter_than_content_length_gets_408(tiny_local):
    with serve_in_thread(tiny_local, idle_timeout=0.5) as srv:
        reply = raw_request(srv.url, b"POST /v1/chat/completions HTTP/1.1\r\nContent-Length: 100\r\n\r\n{")
        assert_openai_error(reply, 408)


def test_idle_sockets_time_out_and_a_full_server_answers_503_json(tiny_local):
    before = threading.active_count()
    with serve_in_thread(tiny_local, workers=3, queue_size=2, idle_timeout=1.0) as srv:
        host, port = host_port(srv.url)
        idle = [socket.create_connection((host, port), timeout=5) for _ in range(30)]
        time.sleep(0.3)
        threads = threading.active_count() - before
        assert threads <= 3 + 1 + 1, f"{threads} threads for 30 idle sockets"  # workers + accept loop (+slack 1)
        # past workers + queue the server itself answered 503 with an OpenAI error; the sockets a worker or the
        # queue held are closed by the server after idle_timeout (EOF, no bytes)
        refused = closed = 0
        started = time.monotonic()
        for sock in idle:
            data = b""
            while block := sock.recv(4096):
                data += block
            if data:
                reply = parse_reply(data)
                assert reply.status == 503 and json.loads(reply.body)["error"]["code"] == "server_busy", data
                refused += 1
            else:
                closed += 1
        assert refused >= 30 - 3 - 2 and closed >= 1 and refused + closed == 30
        assert time.monotonic() - started < 10
        for sock in idle:
            sock.close()
        r = httpx.get(srv.url + "/v1/models", timeout=10)
        assert r.status_code == 200
        assert f"edgekit_rejected_busy_total {refused}" in httpx.get(srv.url + "/metrics", timeout=10).text
