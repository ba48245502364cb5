"""`edgekit ask BUNDLE "question"`: one hybrid answer, with where it came from and why."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from .text_input import checked_text


def hybrid_options(func):
    """Options shared by `ask` and the hybrid mode of `chat`."""
    options = [
        click.option("--cloud-url", default=None, help="OpenAI-compatible base URL, e.g. https://api.openai.com/v1"),
        click.option("--cloud-model", default=None, help="Cloud model name"),
        click.option(
            "--api-key-env",
            default="OPENAI_API_KEY",
            show_default=True,
            help="Environment variable with the cloud key ('' for none)",
        ),
        click.option(
            "--policy",
            "policy_file",
            type=click.Path(path_type=Path),
            default=None,
            help="Policy file (default: the one the bundle carries, else the shipped one)",
        ),
        click.option("--local-only", is_flag=True, help="Privacy: never send anything to the cloud"),
        click.option(
            "--cloud-timeout",
            type=float,
            default=None,
            metavar="SECONDS",
            help="Wall-clock limit of each cloud call (retries and the whole streamed answer included); "
            "past it the local answer is used. Default: 30",
        ),
        click.option(
            "--target-accuracy",
            type=float,
            default=None,
            help="Operating point: escalate just enough to reach this accuracy, as measured when the policy was "
            "calibrated (default: the policy file's own point)",
        ),
        click.option(
            "--max-escalation-rate",
            type=float,
            default=None,
            help="Operating point: the most accurate one that escalates at most this share of questions",
        ),
        click.option(
            "--redact/--no-redact",
            default=True,
            show_default=True,
            help="Replace personal data (e-mails, phones, cards, IBANs, IPs) by placeholders before the cloud "
            "sees the prompt, and restore them in its answer",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def make_client(
    bundle,
    cloud_url,
    cloud_model,
    api_key_env,
    policy_file,
    local_only,
    redact,
    cloud_timeout=None,
    max_new_tokens=None,
    target_accuracy=None,
    max_escalation_rate=None,
):
    from edgekit.runtime.errors import ConfigError

    from ..cloud import CloudConfig
    from ..hybrid import HybridClient

    # checked here rather than by click.FloatRange so the error is the CLI's one line, not a usage screen;
    # "not > 0" also refuses nan
    if cloud_timeout is not None and not cloud_timeout > 0:
        raise ConfigError(
            f"--cloud-timeout {cloud_timeout:g} must be > 0 seconds (how long a cloud call may take before "
            "the local answer is used; inf for no limit)"
        )
    cloud = None
    if cloud_url:
        if not cloud_model:
            raise ConfigError("--cloud-url needs --cloud-model NAME (the model the cloud should use)")
        limits = {} if cloud_timeout is None else {"deadline": cloud_timeout}
        cloud = CloudConfig(base_url=cloud_url, model=cloud_model, api_key_env=api_key_env or None, **limits)
    generation = {"max_new_tokens": max_new_tokens} if max_new_tokens else None
    local = bundle if hasattr(bundle, "stream") else str(bundle)
    return HybridClient(
        local,
        cloud,
        policy_file,
        privacy="local-only" if local_only else None,
        redact=redact,
        generation=generation,
        target_accuracy=target_accuracy,
        max_escalation_rate=max_escalation_rate,
    )


def route_line(answer) -> str:
    line = f"[{answer.route.value} · {answer.rule}"
    if answer.probability is not None:
        line += f" · p={answer.probability:.2f}/{answer.threshold:.2f}"
    line += f" · local {answer.cost.local_ms:.0f} ms"
    if answer.cost.cloud_ms:
        tokens = f"{answer.cost.cloud_prompt_tokens}+{answer.cost.cloud_completion_tokens}"
        line += f" · cloud {answer.cost.cloud_ms:.0f} ms, {tokens} tok"
    if answer.error:
        line += f" · {answer.error_kind}: {answer.error}"
    return line + "]"


@click.command("ask")
@click.argument("bundle", type=click.Path(path_type=Path))
@click.argument("question")
@hybrid_options
@click.option("--max-new-tokens", type=int, default=None)
@click.option("--json", "as_json", is_flag=True, help="Print the whole answer (route, rule, signals, cost) as JSON")
def ask(
    bundle,
    question,
    cloud_url,
    cloud_model,
    api_key_env,
    policy_file,
    local_only,
    cloud_timeout,
    target_accuracy,
    max_escalation_rate,
    redact,
    max_new_tokens,
    as_json,
):
    """Ask BUNDLE one QUESTION; escalate to --cloud-url when the policy says so. The route goes to stderr."""
    question = checked_text(question, "the question")
    with make_client(
        bundle,
        cloud_url,
        cloud_model,
        api_key_env,
        policy_file,
        local_only,
        redact,
        cloud_timeout,
        max_new_tokens,
        target_accuracy,
        max_escalation_rate,
    ) as client:
        answer = client.ask(question)
    if as_json:
        click.echo(json.dumps(answer.to_dict(), indent=2))
        return
    click.echo(answer.text)
    click.echo(route_line(answer), err=True)


HYBRID_KEYS = (
    "cloud_url",
    "cloud_model",
    "api_key_env",
    "policy_file",
    "local_only",
    "redact",
    "cloud_timeout",
    "target_accuracy",
    "max_escalation_rate",
)


class _Piece:
    def __init__(self, text: str, result: Any = None):
        self.text = text
        self.result = result  # the final Answer when it has tool calls (the chat loop shows them)


# What stdout says when a RESTART supersedes text already printed there, by (new source, whose text it replaces).
# stdout is the answer stream a user reads or pipes on; without a line between them, a cut cloud answer and the
# local answer that replaces it (or a local answer and the cloud's) would read as one text.
SEPARATORS = {
    ("local", "cloud"): "[cloud answer cut off; local answer follows]",
    ("local", ""): "[cloud gave no answer; local answer follows]",  # the local answer had been printed before
    ("cloud", "local"): "[local answer replaced; cloud answer follows]",
}


def separator_line(event, shown: str) -> str:
    """The stdout line (with the newline that ends the text before it) for a RESTART, or "" when none is due."""
    line = SEPARATORS.get((event.source, event.replaces))
    if line is None or not shown:
        return ""
    return ("" if shown.endswith("\n") else "\n") + line + "\n"


def hybrid_reply_stream(model, stderr, hybrid: dict, **stream_options):
    """A reply stream for chat_cmd.chat_loop backed by HybridClient.stream: tokens go to stdout through the loop,
    the route line and escalation notes to stderr. When a RESTART supersedes text already printed, a separator
    line on stdout (``SEPARATORS``) says which answer follows. The loop stores what was streamed as the assistant
    turn; when a RESTART superseded part of it, the stored turn is corrected to the final answer on the next call."""
    from ..hybrid_answer import EventKind

    options = {k: v for k, v in stream_options.items() if k != "context_policy" and v is not None}
    client = make_client(model, **{k: hybrid.get(k) for k in HYBRID_KEYS})
    last: dict[str, str] = {}

    def reply(messages):
        if (
            last
            and len(messages) >= 2
            and messages[-2].get("role") == "assistant"
            and messages[-2]["content"] == last["streamed"]
        ):
            messages[-2]["content"] = last["final"]
        streamed = []
        for event in client.stream(messages, **options):
            if event.kind is EventKind.TOKEN:
                streamed.append(event.text)
                yield _Piece(event.text)
            elif event.kind is EventKind.RESTART:
                stderr.write(f"\n[{event.note}]\n")
                stderr.flush()
                line = separator_line(event, "".join(streamed))
                if line:
                    streamed.append(line)
                    yield _Piece(line)
            elif event.answer is not None:
                last.update(streamed="".join(streamed), final=event.answer.text)
                stderr.write("\n" + route_line(event.answer))
                stderr.flush()
                if event.answer.tool_calls:
                    yield _Piece("", event.answer)

    return reply
