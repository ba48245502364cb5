"""``edgekit chat BUNDLE``: interactive multi-turn chat in the terminal, streamed.

The turn loop (``chat_loop``) only knows a *reply stream*: a function that
takes the conversation so far and yields pieces with ``.text`` (and, on the
last one, optionally ``.result``). ``local_reply_stream`` builds it from a
loaded bundle; the hybrid client plugs its own stream in the same place
(``edgekit chat --cloud-url ...``) without touching the loop.

Commands inside the chat: /reset (forget the conversation, keep --system), /exit (or Ctrl-D), and with
--tools, /result TEXT (the result of the last call, fed back as a ``tool`` turn).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from typing import Any, TextIO

import click
from edgekit.runtime.errors import ToolError

from .ask_cmd import HYBRID_KEYS, hybrid_options, hybrid_reply_stream
from .run_cmd import check_sampling, generation_options, load_options, stream_kwargs
from .text_input import InputEncodingError, checked_text, lenient_stdin
from .tools_file import read_tool_examples, read_tools_file, show_call

ReplyStream = Callable[[list[dict[str, Any]]], Iterator[Any]]

PROMPT = ">>> "
HELP = "commands: /reset forgets the conversation, /exit quits (Ctrl-D too), /result TEXT answers the last tool call"


def local_reply_stream(model, **options: Any) -> ReplyStream:
    """The on-device reply stream: ``model.stream(messages, **options)``."""

    def reply(messages: list[dict[str, Any]]) -> Iterator[Any]:
        return model.stream(messages, **options)

    return reply


def chat_loop(reply: ReplyStream, stdin: TextIO, stdout: TextIO, stderr: TextIO, system: str | None = None) -> int:
    """Run turns until /exit or end of input; return the number of answered turns."""
    base = [{"role": "system", "content": system}] if system else []
    messages: list[dict[str, Any]] = list(base)
    turns = 0
    last_call: str | None = None  # id of the last tool call, for /result
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
        if text.startswith("/result"):
            if last_call is None:
                stderr.write("(no tool call to answer yet)\n")
                continue
            messages.append({"role": "tool", "tool_call_id": last_call, "content": text[len("/result") :].strip()})
            last_call = None
        elif text.startswith("/"):
            stderr.write(f"unknown command {text.split()[0]!r}; {HELP}\n")
            continue
        else:
            messages.append({"role": "user", "content": text})
        answer = []
        calls: tuple[Any, ...] = ()
        for piece in reply(messages):
            if piece.text:
                answer.append(piece.text)
                stdout.write(piece.text)
                stdout.flush()
            result = getattr(piece, "result", None)
            if result is not None and getattr(result, "context_overflow", False) and not result.token_ids:
                stderr.write("(the conversation no longer fits the model's context: /reset to start over)\n")
            calls = tuple(getattr(result, "tool_calls", ()) or ()) if result is not None else calls
        for call in calls:
            stdout.write(show_call(call) + "\n")
        if not calls:
            stdout.write("\n")
        stdout.flush()
        turn: dict[str, Any] = {"role": "assistant", "content": "".join(answer)}
        if calls:
            turn["tool_calls"] = [call.to_openai() for call in calls]
            last_call = calls[-1].id
            stderr.write("(answer the call with /result TEXT)\n")
        messages.append(turn)
        turns += 1


@click.command()
@click.argument("bundle", type=click.Path(path_type=str))
@click.option("--system", default=None, help="System message for the whole conversation.")
@click.option(
    "--tools",
    "tools_file",
    default=None,
    type=click.Path(path_type=str),
    help="JSON file of OpenAI-shaped tools the model may call; each call is shown (answer it with /result).",
)
@click.option(
    "--tool-choice",
    default=None,
    help="auto (default with --tools), required, none, or the name of one tool to call.",
)
@click.option(
    "--tool-examples",
    "examples_file",
    default=None,
    type=click.Path(path_type=str),
    help="JSON Lines of worked examples ({utterance, call: {name, arguments}}); the ones most like each request "
    "are shown to the model before it (a small model copies them).",
)
@generation_options
@load_options
@hybrid_options
def chat(bundle, system, tools_file, tool_choice, examples_file, threads, no_verify, force, spin, **options):
    """Talk to the bundle at BUNDLE, turn by turn (/reset, /exit).

    With --cloud-url, hybrid: each answer shows its route."""
    from edgekit.runtime import load

    hybrid = {k: options.pop(k) for k in HYBRID_KEYS}
    system = None if system is None else checked_text(system, "--system")
    options["stop"] = tuple(checked_text(s, "--stop") for s in options.get("stop") or ())

    model = load(bundle, threads=threads, verify=not no_verify, force=force, allow_spinning=spin)
    if model.chat_template is None:
        raise click.ClickException(f"bundle {bundle!r} has no chat template; use `edgekit run --raw` for plain text")
    kwargs = stream_kwargs(options)
    check_sampling(model, kwargs)  # before the first turn, and before a hybrid turn goes to the cloud first
    kwargs.setdefault("context_policy", "truncate")  # a long chat drops its oldest turns instead of stopping
    if tools_file is not None or tool_choice is not None:
        _add_tools(kwargs, tools_file, tool_choice)
    if examples_file is not None:
        if tools_file is None:
            raise ToolError("--tool-examples", examples_file, "examples need --tools FILE (the tools they call)")
        try:  # every example checked against its tool's schema before the first turn
            kwargs["tool_examples"] = model.check_tool_examples(read_tool_examples(examples_file), kwargs["tools"])
        except ToolError as exc:
            raise ToolError(f"{exc.field} in {examples_file}", exc.value, exc.rule) from None
    reply = local_reply_stream(model, **kwargs)
    if any(hybrid[k] for k in ("cloud_url", "policy_file", "local_only", "target_accuracy", "max_escalation_rate")):
        reply = hybrid_reply_stream(model, sys.stderr, hybrid, **kwargs)
    chat_loop(
        reply,
        lenient_stdin(sys.stdin),
        sys.stdout,
        sys.stderr,
        system=system,
    )


def _add_tools(kwargs: dict[str, Any], tools_file: str | None, choice: str | None) -> None:
    """The tools for the local model, and for the cloud when a hybrid chat escalates (sent unchanged)."""
    from edgekit.runtime.tools import parse_tool_choice

    tools = read_tools_file(tools_file) if tools_file is not None else ()
    named = choice is not None and choice not in ("auto", "none", "required")
    value: Any = {"type": "function", "function": {"name": choice}} if named else choice
    kwargs["tools"] = tools
    kwargs["tool_choice"] = parse_tool_choice(value, tools)  # a ToolError names the tool and the known ones
