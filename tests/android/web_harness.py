"""What the browser tests need: Debian Chromium, the demo's npm packages, `edgekit serve` on 127.0.0.1, and the
playwright-core driver (tests/android/web_driver.mjs). Installs happen here, on first use, so CI needs no extra step:
apt-get install chromium (CI runs as root; skipped when /usr/bin/chromium exists) and `npm ci` from the committed
android_demo/web/package-lock.json (npm caches in ~/.npm)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
WEB = REPO / "android_demo" / "web"
DRIVER = Path(__file__).resolve().parent / "web_driver.mjs"
CHROMIUM = Path("/usr/bin/chromium")


def _run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


def ensure_chromium() -> Path:
    if CHROMIUM.exists():
        return CHROMIUM
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        from tests.fixtures.require import skip_or_fail

        skip_or_fail(
            "Chromium is not installed and this user cannot install it", "apt-get install -y chromium (as root)"
        )
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    cmd = ["apt-get", "install", "-y", "-q", "--no-install-recommends", "chromium"]
    if _run(cmd, env=env).returncode != 0:
        _run(["apt-get", "update", "-q"], env=env, check=True)
        proc = _run(cmd, env=env)
        if proc.returncode != 0:
            pytest.fail(f"apt-get install chromium failed:\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    return CHROMIUM


def ensure_node_modules() -> None:
    """npm ci when node_modules is missing or older than the lockfile."""
    if shutil.which("npm") is None or shutil.which("node") is None:
        pytest.fail("node/npm not found: apt-get install -y nodejs npm")
    lock = WEB / "package-lock.json"
    stamp = WEB / "node_modules" / ".package-lock.json"  # npm writes this on every install
    if stamp.is_file() and stamp.stat().st_mtime >= lock.stat().st_mtime:
        return
    proc = _run(["npm", "ci", "--no-audit", "--no-fund", "--prefer-offline"], cwd=WEB, timeout=600)
    if proc.returncode != 0:
        pytest.fail(f"npm ci in android_demo/web failed:\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def edgekit_serve(bundle: Path, *extra: str, web: bool = True, timeout: float = 180) -> Iterator[str]:
    """`edgekit serve BUNDLE [--web]` as a subprocess on 127.0.0.1; yields its base URL; always stopped."""
    port = free_port()
    exe = Path(sys.executable).with_name("edgekit")
    cmd = [str(exe), "serve", str(bundle), "--host", "127.0.0.1", "--port", str(port), "--threads", "1", *extra]
    if web:
        cmd.append("--web")
    log = tempfile.TemporaryFile("w+")  # the server's stderr, quoted if it dies
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=log, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                log.seek(0)
                detail = log.read()[-3000:]
                pytest.fail(f"edgekit serve exited with {proc.returncode}:\n{detail}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"edgekit serve did not listen on {url} within {timeout:.0f} s")
                time.sleep(0.25)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def run_driver(job: dict, timeout: float = 900) -> dict:
    import tempfile

    job = {"webRoot": str(WEB), "chromium": str(CHROMIUM), **job}
    # a file, not an argument: Linux caps one argument at 128 KiB (MAX_ARG_STRLEN) and the vectors are larger
    with tempfile.NamedTemporaryFile("w", suffix=".json", encoding="utf-8", delete=False) as f:
        json.dump(job, f)
    try:
        proc = _run(["node", str(DRIVER), f.name], timeout=timeout)
    finally:
        Path(f.name).unlink(missing_ok=True)
    if proc.returncode != 0 or not proc.stdout.strip().startswith("{"):
        pytest.fail(f"web driver failed (exit {proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    out = json.loads(proc.stdout)
    if out.get("error"):
        console = "\n".join(out.get("console", [])[-30:])
        pytest.fail(f"browser run failed: {out['error']}\nbrowser console:\n{console}", pytrace=False)
    return out


def png_is_not_blank(path: Path) -> tuple[bool, int]:
    """Decodes the PNG (zlib, stdlib only) and counts distinct pixel rows; a blank page has one."""
    import struct
    import zlib

    data = path.read_bytes()
    if not data.startswith(b"\x89PNG\r\n\x1a\n"):
        return False, 0
    pos, idat, width, height, bpp = 8, b"", 0, 0, 4
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        chunk = data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, color = struct.unpack(">IIBB", chunk[:10])
            bpp = {2: 3, 6: 4, 0: 1, 4: 2}.get(color, 4) * max(1, depth // 8)
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = width * bpp + 1
    colors: set[bytes] = set()
    prev = bytearray(width * bpp)
    for row in range(height):
        line = bytearray(raw[row * stride + 1 : (row + 1) * stride])
        ftype = raw[row * stride]
        for i in range(len(line)):  # undo PNG filters (RFC 2083 §6)
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if ftype == 1:
                line[i] = (line[i] + a) & 0xFF
            elif ftype == 2:
                line[i] = (line[i] + b) & 0xFF
            elif ftype == 3:
                line[i] = (line[i] + (a + b) // 2) & 0xFF
            elif ftype == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
        prev = line
        for x in range(0, len(line), bpp * 7):
            colors.add(bytes(line[x : x + bpp]))
    return len(colors) > 8, len(colors)
