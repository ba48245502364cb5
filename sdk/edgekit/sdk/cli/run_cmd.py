"""``edgekit run BUNDLE "prompt"``: one generation, streamed to stdout (``--json`` for the full result).

Also holds the click options shared with ``edgekit chat`` (generation and loading).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from dataclasses import dataclass

import click
from edgekit.runtime.errors import SamplingOptionError
from edgekit.runtime.sampler import BIAS_RANGE, PENALTY_RANGE, SamplingOptions

from .text_input import checked_text, stdin_text

_CONTEXT_POLICIES = ["error", "truncate", "signal"]


@dataclass(frozen=True)
class SamplingFlag:
    """One sampling flag of ``run`` and ``chat``: a SamplingOptions field (and model.stream() keyword) on the
    command line. The runtime checks the value, so the CLI and the library accept exactly the same ranges."""

    field: str
    type: type
    help: str
    short: str | None = None
    metavar: str | None = None

    @property
    def flag(self) -> str:
        return "--" + self.field.replace("_", "-")


SAMPLING_FLAGS = (
    SamplingFlag("temperature", float, "0 = greedy, > 0 samples (bundle default if unset).", short="-t"),
    SamplingFlag("top_k", int, "Keep the k most likely tokens; integer >= 0 (0 = off)."),
    SamplingFlag("top_p", float, "Nucleus sampling mass in (0, 1] (1 = off)."),
    SamplingFlag("min_p", float, "Keep tokens with p >= min_p * p_max; in [0, 1) (0 = off)."),
    SamplingFlag("repetition_penalty", float, "CTRL penalty on tokens of prompt and output; > 0 (1 = off)."),
    SamplingFlag(
        "frequency_penalty",
        float,
        f"Subtract this times each earlier occurrence in the output; in [{PENALTY_RANGE[0]:g}, "
        f"{PENALTY_RANGE[1]:g}] (0 = off; OpenAI's).",
    ),
    SamplingFlag(
        "presence_penalty",
        float,
        f"Subtract this once a token occurs in the output; in [{PENALTY_RANGE[0]:g}, {PENALTY_RANGE[1]:g}] "
        "(0 = off; OpenAI's).",
    ),
    SamplingFlag("seed", int, "Seed for reproducible sampling; integer >= 0."),
)
_FLAG_OF = {f.field: f.flag for f in SAMPLING_FLAGS} | {"logit_bias": "--logit-bias"}


def sampling_flag_error(exc: SamplingOptionError) -> click.ClickException:
    """The runtime's SamplingOptionError as the CLI's one line, naming the flag instead of the keyword."""
    flag = _FLAG_OF.get(exc.option, exc.option)
    if isinstance(exc.value, Mapping):  # logit_bias {id: bias}: shown as it was typed
        value = " ".join(f"{token}={bias:g}" for token, bias in exc.value.items())
    else:
        value = repr(exc.value)
    return click.ClickException(f"{flag} {value} is invalid: {exc.allowed}")


def _check_sampling_flag(ctx: click.Context, param: click.Parameter, value):
    """Refuse an out-of-range value at parse time, before the bundle is loaded (one ``Error:`` line, exit 1;
    a click range type would print the usage screen instead)."""
    if value is not None:
        try:
            SamplingOptions(**{param.name: value})
        except SamplingOptionError as exc:
            raise sampling_flag_error(exc) from None
    return value


def _parse_logit_bias(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]):
    """``--logit-bias ID=BIAS`` (repeatable) → {id: bias}, or None when absent; a later ID overrides."""
    lo, hi = BIAS_RANGE
    bias: dict[int, float] = {}
    for item in values:
        token, sep, number = item.partition("=")
        try:
            pair = (int(token), float(number))
        except ValueError:
            pair = None
        if not sep or pair is None:
            raise click.ClickException(
                f"--logit-bias {item!r} is invalid: use ID=BIAS, a token id and a number in [{lo:g}, {hi:g}] "
                "(e.g. --logit-bias 42=-100)"
            )
        try:
            SamplingOptions(logit_bias={pair[0]: pair[1]})
        except SamplingOptionError as exc:
            raise click.ClickException(f"--logit-bias {item!r} is invalid: {exc.allowed}") from None
        bias[pair[0]] = pair[1]
    return bias or None


def generation_options(func):
    """--max-new-tokens, sampling options (SAMPLING_FLAGS, --logit-bias), --stop, --context-policy → keyword
    arguments of model.stream()."""
    sampling = [
        click.option(
            *([f.flag, f.short] if f.short else [f.flag]),
            f.field,
            type=f.type,
            default=None,
            metavar=f.metavar,
            callback=_check_sampling_flag,
            help=f.help,
        )
        for f in SAMPLING_FLAGS
    ]
    options = [
        click.option(
            "--max-new-tokens",
            "-n",
            type=click.IntRange(min=1),
            default=None,
            help="Most tokens to generate (bundle default if unset).",
        ),
        *sampling,
        click.option(
            "--logit-bias",
            multiple=True,
            metavar="ID=BIAS",
            callback=_parse_logit_bias,
            help=f"Add BIAS in [{BIAS_RANGE[0]:g}, {BIAS_RANGE[1]:g}] to token ID's logit (repeatable); "
            f"{BIAS_RANGE[1]:g} forces the token, {BIAS_RANGE[0]:g} bans it.",
        ),
        click.option("--stop", multiple=True, help="Stop string (repeatable)."),
        click.option(
            "--context-policy",
            type=click.Choice(_CONTEXT_POLICIES),
            default=None,
            help="When prompt + output exceed the context: error (run's default), truncate = drop oldest "
            "turns (chat's default), or signal.",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def load_options(func):
    func = click.option("--force", is_flag=True, help="Load even if the memory check says the bundle will not fit.")(
        func
    )
    func = click.option(
        "--no-verify", is_flag=True, help="Skip the sha256 check of the bundle files (sizes are still checked)."
    )(func)
    func = click.option(
        "--threads", type=click.IntRange(min=1), default=None, help="Compute threads (default: physical cores)."
    )(func)
    func = spin_option(func)
    return func


def spin_option(func):
    """``--spin auto|on|off``: onnxruntime's thread spinning (runtime/spinning.py decides ``auto``)."""
    return click.option(
        "--spin",
        type=click.Choice(["auto", "on", "off"]),
        default="auto",
        show_default=True,
        help="Spin-wait compute threads: auto spins only if the cores are idle at load (faster on a quiet machine, "
        "gentle on a busy one or a battery).",
    )(func)


