"""Host and Origin checks (DNS rebinding, cross-site pages), CORS only for allowed origins, the API key over the
whole --web surface except the app shell, and an app shell that is an allow-list (no package.json, no
node_modules beyond what the page loads). Real server on 127.0.0.1."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from edgekit.sdk.serve import serve_in_thread
from edgekit.sdk.serve.web import APP_SHELL, default_web_root

from tests.sdk.serve_support import assert_openai_error, raw_request

KEY = "s3cret-web-key"


@pytest.fixture(scope="module")
def server(tiny_local):
    with serve_in_thread(tiny_local, allowed_origins=("https://app.example",)) as srv:
        yield srv


def _get(server, path, host=None, origin=None):
    port = server.server_address[1]
    head = f"GET {path} HTTP/1.1\r\nHost: {host or f'127.0.0.1:{port}'}\r\n"
    if origin:
        head += f"Origin: {origin}\r\n"
    return raw_request(server.url, (head + "\r\n").encode())


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8080", "attacker.localhost.evil.com", "a b", "[::1"])
def test_foreign_host_is_refused_as_dns_rebinding(server, host):
    err = assert_openai_error(_get(server, "/v1/models", host=host), 403)
    assert err["code"] == "host_not_allowed"


@pytest.mark.parametrize(
    "host", ["127.0.0.1:{port}", "localhost:{port}", "[::1]:{port}", "192.168.1.7:{port}", "app.example", "127.0.0.1"]
)
def test_loopback_ip_literal_and_allowed_hosts_are_served(server, host):
    reply = _get(server, "/v1/models", host=host.format(port=server.server_address[1]))
    assert reply.status == 200, reply.body


def test_cors_only_for_allowed_origins(server):
    for origin in ["http://localhost:3000", "http://127.0.0.1:9999", "https://app.example"]:
        reply = _get(server, "/v1/models", origin=origin)
        assert reply.status == 200 and reply.headers["access-control-allow-origin"] == origin
        assert reply.headers["vary"] == "Origin"
    for origin in ["https://evil.example", "null", "http://localhost.evil.example"]:
        reply = _get(server, "/v1/models", origin=origin)
        assert_openai_error(reply, 403)
        assert "access-control-allow-origin" not in reply.headers
    # a same-origin page on a LAN address (the web demo opened at http://192.168.1.7:PORT)
    port = server.server_address[1]
    reply = _get(server, "/v1/models", host=f"192.168.1.7:{port}", origin=f"http://192.168.1.7:{port}")
    assert reply.status == 200
    # no Origin (curl, SDKs): no CORS headers at all
    assert "access-control-allow-origin" not in _get(server, "/v1/models").headers


def test_allow_origin_star_opens_cors(tiny_local):
    with serve_in_thread(tiny_local, allowed_origins=("*",)) as srv:
        r = httpx.get(srv.url + "/v1/models", headers={"Origin": "https://anything.example"})
        assert r.status_code == 200 and r.headers["access-control-allow-origin"] == "https://anything.example"


@pytest.fixture
def web_server(tiny_local, tmp_path):
    web = tmp_path / "web"
    for rel in APP_SHELL:
        (web / rel).parent.mkdir(parents=True, exist_ok=True)
        (web / rel).write_text(f"/* {rel} */")
    (web / "package.json").write_text('{"name": "x"}')
    (web / "node_modules" / "onnxruntime-web" / "package.json").write_text("{}")
    (web / "node_modules" / "other-lib" / "index.js").parent.mkdir(parents=True)
    (web / "node_modules" / "other-lib" / "index.js").write_text("x")
    policy = tmp_path / "policy.json"
    policy.write_text('{"format": "edgekit-policy"}')
    with serve_in_thread(
        tiny_local, api_key=KEY, web_root=web, bundle_dir=Path(tiny_local.bundle_dir), policy_file=policy
    ) as srv:
        yield srv


def test_key_guards_weights_and_policy_but_not_the_app_shell(web_server, tiny_local):
    url = web_server.url
    auth = {"Authorization": f"Bearer {KEY}"}
    for rel in sorted(APP_SHELL):
        assert httpx.get(f"{url}/{rel}").status_code == 200, rel
    assert httpx.get(url + "/").text == "/* index.html */"
    protected = [
        "/bundle/edgekit.json",
        "/policy.json",
        *(f"/bundle/{e.path}" for e in tiny_local.manifest.files),
        "/v1/models",
        "/metrics",
    ]
    for path in protected:
        r = httpx.get(url + path)
        assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_api_key", path
        assert httpx.head(url + path, headers=auth).status_code == 200, path
    assert httpx.get(url + "/health").status_code == 200  # readiness probes carry no key
    for path in [
        "/package.json",
        "/node_modules/onnxruntime-web/package.json",
        "/node_modules/other-lib/index.js",
        "/js/",
        "/icons/",
    ]:
        assert httpx.get(url + path, headers=auth).status_code == 404, path


def test_app_shell_is_what_the_service_worker_caches_and_the_page_loads():
    root = default_web_root()
    sw = (root / "sw.js").read_text(encoding="utf-8")
    shell = set(re.findall(r"'([^']+)'", sw[sw.index("const SHELL") : sw.index("];", sw.index("const SHELL"))]))
    assert shell - {"./"} | {"sw.js"} == set(APP_SHELL)
    index = (root / "index.html").read_text(encoding="utf-8")
    for ref in re.findall(r'(?:href|src)="\.?/?([^"]+)"', index) + re.findall(r'"\./([^"]+)"', index):
        assert ref in APP_SHELL, f"index.html loads {ref}, which the server would not serve"
