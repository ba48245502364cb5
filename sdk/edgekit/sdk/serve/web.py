"""Static files for `edgekit serve --web`: the phone web demo and the bundle it loads.

Only the app shell (``APP_SHELL``: the page, its scripts, styles, icons and the few
npm library files the page really loads) and only the bundle files the manifest lists
(plus edgekit.json) are served; everything else in the folder (package.json, the rest
of node_modules/) is a 404. Paths are resolved and must stay inside their root (no
``..`` escapes, no symlinks out).
"""

from __future__ import annotations

import mimetypes
from pathlib import Path
from urllib.parse import unquote

from edgekit.runtime.manifest import MANIFEST_NAME, Manifest

__all__ = ["APP_SHELL", "app_shell_path", "content_type", "default_web_root", "resolve_static", "resolve_bundle_file"]

# What android_demo/web/index.html loads: its own files, the import map's four libraries, and what
# onnxruntime-web's ort.wasm.min.mjs fetches from wasmPaths (the SIMD build, js/engine.js). The same list is the
# service worker's SHELL (sw.js; a test keeps them equal). These are public even with an API key: a browser fetches
# them before it can know the key.
APP_SHELL = frozenset(
    {
        "index.html",
        "app.css",
        "manifest.webmanifest",
        "sw.js",
        "icons/icon.svg",
        "icons/icon-192.png",
        "icons/icon-512.png",
        "js/app.js",
        "js/engine.js",
        "js/bundle.js",
        "js/chat.js",
        "js/sampler.js",
        "js/signals.js",
        "js/answers.js",
        "js/policy.js",
        "js/redaction.js",
        "js/cloud.js",
        "js/settings.js",
        "js/grammar.js",
        "js/tool_grammar.js",
        "js/tool_prompt.js",
        "js/tool_stream.js",
        "js/demo_tools.js",
        "node_modules/onnxruntime-web/dist/ort.wasm.min.mjs",
        "node_modules/onnxruntime-web/dist/ort-wasm-simd-threaded.mjs",
        "node_modules/onnxruntime-web/dist/ort-wasm-simd-threaded.wasm",
        "node_modules/@huggingface/tokenizers/dist/tokenizers.min.mjs",
        "node_modules/@huggingface/jinja/dist/index.js",
        "node_modules/@mlc-ai/web-xgrammar/lib/index.js",
    }
)

# mimetypes depends on the host's /etc/mime.types; these must be right everywhere (WASM streaming compile
# needs application/wasm; module scripts need a JavaScript MIME type, RFC 9239).
_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".wasm": "application/wasm",
    ".onnx": "application/octet-stream",
    ".data": "application/octet-stream",
    ".bin": "application/octet-stream",
    ".txt": "text/plain; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".webmanifest": "application/manifest+json",
    ".jinja": "text/plain; charset=utf-8",
}


def content_type(path: str | Path) -> str:
    suffix = Path(path).suffix.lower()
    if suffix in _TYPES:
        return _TYPES[suffix]
    guessed, _ = mimetypes.guess_type(str(path))
    return guessed or "application/octet-stream"


def default_web_root() -> Path:
    """android_demo/web/ of the repository this package lives in."""
    import edgekit.sdk

    return Path(edgekit.sdk.__file__).resolve().parents[3] / "android_demo" / "web"


def _inside(root: Path, rel: str) -> Path | None:
    rel = unquote(rel).lstrip("/")
    if "\x00" in rel:
        return None
    root = root.resolve()
    target = (root / rel).resolve()
    if target != root and root not in target.parents:
        return None
    return target


def app_shell_path(url_path: str) -> str | None:
    """The APP_SHELL entry a URL path names (``/`` is index.html), or None."""
    rel = unquote(url_path).lstrip("/")
    rel = rel or "index.html"
    return rel if rel in APP_SHELL else None


def resolve_static(web_root: Path, url_path: str) -> Path | None:
    """The app-shell file for a URL path under the web root, or None (not in APP_SHELL, or missing)."""
    rel = app_shell_path(url_path)
    if rel is None:
        return None
    target = _inside(web_root, rel)
    return target if target is not None and target.is_file() else None


def resolve_bundle_file(bundle_dir: Path, manifest: Manifest, rel: str) -> Path | None:
    """A bundle file by its manifest path, or None when the manifest does not list it."""
    rel = unquote(rel).lstrip("/")
    allowed = {entry.path for entry in manifest.files} | {MANIFEST_NAME}
    if rel not in allowed:
        return None
    target = _inside(bundle_dir, rel)
    return target if target is not None and target.is_file() else None
