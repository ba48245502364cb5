"""``edgekit chat BUNDLE``: interactive multi-turn chat in the terminal, streamed.

The turn loop (``chat_loop``) only knows a *reply stream*: a function that
takes the conversation so far and yields pieces with ``.text`` (and, on the
last one, optionally ``.result``). ``local_reply_stream`` builds it from a
loaded bundle; the hybrid client plugs its own stream in the same place
(``edgekit chat --cloud-url ...``) without touching the loop.

Commands inside the chat: /reset (forget the conversation, keep --system), /exit (or Ctrl-D).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from typing import Any, TextIO

import click

from .ask_cmd import HYBRID_KEYS, hybrid_options, hybrid_reply_stream
from .run_cmd import check_sampling, generation_options, load_options, stream_kwargs
from .text_input import InputEncodingError, checked_text, lenient_stdin

ReplyStream = Callable[[list[dict[str, str]]], Iterator[Any]]

PROMPT = ">>> "
HELP = "commands: /reset forgets the conversation, /exit quits (Ctrl-D too)"


def local_reply_stream(model, **options: Any) -> ReplyStream:
    """The on-device reply stream: ``model.stream(messages, **options)``."""

    def reply(messages: list[dict[str, str]]) -> Iterator[Any]:
        return model.stream(messages, **options)

    return reply


def chat_loop(reply: ReplyStream, stdin: TextIO, stdout: TextIO, stderr: TextIO, system: str | None = None) -> int:
    """Run turns until /exit or end of input; return the number of answered turns."""
    base = [{"role": "system", "content": system}] if system else []
    messages = list(base)
    turns = 0
    stderr.write(HELP + "\n")
    while True:
        stderr.write(PROMPT)
        stderr.flush()
        line = stdin.readline()
        if not line:  # EOF
            stderr.write("\n")
            return turns
        try:
            text = checked_text(line, "that line").strip()
        except InputEncodingError as exc:  # one bad line does not end the conversation
            stderr.write(f"{exc}\n")
            continue
        if not text:
            continue
        if text in ("/exit", "/quit"):
            return turns
        if text == "/reset":
            messages = list(base)
            stderr.write("(conversation reset)\n")
            continue
        if text.startswith("/"):
            stderr.write(f"unknown command {text.split()[0]!r}; {HELP}\n")
            continue
        messages.append({"role": "user", "content": text})
        answer = []
        for piece in reply(messages):
            if piece.text:
                answer.append(piece.text)
                stdout.write(piece.text)
                stdout.flush()
            result = getattr(piece, "result", None)
            if result is not None and getattr(result, "context_overflow", False) and not result.token_ids:
                stderr.write("(the conversation no longer fits the model's context: /reset to start over)\n")
        stdout.write("\n")
        stdout.flush()
        messages.append({"role": "assistant", "content": "".join(answer)})
        turns += 1


@click.command()
@click.argument("bundle", type=click.Path(path_type=str))
@click.option("--system", default=None, help="System message for the whole conversation.")
@generation_options
@load_options
@hybrid_options
def chat(bundle, system, threads, no_verify, force, **options):
    """Talk to the bundle at BUNDLE, turn by turn (/reset, /exit).

    With --cloud-url, hybrid: each answer shows its route."""
    from edgekit.runtime import load

    hybrid = {k: options.pop(k) for k in HYBRID_KEYS}
    system = None if system is None else checked_text(system, "--system")
    options["stop"] = tuple(checked_text(s, "--stop") for s in options.get("stop") or ())

    model = load(bundle, threads=threads, verify=not no_verify, force=force)
    if model.chat_template is None:
        raise click.ClickException(f"bundle {bundle!r} has no chat template; use `edgekit run --raw` for plain text")
    kwargs = stream_kwargs(options)
    check_sampling(model, kwargs)  # before the first turn, and before a hybrid turn goes to the cloud first
    kwargs.setdefault("context_policy", "truncate")  # a long chat drops its oldest turns instead of stopping
    reply = local_reply_stream(model, **kwargs)
    if hybrid["cloud_url"] or hybrid["policy_file"] or hybrid["local_only"]:
        reply = hybrid_reply_stream(model, sys.stderr, hybrid, **kwargs)
    chat_loop(
        reply,
        lenient_stdin(sys.stdin),
        sys.stdout,
        sys.stderr,
        system=system,
    )
