"""`edgekit eval commands BUNDLE`: measure the bundle's tool calls on the labelled command set."""

from __future__ import annotations

import json
from pathlib import Path

import click

from .progress_render import StderrProgress


@click.command("commands")
@click.argument("bundle", type=click.Path(path_type=Path))
@click.option("--split", default="held-out", show_default=True, help="train, held-out or all")
@click.option("--limit", type=int, default=None, help="Evaluate an evenly spread slice of N utterances")
@click.option(
    "--tools",
    "tool_names",
    default=None,
    help="Comma-separated tool names: offer only these (and keep only their utterances, chat and no-tool ones)",
)
@click.option("--required", is_flag=True, help="Also answer the tool-needing utterances with tool_choice 'required'")
@click.option(
    "--examples",
    "examples_from",
    type=click.Choice(["train", "none"]),
    default="train",
    show_default=True,
    help="Worked examples the runtime shows per request: the most similar labelled calls of the train split "
    "(never the request itself), or none",
)
@click.option("--max-new-tokens", type=int, default=96, show_default=True)
@click.option(
    "--policy",
    "policy_file",
    type=click.Path(path_type=Path),
    default=None,
    help="Escalation policy whose score is measured (default: the shipped one)",
)
@click.option(
    "--records", "records_out", type=click.Path(path_type=Path), default=None, help="Write per-item records (JSONL)"
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON")
@click.option("--quiet", is_flag=True)
def commands(
    bundle, split, limit, tool_names, required, examples_from, max_new_tokens, policy_file, records_out, as_json, quiet
) -> None:
    """Run BUNDLE over the command set (greedy, tool_choice auto); print the schema-valid share of its calls,
    exact match of name and arguments, per-tool accuracy, plain answers to chat, no calls for requests no tool
    serves, and accuracy at 10/20/30/50% escalation for the policy, random escalation and the oracle."""
    from edgekit.runtime import load
    from edgekit.runtime.errors import ConfigError

    from ..commands_eval import collect_command_records, commands_report, format_commands_report
    from ..evalset import _spread
    from ..evalset.commands import load_commands, load_tools
    from ..policy.policy import Policy

    if limit is not None and limit < 1:
        raise ConfigError(f"--limit {limit} is invalid: give a positive number of utterances")
    names = [n.strip() for n in tool_names.split(",") if n.strip()] if tool_names else None
    tools = load_tools(names)
    items = load_commands(split=split, tools=names)
    if limit is not None:
        items = _spread(items, limit)
    policy = Policy.load(policy_file) if policy_file else Policy.default()
    examples = load_commands(split="train", tools=names) if examples_from == "train" else []
    with load(bundle) as model:
        records = collect_command_records(
            model,
            items,
            tools,
            policy,
            max_new_tokens=max_new_tokens,
            required=required,
            examples=examples,
            on_progress=StderrProgress(quiet=quiet),
        )
    if records_out:
        records_out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    report = commands_report(records)
    report.update(split=split, max_new_tokens=max_new_tokens)
    if examples:
        shown = [r["examples_shown"] for r in records]
        report["examples"] = (
            f"worked examples from the train split ({sum(bool(n) for n in shown)} of {len(shown)} requests shown "
            f"some, {sum(shown) / max(1, len(shown)):.1f} on average)"
        )
    click.echo(json.dumps(report, indent=2) if as_json else format_commands_report(report))
