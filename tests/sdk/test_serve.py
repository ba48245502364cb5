"""`edgekit serve` on a real tiny bundle, spoken to by the official openai client and by raw HTTP."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import openai
import pytest
from edgekit.sdk.serve import serve_in_thread
from edgekit.sdk.serve.server import model_id_for


@pytest.fixture(scope="module")
def server(tiny_local):
    with serve_in_thread(tiny_local) as srv:
        yield srv


def client(server, key="unused"):
    return openai.OpenAI(base_url=server.url + "/v1", api_key=key, max_retries=0, timeout=60)


def test_models_list(server):
    models = client(server).models.list()
    assert [m.id for m in models.data] == [server.options.model_id]


def test_chat_completion_matches_local_generate(server, tiny_local):
    msgs = [{"role": "user", "content": "What is 2 + 3?"}]
    reply = client(server).chat.completions.create(
        model=server.options.model_id, messages=msgs, max_tokens=6, temperature=0
    )
    local = tiny_local.generate(msgs, max_new_tokens=6, temperature=0.0)
    assert reply.choices[0].message.content == local.text
    assert reply.choices[0].finish_reason == ("length" if str(local.finish_reason) == "length" else "stop")
    assert reply.usage.completion_tokens == len(local.token_ids)
    assert reply.usage.prompt_tokens == local.prompt_tokens


def test_streaming_matches_non_streaming(server):
    c = client(server)
    msgs = [{"role": "user", "content": "Name a colour."}]
    plain = c.chat.completions.create(model=server.options.model_id, messages=msgs, max_tokens=6, temperature=0)
    stream = c.chat.completions.create(
        model=server.options.model_id,
        messages=msgs,
        max_tokens=6,
        temperature=0,
        stream=True,
        stream_options={"include_usage": True},
    )
    text, finish, usage = "", None, None
    for chunk in stream:
        if chunk.usage:
            usage = chunk.usage
        for choice in chunk.choices:
            text += choice.delta.content or ""
            finish = choice.finish_reason or finish
    assert text == plain.choices[0].message.content
    assert finish == plain.choices[0].finish_reason
    assert usage is not None and usage.completion_tokens == plain.usage.completion_tokens


def test_unknown_model_is_openai_not_found(server):
    with pytest.raises(openai.NotFoundError) as info:
        client(server).chat.completions.create(model="gpt-9", messages=[{"role": "user", "content": "hi"}])
    assert "does not exist" in str(info.value) and server.options.model_id in str(info.value)


@pytest.mark.parametrize(
    "body, message",
    [
        ({"messages": [{"role": "user", "content": "x"}]}, "must provide a model"),
        ({"messages": []}, "non-empty array"),
        ({"messages": [{"role": "wizard", "content": "x"}]}, "role must be one of"),
        ({"messages": [{"role": "user", "content": "x"}], "max_tokens": 0}, "max_tokens=0"),
        ({"messages": [{"role": "user", "content": "x"}], "temperature": 9}, "temperature=9"),
        ({"messages": [{"role": "user", "content": "x"}], "n": 3}, "n=3"),
    ],
)
def test_bad_requests_get_openai_shaped_400(server, body, message):
    body = (
        {"model": server.options.model_id, **body}
        if "model" not in body and message != "must provide a model"
        else body
    )
    r = httpx.post(server.url + "/v1/chat/completions", json=body)
    assert r.status_code == 400
    err = r.json()["error"]
    assert message in err["message"] and err["type"] == "invalid_request_error"


def test_bad_json_and_unknown_path(server):
    r = httpx.post(server.url + "/v1/chat/completions", content=b"{oops", headers={"content-type": "application/json"})
    assert r.status_code == 400 and "not valid JSON" in r.json()["error"]["message"]
    r = httpx.get(server.url + "/v1/nothing")
    assert r.status_code == 404 and r.json()["error"]["code"] == "unknown_url"


def test_context_overflow_is_context_length_exceeded(server, tiny_local):
    long = "word " * (tiny_local.max_context + 50)
    with pytest.raises(openai.BadRequestError) as info:
        client(server).chat.completions.create(
            model=server.options.model_id, messages=[{"role": "user", "content": long}]
        )
    assert info.value.code == "context_length_exceeded"


def test_bearer_token(tiny_local):
    with serve_in_thread(tiny_local, api_key="s3cret-token") as srv:
        with pytest.raises(openai.AuthenticationError):
            client(srv, key="wrong").models.list()
        assert client(srv, key="s3cret-token").models.list().data[0].id == srv.options.model_id


def test_cors_preflight_only_for_allowed_origins(server):
    r = httpx.options(server.url + "/v1/chat/completions", headers={"Origin": "http://localhost:5173"})
    assert r.status_code == 204 and r.headers["access-control-allow-origin"] == "http://localhost:5173"
    assert "Authorization" in r.headers["access-control-allow-headers"] and r.headers["vary"] == "Origin"
    r = httpx.options(server.url + "/v1/chat/completions", headers={"Origin": "http://phone.example"})
    assert r.status_code == 403 and "access-control-allow-origin" not in r.headers
    assert r.json()["error"]["code"] == "origin_not_allowed"


def test_web_static_and_bundle_files(tiny_local, tmp_path):
    web = tmp_path / "web"
    (web / "js").mkdir(parents=True)
    (web / "index.html").write_text("<html>demo</html>")
    (web / "js" / "app.js").write_text("export const x = 1;")
    wasm = web / "node_modules" / "onnxruntime-web" / "dist" / "ort-wasm-simd-threaded.wasm"
    wasm.parent.mkdir(parents=True)
    wasm.write_bytes(b"\0asm\x01\0\0\0")
    (web / "package.json").write_text("{}")
    (web / "node_modules" / "onnxruntime-web" / "package.json").write_text("{}")
    (tmp_path / "secret.txt").write_text("no")
    bundle = Path(tiny_local.bundle_dir)
    with serve_in_thread(tiny_local, web_root=web, bundle_dir=bundle) as srv:
        r = httpx.get(srv.url + "/")
        assert (
            r.status_code == 200 and r.text == "<html>demo</html>" and r.headers["content-type"].startswith("text/html")
        )
        assert httpx.get(srv.url + "/js/app.js").headers["content-type"].startswith("text/javascript")
        r = httpx.get(srv.url + "/node_modules/onnxruntime-web/dist/ort-wasm-simd-threaded.wasm")
        assert r.headers["content-type"] == "application/wasm" and r.content == b"\0asm\x01\0\0\0"
        manifest = httpx.get(srv.url + "/bundle/edgekit.json")
        assert manifest.status_code == 200 and manifest.json()["format"] == "edgekit-bundle"
        for entry in tiny_local.manifest.files:
            r = httpx.head(srv.url + "/bundle/" + entry.path)
            assert r.status_code == 200 and int(r.headers["content-length"]) == entry.size
        tok = httpx.get(srv.url + "/bundle/tokenizer.json")
        assert tok.headers["content-type"] == "application/json" and json.loads(tok.content)
        for bad in [
            "/../secret.txt",
            "/%2e%2e/secret.txt",
            "/bundle/../edgekit.json",
            "/bundle/not-listed.bin",
            "/nope.html",
            "/package.json",  # the folder's other files are not the app shell
            "/node_modules/onnxruntime-web/package.json",
        ]:
            assert httpx.get(srv.url + bad).status_code == 404, bad
        # the API still works next to the static files
        assert httpx.get(srv.url + "/v1/models").json()["data"][0]["id"] == model_id_for(tiny_local, bundle)


def test_default_web_root_is_the_repo_android_demo():
    from edgekit.sdk.serve.web import default_web_root

    root = default_web_root()
    assert root == Path(__file__).resolve().parents[2] / "android_demo" / "web"