def stream_kwargs(options: dict) -> dict:
    """click's values → model.stream() keyword arguments (stop tuple → list or None; unset options left out, so
    the bundle's defaults and the runtime's apply)."""
    kwargs = {k: v for k, v in options.items() if v is not None}
    kwargs["stop"] = list(kwargs.get("stop") or []) or None
    return kwargs


def check_sampling(model, kwargs: dict) -> None:
    """Checks that need the loaded model (logit_bias ids below its vocabulary), as the CLI's one line."""
    if kwargs.get("logit_bias"):
        try:
            SamplingOptions(logit_bias=kwargs["logit_bias"]).check_vocabulary(model.backend.vocab_size)
        except SamplingOptionError as exc:
            raise sampling_flag_error(exc) from None


@click.command()
@click.argument("bundle", type=click.Path(file_okay=True, dir_okay=True, path_type=str))
@click.argument("prompt", required=False)
@click.option("--system", default=None, help="System message (chat-templated bundles).")
@click.option("--raw", is_flag=True, help="Feed the prompt as plain text, without the chat template.")
@click.option(
    "--json", "as_json", is_flag=True, help="Print the full result (text, tokens, confidence, timings) as JSON."
)
@click.option("--stats", is_flag=True, help="Print timings and confidence on stderr after the text.")
@generation_options
@load_options
def run(bundle, prompt, system, raw, as_json, stats, threads, no_verify, force, spin, **options):
    """Generate a reply to PROMPT with the bundle at BUNDLE (PROMPT "-" or absent: read stdin)."""
    from edgekit.runtime import load

    if prompt is None or prompt == "-":
        if sys.stdin.isatty():
            raise click.UsageError('give a PROMPT, e.g. edgekit run BUNDLE "What is the capital of France?"')
        prompt = stdin_text(sys.stdin, "the prompt on stdin")
    prompt = checked_text(prompt, "the prompt")
    system = None if system is None else checked_text(system, "--system")
    options["stop"] = tuple(checked_text(s, "--stop") for s in options.get("stop") or ())
    if raw and system:
        raise click.UsageError("--system needs the chat template; drop --raw")
    model = load(bundle, threads=threads, verify=not no_verify, force=force, allow_spinning=spin)
    source = [{"role": "system", "content": system}, {"role": "user", "content": prompt}] if system else prompt
    chat = False if raw else None
    result = None
    out = sys.stdout
    kwargs = stream_kwargs(options)
    check_sampling(model, kwargs)
    for piece in model.stream(source, chat=chat, **kwargs):
        if piece.result is not None:
            result = piece.result
        elif not as_json and piece.text:
            out.write(piece.text)
            out.flush()
    assert result is not None
    if as_json:
        data = result.to_dict()
        data["model"] = model.manifest.model.name or None
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
    else:
        out.write("\n")
    if stats:
        click.echo(format_stats(result), err=True)
        if model.spinning is not None:
            state = "on" if model.spinning.allow else "off"
            click.echo(f"thread spinning: {state} ({model.spinning.reason})", err=True)


def format_stats(result) -> str:
    t, c = result.timings, result.confidence
    return (
        f"[{result.finish_reason.value}] prompt {t.prompt_tokens} tok, prefill {t.prefill_ms:.0f} ms "
        f"({t.prefill_tok_s:.0f} tok/s), {t.generated_tokens} tok at {t.decode_tok_s:.1f} tok/s, "
        f"first token {t.first_token_ms:.0f} ms, load {t.load_ms:.0f} ms | mean logprob {c.mean_logprob:.2f}, "
        f"max window entropy {c.max_window_entropy:.2f}"
    )
