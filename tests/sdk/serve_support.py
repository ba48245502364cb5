"""Helpers for the `edgekit serve` tests: raw HTTP over a socket, a token-counting view of a real model, and
`edgekit serve` as a subprocess on 127.0.0.1."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx


@dataclass
class RawReply:
    status: int  # 0: the server closed without a status line
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def host_port(url: str) -> tuple[str, int]:
    rest = url.split("//", 1)[1]
    host, port = rest.rsplit(":", 1)
    return host, int(port)


def raw_request(url: str, data: bytes, timeout: float = 10.0) -> RawReply:
    """Send bytes as-is, read until the server closes (the server speaks HTTP/1.0 style: one reply, close)."""
    with socket.create_connection(host_port(url), timeout=timeout) as sock:
        sock.sendall(data)
        chunks = []
        try:
            while block := sock.recv(65536):
                chunks.append(block)
        except ConnectionResetError:
            pass
    return parse_reply(b"".join(chunks))


def parse_reply(raw: bytes) -> RawReply:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    if not lines or not lines[0].startswith("HTTP/1."):
        return RawReply(0, {}, raw)
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return RawReply(status, headers, body)


def post_bytes(url: str, path: str, body: bytes, extra_headers: str = "", timeout: float = 10.0) -> RawReply:
    host, port = host_port(url)
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n{extra_headers}\r\n"
    )
    return raw_request(url, head.encode() + body, timeout)


def assert_openai_error(reply: RawReply, status: int) -> dict:
    assert reply.status == status, (reply.status, reply.body[:300])
    assert reply.headers.get("content-type", "").startswith("application/json"), reply.headers
    err = reply.json()["error"]
    assert set(err) == {"message", "type", "param", "code"} and err["message"], err
    return err


class CountingModel:
    """The real model, with a count of the tokens its streams produced (to see a generation stop early)."""

    def __init__(self, model: Any):
        self._model = model
        self.tokens = 0
        self.started = threading.Event()
        self.finished = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._model, name)

    def stream(self, *args: Any, **kwargs: Any) -> Iterator[Any]:
        inner = self._model.stream(*args, **kwargs)

        def counted() -> Iterator[Any]:
            try:
                for piece in inner:
                    if piece.token is not None:
                        self.tokens += 1
                        self.started.set()
                    if piece.result is not None:
                        self.finished += 1
                    yield piece
            finally:
                inner.close()

        return counted()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class ServeProcess:
    proc: subprocess.Popen
    url: str
    log: Any

    def stderr(self) -> str:
        self.log.seek(0)
        return self.log.read()

    def rss_kib(self) -> int:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise AssertionError("no VmRSS in /proc status")


@contextmanager
def edgekit_serve_process(bundle: Path, *extra: str, timeout: float = 120) -> Iterator[ServeProcess]:
    """`edgekit serve BUNDLE` on 127.0.0.1; ready when /health says 200; killed if still running at the end."""
    port = free_port()
    exe = Path(sys.executable).with_name("edgekit")
    cmd = [str(exe), "serve", str(bundle), "--host", "127.0.0.1", "--port", str(port), "--threads", "1", *extra]
    log = tempfile.TemporaryFile("w+")
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=log, text=True, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                log.seek(0)
                raise AssertionError(f"edgekit serve exited with {proc.returncode}:\n{log.read()[-3000:]}")
            try:
                if httpx.get(url + "/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"edgekit serve was not ready at {url} within {timeout:.0f} s")
            time.sleep(0.1)
        yield ServeProcess(proc, url, log)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()


STORY = [{"role": "user", "content": "Tell me a story."}]


def openai_client(server: Any) -> Any:
    """The official client against a test server on 127.0.0.1 (no retries: a failure shows at once)."""
    import openai

    return openai.OpenAI(base_url=server.url + "/v1", api_key="unused", max_retries=0, timeout=60)


def story_chat(server: Any, **kw: Any) -> Any:
    """One chat completion of the STORY prompt with the request fields ``kw``."""
    return openai_client(server).chat.completions.create(model=server.options.model_id, messages=STORY, **kw)
