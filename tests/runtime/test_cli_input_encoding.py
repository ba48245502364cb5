"""Text that is not UTF-8 (argv bytes, stdin) is refused with one line naming the byte, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from edgekit.sdk.cli.text_input import InputEncodingError, checked_text, decode_text

EDGEKIT = Path(sys.executable).with_name("edgekit")


def edgekit(*args, input: bytes | None = None, lang: str = "C.UTF-8") -> subprocess.CompletedProcess:
    env = {**os.environ, "LANG": lang, "LC_ALL": lang}
    argv = [str(EDGEKIT)] + [a if isinstance(a, bytes) else str(a) for a in args]
    return subprocess.run(argv, input=input, capture_output=True, timeout=120, env=env)


def one_error_line(proc: subprocess.CompletedProcess) -> str:
    err = proc.stderr.decode("utf-8", "replace")
    assert proc.returncode == 1, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), err
    return lines[0]


def test_checked_text_names_the_first_bad_byte():
    escaped = b"caf\xe9 \xff".decode("utf-8", "surrogateescape")  # what sys.argv holds
    with pytest.raises(InputEncodingError, match=r"byte 0xe9 at byte offset 3 \(2 invalid bytes in all\).*iconv"):
        checked_text(escaped, "the prompt")
    assert checked_text("café ✓", "the prompt") == "café ✓"
    with pytest.raises(InputEncodingError, match="byte 0x80 at byte offset 5"):
        decode_text("ü ok".encode() + b"\x80", "stdin")


def test_run_refuses_non_utf8_argv(toy_bundle):
    line = one_error_line(edgekit("run", toy_bundle, b"caf\xe9 \xff"))
    assert "the prompt is not valid UTF-8: byte 0xe9 at byte offset 3" in line


def test_run_refuses_non_utf8_system(toy_bundle):
    line = one_error_line(edgekit("run", toy_bundle, "--system", b"\xff", "hi"))
    assert "--system is not valid UTF-8: byte 0xff" in line


@pytest.mark.parametrize("lang", ["C.UTF-8", "en_US.UTF-8"])  # surrogateescape vs strict stdin in Python
def test_run_refuses_non_utf8_stdin(toy_bundle, lang):
    line = one_error_line(edgekit("run", toy_bundle, input=b"caf\xe9\n", lang=lang))
    assert "the prompt on stdin is not valid UTF-8: byte 0xe9 at byte offset 3" in line


@pytest.mark.parametrize("lang", ["C.UTF-8", "en_US.UTF-8"])
def test_chat_skips_a_bad_line_and_answers_the_next(toy_bundle, lang):
    proc = edgekit("chat", toy_bundle, "-n", "3", input=b"caf\xe9\nhello\n", lang=lang)
    err = proc.stderr.decode("utf-8", "replace")
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    assert "that line is not valid UTF-8: byte 0xe9 at byte offset 3" in err
    assert proc.stdout.strip(), "the valid line after the bad one was answered"


def test_valid_utf8_argv_still_runs(toy_bundle):
    proc = edgekit("run", toy_bundle, "café", "-n", "2")
    assert proc.returncode == 0, proc.stderr.decode()
