"""The sampling flags of `edgekit run` and `edgekit chat` on the scripted toy bundle (a real onnxruntime session):
every flag reaches generation (the CLI's tokens equal ``LocalModel.generate``'s with the same options), and an
out-of-range value is one ``Error:`` line naming the flag, exit 1, before the bundle is loaded."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from edgekit.sdk.cli import main
from edgekit.sdk.cli.run_cmd import SAMPLING_FLAGS

from .conftest import ANSWER, START

PROMPT = "hello"  # chat-templated: 24 tokens
Z = ord("Z")
SCRIPT = list(ANSWER[24 - 1 - START :].encode())  # the unbiased greedy tokens


def invoke(*args, input=None):
    return CliRunner().invoke(main, list(map(str, args)), input=input)


def run_ids(bundle, *flags) -> list[int]:
    result = invoke("run", bundle, PROMPT, "--json", *flags)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)["token_ids"]


# -- the flags reach generation -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "flags, options",
    [
        # +33 on "Z" beats the script's +30; frequency 2 per earlier "Z": two "Z"s, then the script
        (["--logit-bias", "90=33", "--frequency-penalty", "2"], {"logit_bias": {Z: 33}, "frequency_penalty": 2}),
        # presence is paid once: 33 - 2 still wins every step
        (["--logit-bias", "90=33", "--presence-penalty", "2"], {"logit_bias": {Z: 33}, "presence_penalty": 2}),
        # a negative penalty encourages: 29 + 2 per earlier "Z" wins from the second step on, once "Z" was forced
        (
            ["--logit-bias", "90=29", "--logit-bias", f"{SCRIPT[0]}=-100", "--frequency-penalty", "-2"],
            {"logit_bias": {Z: 29, SCRIPT[0]: -100}, "frequency_penalty": -2},
        ),
        (["--logit-bias", "90=5", "--logit-bias", "90=100"], {"logit_bias": {Z: 100}}),  # a later ID overrides
        (
            ["-t", "100", "--seed", "7", "--top-k", "50", "--top-p", "0.9"],
            {"temperature": 100.0, "seed": 7, "top_k": 50, "top_p": 0.9},
        ),
        (["-t", "100", "--seed", "7", "--min-p", "0.5"], {"temperature": 100.0, "seed": 7, "min_p": 0.5}),
        (
            ["--logit-bias", "108=31", "--repetition-penalty", "1.2"],
            {"logit_bias": {108: 31}, "repetition_penalty": 1.2},
        ),
    ],
)
def test_run_flags_reach_generation(toy_bundle, toy_model, flags, options):
    expected = toy_model.generate(PROMPT, max_new_tokens=4, **options).token_ids
    assert run_ids(toy_bundle, "-n", "4", *flags) == expected


def test_the_flags_change_the_answer(toy_bundle):
    """The cases above are not the script by accident."""
    plain = run_ids(toy_bundle, "-n", "4")
    assert plain == SCRIPT[:4]
    assert run_ids(toy_bundle, "-n", "4", "--logit-bias", "90=33", "--frequency-penalty", "2") == [Z, Z, *SCRIPT[2:4]]
    assert run_ids(toy_bundle, "-n", "4", "--logit-bias", "90=33", "--presence-penalty", "2") == [Z] * 4


def test_chat_flags_reach_every_turn(toy_bundle, toy_model):
    flags = ["-n", "4", "--logit-bias", "90=33", "--frequency-penalty", "2"]
    result = invoke("chat", toy_bundle, *flags, input="hello\n")
    assert result.exit_code == 0, result.output
    expected = toy_model.generate(
        [{"role": "user", "content": PROMPT}], max_new_tokens=4, logit_bias={Z: 33}, frequency_penalty=2
    ).text
    assert result.stdout == expected + "\n" and expected.startswith("ZZ")


# -- out-of-range values: one line naming the flag ------------------------------------------------------------
BAD = [
    (["--frequency-penalty", "2.5"], "--frequency-penalty 2.5 is invalid", "[-2, 2]"),
    (["--frequency-penalty", "-2.01"], "--frequency-penalty -2.01 is invalid", "[-2, 2]"),
    (["--presence-penalty", "nan"], "--presence-penalty nan is invalid", "[-2, 2]"),
    (["--temperature", "-1"], "--temperature -1.0 is invalid", "greedy"),
    (["--top-k", "-1"], "--top-k -1 is invalid", "positive integer"),
    (["--top-p", "0"], "--top-p 0.0 is invalid", "(0, 1]"),
    (["--min-p", "1"], "--min-p 1.0 is invalid", "[0, 1)"),
    (["--repetition-penalty", "0"], "--repetition-penalty 0.0 is invalid", "positive number"),
    (["--seed", "-3"], "--seed -3 is invalid", "non-negative integer"),
    (["--logit-bias", "90=101"], "--logit-bias '90=101' is invalid", "[-100, 100]"),
    (["--logit-bias", "90=-inf"], "--logit-bias '90=-inf' is invalid", "[-100, 100]"),
    (["--logit-bias", "-1=5"], "--logit-bias '-1=5' is invalid", "non-negative integer"),
    (["--logit-bias", "90"], "--logit-bias '90' is invalid", "use ID=BIAS"),
    (["--logit-bias", "Z=5"], "--logit-bias 'Z=5' is invalid", "use ID=BIAS"),
    (
        ["--logit-bias", "300=5"],
        "--logit-bias 300=5 is invalid",
        "outside this model's vocabulary; use ids in [0, 259)",
    ),
]


@pytest.mark.parametrize("command", ["run", "chat"])
@pytest.mark.parametrize("flags, message, allowed", BAD, ids=[" ".join(b[0]) for b in BAD])
def test_out_of_range_values_are_one_error_line_naming_the_flag(toy_bundle, command, flags, message, allowed):
    args = [command, toy_bundle, *([PROMPT] if command == "run" else []), *flags]
    result = invoke(*args, input="hello\n")
    assert result.exit_code == 1, result.output
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"Error: {message}") and allowed in line


def test_the_range_is_checked_before_the_bundle_is_loaded(tmp_path):
    result = invoke("run", tmp_path / "no-bundle-here", PROMPT, "--presence-penalty", "9")
    assert result.exit_code == 1 and "--presence-penalty 9.0 is invalid" in result.stderr


def test_every_sampling_flag_is_in_the_help_of_run_and_chat():
    names = [f.flag for f in SAMPLING_FLAGS] + ["--logit-bias"]
    assert {"--frequency-penalty", "--presence-penalty", "--temperature", "--seed"} <= set(names)
    for command in ("run", "chat"):
        text = invoke(command, "--help").stdout
        assert all(name in text for name in names), command


def test_a_real_process_prints_one_line_and_no_traceback(toy_bundle):
    edgekit = Path(sys.executable).with_name("edgekit")
    out = subprocess.run(
        [str(edgekit), "run", str(toy_bundle), PROMPT, "--frequency-penalty", "3"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 1 and out.stdout == ""
    assert out.stderr == "Error: --frequency-penalty 3.0 is invalid: use a number in [-2, 2]; 0 turns it off\n"


def test_hybrid_chat_passes_the_flags_to_the_local_model(toy_bundle):
    flags = ["-n", "4", "--logit-bias", "90=33", "--presence-penalty", "2", "--local-only"]
    result = invoke("chat", toy_bundle, *flags, input="hello\n")
    assert result.exit_code == 0, result.output
    assert result.stdout == "ZZZZ\n" and "[local" in result.stderr
