"""``edgekit run BUNDLE "prompt"``: one generation, streamed to stdout (``--json`` for the full result).

Also holds the click options shared with ``edgekit chat`` (generation and loading).
"""

from __future__ import annotations

import json
import sys

import click

from .text_input import checked_text, stdin_text

_CONTEXT_POLICIES = ["error", "truncate", "signal"]


def generation_options(func):
    """--max-new-tokens, sampling options, --stop, --context-policy → keyword arguments of model.stream()."""
    options = [
        click.option(
            "--max-new-tokens",
            "-n",
            type=click.IntRange(min=1),
            default=None,
            help="Most tokens to generate (bundle default if unset).",
        ),
        click.option(
            "--temperature",
            "-t",
            type=click.FloatRange(min=0),
            default=None,
            help="0 = greedy (bundle default if unset).",
        ),
        click.option(
            "--top-k", type=click.IntRange(min=0), default=None, help="Keep the k most likely tokens (0 = off)."
        ),
        click.option(
            "--top-p",
            type=click.FloatRange(min=0, max=1, min_open=True),
            default=None,
            help="Nucleus sampling mass (1 = off).",
        ),
        click.option(
            "--min-p",
            type=click.FloatRange(min=0, max=1, max_open=True),
            default=None,
            help="Keep tokens with p >= min_p * p_max (0 = off).",
        ),
        click.option(
            "--repetition-penalty",
            type=click.FloatRange(min=0, min_open=True),
            default=None,
            help="CTRL penalty on seen tokens (1 = off).",
        ),
        click.option("--seed", type=click.IntRange(min=0), default=None, help="Seed for reproducible sampling."),
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
    return func


def stream_kwargs(options: dict) -> dict:
    """click's values → model.stream() keyword arguments (stop tuple → list or None)."""
    kwargs = dict(options)
    kwargs["stop"] = list(kwargs.get("stop") or []) or None
    if kwargs.get("context_policy") is None:
        kwargs.pop("context_policy", None)
    return kwargs


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
def run(bundle, prompt, system, raw, as_json, stats, threads, no_verify, force, **options):
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
    model = load(bundle, threads=threads, verify=not no_verify, force=force)
    source = [{"role": "system", "content": system}, {"role": "user", "content": prompt}] if system else prompt
    chat = False if raw else None
    result = None
    out = sys.stdout
    for piece in model.stream(source, chat=chat, **stream_kwargs(options)):
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


def format_stats(result) -> str:
    t, c = result.timings, result.confidence
    return (
        f"[{result.finish_reason.value}] prompt {t.prompt_tokens} tok, prefill {t.prefill_ms:.0f} ms "
        f"({t.prefill_tok_s:.0f} tok/s), {t.generated_tokens} tok at {t.decode_tok_s:.1f} tok/s, "
        f"first token {t.first_token_ms:.0f} ms, load {t.load_ms:.0f} ms | mean logprob {c.mean_logprob:.2f}, "
        f"max window entropy {c.max_window_entropy:.2f}"
    )
