"""`edgekit serve` as a subprocess: SIGINT/SIGTERM while a request is generating exits 0 (no abort, no
traceback), the streaming client gets an in-band error, a client waiting for the model a 503, and the
port is free afterwards."""

from __future__ import annotations

import json
import signal
import socket
import threading

import httpx
import pytest

from tests.sdk.serve_support import edgekit_serve_process, host_port


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_during_generation_stops_cleanly(tiny_bundle, sig):
    bundle = tiny_bundle("int8")
    with edgekit_serve_process(bundle) as served:
        model_id = httpx.get(served.url + "/v1/models").json()["data"][0]["id"]
        body = {"model": model_id, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 470, "temperature": 0}
        waiting: dict = {}

        def wait_behind() -> None:
            try:
                waiting["status"] = httpx.post(served.url + "/v1/chat/completions", json=body, timeout=60).status_code
            except httpx.HTTPError as exc:
                waiting["status"] = type(exc).__name__

        events = []
        with httpx.stream("POST", served.url + "/v1/chat/completions", json={**body, "stream": True}, timeout=60) as r:
            lines = r.iter_lines()
            for line in lines:
                if line.startswith("data: "):
                    events.append(line)
                    break  # generating now
            behind = threading.Thread(target=wait_behind)
            behind.start()
            served.proc.send_signal(sig)
            events += [line for line in lines if line.startswith("data: ")]
        rc = served.proc.wait(timeout=60)
        behind.join(30)
        log = served.stderr()
    assert rc == 0, log
    assert "terminate called" not in log and "Traceback" not in log, log
    assert events[-1] != "data: [DONE]" and "server_shutting_down" in events[-1], events[-3:]
    finish = [json.loads(e[6:]) for e in events if e.startswith("data: {")]
    assert all(not c.get("choices") or c["choices"][0]["finish_reason"] is None for c in finish[:-1])
    # the request waiting for the model was told, or (if it arrived after the listener closed) refused
    assert waiting["status"] in (503, "ConnectError", "RemoteProtocolError", "ReadError"), waiting
    host, port = host_port(served.url)
    with pytest.raises(OSError), socket.create_connection((host, port), timeout=2):
        pass
