"""Static files for `edgekit serve --web`: the phone web demo and the bundle it loads.

Only files under the web root, and only the bundle files the manifest lists
(plus edgekit.json), are served; paths are resolved and must stay inside their
root (no ``..`` escapes, no symlinks out).
"""

from __future__ import annotations

import mimetypes
from pathlib import Path
from urllib.parse import unquote

from edgekit.runtime.manifest import MANIFEST_NAME, Manifest

__all__ = ["content_type", "default_web_root", "resolve_static", "resolve_bundle_file"]

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


def resolve_static(web_root: Path, url_path: str) -> Path | None:
    """The file for a URL path under the web root (``/`` and folders give index.html), or None."""
    target = _inside(web_root, url_path)
    if target is None:
        return None
    if target.is_dir():
        target = target / "index.html"
    return target if target.is_file() else None


def resolve_bundle_file(bundle_dir: Path, manifest: Manifest, rel: str) -> Path | None:
    """A bundle file by its manifest path, or None when the manifest does not list it."""
    rel = unquote(rel).lstrip("/")
    allowed = {entry.path for entry in manifest.files} | {MANIFEST_NAME}
    if rel not in allowed:
        return None
    target = _inside(bundle_dir, rel)
    return target if target is not None and target.is_file() else None
