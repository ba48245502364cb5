"""edgekit run / chat / info with good and bad input: clean messages, non-zero exit, never a traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from edgekit.sdk.cli import main
from edgekit.sdk.cli.chat_cmd import chat_loop

from .test_generation import expected_answer


def invoke(*args, input=None):
    return CliRunner().invoke(main, list(map(str, args)), input=input)


def assert_clean_failure(result, message):
    assert result.exit_code != 0
    assert message in result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


# -- run ---------------------------------------------------------------------------------------------
def test_run_streams_the_answer(toy_bundle):
    result = invoke("run", toy_bundle, "hello", "-n", "40")
    assert result.exit_code == 0, result.output
    assert result.stdout == expected_answer(24).decode() + "\n"


def test_run_json_has_the_full_result(toy_bundle):
    result = invoke("run", toy_bundle, "hello", "-n", "5", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["token_ids"] == list(expected_answer(24)[:5])
    assert data["finish_reason"] == "length" and data["prompt_tokens"] == 24
    assert set(data["confidence"]) >= {"mean_logprob", "min_logprob", "max_window_entropy"}
    assert len(data["tokens"]) == 5 and {"logprob", "entropy"} <= set(data["tokens"][0])


def test_run_options_reach_generation(toy_bundle):
    result = invoke("run", toy_bundle, "hello", "-n", "40", "--stop", "END", "--stats")
    assert result.exit_code == 0
    full = expected_answer(24).decode()
    assert result.stdout == full[: full.index("END")] + "\n"
    assert "[stop]" in result.stderr and "tok/s" in result.stderr


def test_run_reads_stdin_and_raw(toy_bundle):
    result = invoke("run", toy_bundle, "--raw", "-n", "4", "--json", input="x" * 22)
    assert result.exit_code == 0, result.output
    assert bytes(json.loads(result.stdout)["token_ids"]) == expected_answer(22)[:4]


@pytest.mark.parametrize(
    "args, message",
    [
        (["hello", "-n", "50"], "exceed the bundle's max context (64 tokens)"),
        (["hello", "--temperature", "-1"], "--temperature -1.0 is invalid"),
        (["hello", "--context-policy", "nope"], "Invalid value for '--context-policy'"),
        (["hello", "--raw", "--system", "x"], "--system needs the chat template"),
    ],
)
def test_run_bad_options(toy_bundle, args, message):
    assert_clean_failure(invoke("run", toy_bundle, *args), message)


def test_run_signal_policy_exits_cleanly(toy_bundle):
    result = invoke("run", toy_bundle, "hello", "-n", "50", "--context-policy", "signal", "--json")
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert data["finish_reason"] == "context" and data["context_overflow"] is True


def test_run_missing_bundle(tmp_path):
    assert_clean_failure(invoke("run", tmp_path / "nope", "hi"), "does not exist")


def test_run_tampered_bundle(fresh_toy_bundle):
    path = fresh_toy_bundle / "model.onnx"
    path.write_bytes(path.read_bytes()[:-1] + b"\0")
    assert_clean_failure(invoke("run", fresh_toy_bundle, "hi"), "'model.onnx' fails its sha256 check")


def test_run_in_a_real_process_has_no_traceback(tmp_path):
    edgekit = Path(sys.executable).with_name("edgekit")
    out = subprocess.run([str(edgekit), "run", str(tmp_path), "hi"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 1
    assert "has no edgekit.json" in out.stderr and "Traceback" not in out.stderr


# -- chat -----------------------------------------------------------------------------------------------
def test_chat_multi_turn_reset_exit(toy_bundle, toy_model):
    result = invoke("chat", toy_bundle, "-n", "3", input="hello\nhi\n/reset\nhi\n/exit\nnever\n")
    assert result.exit_code == 0, result.output
    first = toy_model.generate([{"role": "user", "content": "hello"}], max_new_tokens=3).text
    history = [
        {"role": "user", "content": "hello"},
        {"role": "assistant", "content": first},
        {"role": "user", "content": "hi"},
    ]
    second = toy_model.generate(history, max_new_tokens=3, context_policy="truncate").text
    fresh = toy_model.generate([{"role": "user", "content": "hi"}], max_new_tokens=3).text
    assert result.stdout == f"{first}\n{second}\n{fresh}\n"
    assert "(conversation reset)" in result.stderr


def test_chat_ends_on_eof_and_rejects_unknown_commands(toy_bundle):
    result = invoke("chat", toy_bundle, "-n", "2", input="/what\n")
    assert result.exit_code == 0
    assert "unknown command '/what'" in result.stderr and result.stdout == ""


def test_chat_loop_takes_any_reply_stream():
    """The seam the hybrid client uses: the loop only needs pieces with .text."""
    import io

    from edgekit.runtime import Piece

    seen = []

    def reply(messages):
        seen.append([m["content"] for m in messages])
        yield Piece("cloud ")
        yield Piece("answer")

    stdout, stderr = io.StringIO(), io.StringIO()
    turns = chat_loop(reply, io.StringIO("a\nb\n"), stdout, stderr, system="sys")
    assert turns == 2 and stdout.getvalue() == "cloud answer\ncloud answer\n"
    assert seen == [["sys", "a"], ["sys", "a", "cloud answer", "b"]]


def test_chat_bad_bundle(tmp_path):
    assert_clean_failure(invoke("chat", tmp_path), "has no edgekit.json")


# -- info -----------------------------------------------------------------------------------------------
def test_info_shows_manifest_and_integrity(toy_bundle):
    result = invoke("info", toy_bundle)
    assert result.exit_code == 0, result.output
    for text in ("backend    onnx", "context    64 tokens", "model.onnx", "tokenizer.json", "integrity  ok (sha256)"):
        assert text in result.stdout


def test_info_json(toy_bundle):
    result = invoke("info", toy_bundle, "--json")
    data = json.loads(result.stdout)
    assert data["backend"] == "onnx" and data["integrity"]["ok"] is True


def test_info_tampered_bundle_fails(fresh_toy_bundle):
    (fresh_toy_bundle / "tokenizer.json").write_text("{}")
    result = invoke("info", fresh_toy_bundle)
    assert result.exit_code == 1 and "integrity  FAILED" in result.stdout
    assert "tokenizer.json" in result.stderr and "Traceback" not in result.output


def test_info_not_a_bundle(tmp_path):
    (tmp_path / "edgekit.json").write_text('{"format": "edgekit-bundle", "schema_version": 7}')
    assert_clean_failure(invoke("info", tmp_path), "schema_version 7 is not supported")
