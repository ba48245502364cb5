"""Hostile chat templates that are *safe* but unbounded (hang, huge strings, deep recursion, crashes) end in
one clean EdgekitError, through the real runtime path (a toy bundle carrying the template), in bounded time."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
from pathlib import Path

import pytest
from edgekit.runtime import ChatTemplate, load
from edgekit.runtime.errors import BundleError, EdgekitError, TemplateLimitError
from edgekit.runtime.template_sandbox import TemplateLimits

from .toy_bundle import CHATML, build_toy_bundle

FIX = "fix chat_template in edgekit.json"
SECONDS = 15.0  # far above the 2 s render deadline; catches a hang, not a speed target

# What onnxruntime's own CPU probe (pytorch/cpuinfo) writes to stderr when it cannot read the CPU topology, as in
# the emulated aarch64 job, whose sysfs CPU lists are empty on purpose: native library output, not edgekit's.
_CPU_PROBE_NOISE = ("Error in cpuinfo:", "onnxruntime cpuid_info warning:", "onnxruntime warning: cpuinfo_")


def _names_the_limit(message: str, fragment: str | tuple[str, ...]) -> bool:
    return any(f in message for f in ((fragment,) if isinstance(fragment, str) else fragment))


# A runaway loop ends at the iteration cap or at the 2 s render deadline, whichever comes first: the cap on a fast
# CPU, the deadline on an emulated or busy one (measured: the aarch64 job under qemu hits the deadline first).
LOOP_END = ("loop iterations", "ran longer than")

BIG = "{% set s = 'a' * 1000000 %}"
HOSTILE = {
    # name: (template, error class, message fragment)
    "nested_loops": (
        "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}",
        TemplateLimitError,
        LOOP_END,
    ),
    "silent_nested_loops": (
        "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
        TemplateLimitError,
        LOOP_END,
    ),
    "string_times_huge": ("{{ 'A' * 10**8 }}", TemplateLimitError, "'*' of size 100,000,000"),
    "list_times_huge": ("{{ messages * 10**7 }}", TemplateLimitError, "'*'"),
    "divide_by_zero": ("{{ 1/0 }}", BundleError, "ZeroDivisionError"),
    "range_overflow": ("{% for i in range(10**30) %}{% endfor %}", TemplateLimitError, "range()"),
    "range_too_long": ("{% for i in range(200000) %}{% endfor %}", TemplateLimitError, "range() of 200,000"),
    "macro_recursion": ("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", TemplateLimitError, "deeper than 64"),
    "recursive_loop": ("{% for x in [1] recursive %}{{ loop([1]) }}{% endfor %}", TemplateLimitError, "deeper than 64"),
    "tilde_doubling": (
        "{% set ns = namespace(s='ab') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
        TemplateLimitError,
        "'~'",
    ),
    "plus_doubling": (
        "{% set ns = namespace(s='ab') %}{% for i in range(40) %}{% set ns.s = ns.s + ns.s %}{% endfor %}",
        TemplateLimitError,
        "'+'",
    ),
    "ljust": ("{{ 'x'.ljust(10**9) }}", TemplateLimitError, ".ljust()"),
    "center_filter": ("{{ 'x' | center(10**9) }}", TemplateLimitError, "|center"),
    "percent_width": ("{{ '%0999999999d' % 1 }}", TemplateLimitError, "%-format"),
    "format_width": ("{{ '{:>999999999}'.format(1) }}", TemplateLimitError, "format()"),
    "replace_blowup": (BIG + "{{ s | replace('a', s) }}", TemplateLimitError, "|replace"),
    "join_blowup": (BIG + "{{ ([s] * 1000) | join('') }}", TemplateLimitError, "|join"),
    "huge_power": ("{{ 7 ** 10000000 }}", TemplateLimitError, "'**'"),
    "captured_block": (
        BIG + "{% set t %}{% for i in range(10) %}{{ s }}{% endfor %}{% endset %}",
        TemplateLimitError,
        "block of text",
    ),
    "output_cap": (
        BIG + "{% for i in range(10) %}{{ s }}{% endfor %}",
        TemplateLimitError,
        "output exceeded the 1,000,000-character limit",
    ),
    "loops_over_strings": (
        BIG + "{% for a in s %}{% for b in s %}{% endfor %}{% endfor %}",
        TemplateLimitError,
        LOOP_END,
    ),
    "slow_body": (
        BIG + "{% for i in range(100000) %}{% if s | replace('a', 'b') | length %}{% endif %}{% endfor %}",
        TemplateLimitError,
        "ran longer than 2 s",
    ),
    "lipsum": ("{{ lipsum(10**6) }}", TemplateLimitError, "lipsum()"),
    "slice_filter": ("{{ [1] | slice(10**9) | list | length }}", TemplateLimitError, "|slice"),
    "float_overflow": ("{{ 2.0 ** 100000 }}", BundleError, "OverflowError"),
    "undefined_call": ("{{ nothing() }}", BundleError, "UndefinedError: 'nothing' is undefined"),
}


@pytest.fixture(scope="module")
def one_bundle(tmp_path_factory):
    """One toy bundle; each test rewrites its chat_template in edgekit.json, then loads it (the real path)."""
    return build_toy_bundle(tmp_path_factory.mktemp("tpl") / "b")


def _with_template(folder: Path, template: str) -> Path:
    import json

    manifest = folder / "edgekit.json"
    data = json.loads(manifest.read_text())
    data["chat_template"] = template
    manifest.write_text(json.dumps(data))
    return folder


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_template_ends_in_one_clean_error(one_bundle, name):
    template, error, fragment = HOSTILE[name]
    model = load(_with_template(one_bundle, template))
    start = time.monotonic()
    with pytest.raises(error) as caught:
        model.generate("hi", max_new_tokens=2)
    assert time.monotonic() - start < SECONDS
    message = str(caught.value)
    assert _names_the_limit(message, fragment), message
    assert "\n" not in message
    if error is not EdgekitError:
        assert FIX in message


def test_normal_templates_still_render_within_limits():
    out = ChatTemplate(CHATML).render([{"role": "user", "content": "x" * 100_000}])
    assert out.startswith("<|im_start|>user\nxxx") and len(out) > 100_000
    looped = ChatTemplate("{% for i in range(1000) %}{% for m in messages %}{{ m.content }}{% endfor %}{% endfor %}")
    assert looped.render([{"role": "user", "content": "ab"}]) == "ab" * 1000


def test_limits_are_per_render_not_cumulative():
    limits = TemplateLimits(max_loop_iterations=100_000)
    template = ChatTemplate("{% for i in range(90000) %}{% endfor %}ok", limits=limits)
    for _ in range(3):  # 270k iterations in all, each render within its own 100k budget
        assert template.render([{"role": "user", "content": "hi"}]) == "ok"
    with pytest.raises(TemplateLimitError, match="more than 100,000 loop iterations"):
        ChatTemplate(
            "{% for i in range(60000) %}{% endfor %}{% for i in range(60000) %}{% endfor %}",
            limits=TemplateLimits(max_loop_iterations=100_000),
        ).render([{"role": "user", "content": "hi"}])


@pytest.mark.parametrize("name", ["nested_loops", "string_times_huge", "divide_by_zero", "range_overflow"])
def test_cli_prints_one_line_for_a_hostile_template(tmp_path, name):
    folder = build_toy_bundle(tmp_path / "b", chat_template=HOSTILE[name][0])
    edgekit = Path(sys.executable).with_name("edgekit")
    start = time.monotonic()
    proc = subprocess.run(
        [str(edgekit), "run", str(folder), "hi"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "NO_COLOR": "1"},
    )
    assert time.monotonic() - start < 60
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.strip().splitlines() if not line.startswith(_CPU_PROBE_NOISE)]
    assert len(lines) == 1 and lines[0].startswith("Error: "), proc.stderr
    assert _names_the_limit(lines[0], HOSTILE[name][2]), lines[0]


# -- fuzz ------------------------------------------------------------------------------------------------------
_EXPR = [  # N is replaced by a number from _NUMS
    "m.content",
    "m.role",
    "messages|length",
    "'a' * N",
    "N ** N",
    "N * N * N",
    "'x' ~ m.content",
    "range(N)|list",
    "messages * N",
    "m.content|replace('a', 'bb' * N)",
    "(m.content ~ 'z')|center(N)",
    "'%0*d' % (N, 1)",
    "'{:>{w}}'.format(1, w=N)",
    "lipsum(N)",
    "N / (N - N)",
    "[1, 2] + [3] * N",
    "namespace(a=N).a",
    "loop.index",
    "m.content|tojson",
    "(messages|map(attribute='content'))|join(', ')",
    "m['role']|upper",
    "bos_token ~ eos_token",
    "m.content.split()|list",
    "dict(a=N)|items|list",
    "raise_exception('no')",
    "m.__class__",
    "N|string * N",
]
_NUMS = ["0", "1", "3", "10", "1000", "100000", "10**6", "10**9", "10**30", "-1", "2.5", "'s'", "none"]


def _fragment(rng: random.Random, depth: int) -> str:
    n = rng.choice(_NUMS)
    expr = rng.choice(_EXPR).replace("N", f"({n})")
    kinds = ["{{ " + expr + " }}", "text", "{% if " + expr + " %}y{% endif %}"]
    if depth < 3:
        inner = _fragment(rng, depth + 1)
        kinds += [
            "{% for m in messages %}" + inner + "{% endfor %}",
            "{% for i in range(" + n + ") %}" + inner + "{% endfor %}",
            "{% macro f(k) %}" + inner + "{{ f(k) }}{% endmacro %}{{ f(1) }}",
            "{% set t %}" + inner + inner + "{% endset %}{{ t ~ t }}",
            "{% for x in [m.content] * " + n + " recursive %}" + inner + "{% endfor %}",
        ]
    return rng.choice(kinds)


def _mutate(rng: random.Random, text: str) -> str:
    chars = list(text)
    for _ in range(rng.randint(1, 3)):
        if not chars:
            break
        i = rng.randrange(len(chars))
        op = rng.randrange(4)
        if op == 0:
            del chars[i]
        elif op == 1:
            chars.insert(i, rng.choice("{}%()[]|~*'\"-+ .,_"))
        elif op == 2:
            chars[i:i] = chars[i : i + rng.randint(1, 12)]
        else:
            chars.insert(i, rng.choice(["{{", "}}", "{%", "%}", "{#", "**", "~"]))
    return "".join(chars)


def test_template_fuzz_renders_or_raises_edgekit_error():
    rng = random.Random(20261202)
    limits = TemplateLimits(timeout_s=0.25, max_loop_iterations=200_000)
    messages = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "a b c"}]
    outcomes = {"rendered": 0, "refused": 0}
    start = time.monotonic()
    for case in range(300):
        source = "".join(_fragment(rng, 0) for _ in range(rng.randint(1, 3)))
        if rng.random() < 0.4:
            source = _mutate(rng, source)
        t0 = time.monotonic()
        try:
            out = ChatTemplate(source, "<s>", "</s>", limits=limits).render(messages, m=messages[1])
        except EdgekitError as exc:
            assert "\n" not in str(exc).strip() or "line" in str(exc), (case, source, exc)
            outcomes["refused"] += 1
        except Exception as exc:  # noqa: BLE001 - the point of the test
            pytest.fail(f"case {case}: {source!r} raised {type(exc).__name__}: {exc}")
        else:
            assert isinstance(out, str) and len(out) <= limits.max_output_chars
            outcomes["rendered"] += 1
        assert time.monotonic() - t0 < 5.0, (case, source)
    assert time.monotonic() - start < 30
    assert outcomes["rendered"] > 30 and outcomes["refused"] > 30, outcomes  # the fuzz reaches both sides
