"""`edgekit eval commands`: run the local model over the labelled command set and measure its tool calls.

``collect_command_records`` answers every utterance locally (greedy, ``tool_choice="auto"``; with
``required=True`` the utterances that need a tool once more under ``"required"``), checks every local call
against its tool's schema again (tool_check.py, what also checks a cloud's calls) and keeps the escalation
policy's score. ``commands_report`` measures the schema-valid share of local calls, exact match of name and
arguments (commands_match.py), per-tool accuracy, how often chat questions get a plain answer and no-tool
requests no call, and accuracy at 10/20/30/50% escalation for the policy's score, random escalation and the
oracle (policy.metrics, as `edgekit eval escalation` does), with the cloud assumed right.

An item is right locally when: ``call``, exactly one call equal to the label; ``chat``, no call; ``no_tool``,
never (no listed tool serves it, so the right outcome is the cloud; not making a call is reported on its own).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from edgekit.runtime.errors import ToolError
from edgekit.runtime.progress import OnProgress, ProgressEvent, no_progress
from edgekit.runtime.tool_check import checked_call
from edgekit.runtime.tool_examples import ToolExamples
from edgekit.runtime.tools import parse_tools

from .commands_match import same_call
from .policy.answer_probe import probe_state
from .policy.metrics import RATES, accuracy_at_rate, oracle_accuracy, random_accuracy, recovery
from .policy.metrics import percent_cell as _pct
from .policy.policy import Policy
from .policy.probe import encode_hidden
from .policy.signals import post_signals, pre_signals

__all__ = ["collect_command_records", "commands_report", "format_commands_report"]


def _calls(model: Any, result: Any, tools: Sequence[Any]) -> list[dict[str, Any]]:
    out = []
    for call in result.tool_calls:
        try:
            checked_call(call.to_openai(), tools, model.grammar_vocabulary)
            valid = True
        except ToolError:
            valid = False
        out.append({"name": call.name, "arguments": call.arguments, "valid": valid})
    return out


def _score(policy: Policy, question: str, result: Any) -> tuple[float, dict[str, float]]:
    """The policy's escalation score (above 1 when its router escalates before generation, else the post
    model's probability: 1 for a context overflow, 0 without a model) and the signals it read."""
    pre = pre_signals(question)
    routed = policy.route(question, pre)
    if routed.escalate:
        return 1.0 + (routed.probability or 0.0), dict(pre)
    signals = {**pre, **post_signals(result, policy.answer_kind(routed.family), question)}
    post = policy.decide(routed.family, signals, answer_hidden=probe_state(result, tools_offered=True))
    if post.probability is None:
        return (1.0 if post.escalate else 0.0), signals
    return float(post.probability), signals


def _right(item: Mapping[str, Any], calls: Sequence[Mapping[str, Any]]) -> bool:
    if item["kind"] == "call":
        return len(calls) == 1 and same_call(calls[0]["name"], calls[0]["arguments"], item["expected"])
    return item["kind"] == "chat" and not calls


def collect_command_records(
    model: Any,
    items: Sequence[Mapping[str, Any]],
    tools: Sequence[Mapping[str, Any]],
    policy: Policy,
    *,
    max_new_tokens: int = 96,
    required: bool = False,
    examples: Sequence[Mapping[str, Any]] = (),
    on_progress: OnProgress | None = None,
) -> list[dict[str, Any]]:
    """One record per item: the local answer (auto), its calls checked, right or not, the policy's score.

    ``examples`` (labelled command rows, e.g. the train split): the pool the runtime picks worked examples from
    for each utterance (tool_examples.py); an item never sees itself in it."""
    on_progress = on_progress or no_progress
    typed = parse_tools(list(tools))
    records: list[dict[str, Any]] = []
    start = time.perf_counter()
    options = {"tools": list(tools), "temperature": 0.0, "max_new_tokens": max_new_tokens, "context_policy": "signal"}
    pool_rows = [e for e in examples if e.get("kind") == "call"]
    pool_ids = [e.get("id") for e in pool_rows]
    # checked once here: the leave-one-out pools below keep these checks instead of repeating them per item
    pool = model.check_tool_examples(ToolExamples(pool_rows), typed) if pool_rows else None
    for n, item in enumerate(items, 1):
        messages = [{"role": "user", "content": item["utterance"]}]
        shown = pool
        if pool is not None and item["id"] in pool_ids:  # leave the item itself out
            shown = pool.without(pool_ids.index(item["id"]))
        if shown is not None:
            options["tool_examples"] = shown
        result = model.generate(messages, tool_choice="auto", **options)
        calls = _calls(model, result, typed)
        score, signals = _score(policy, item["utterance"], result)
        record = {
            **{k: item[k] for k in ("id", "group", "kind", "split", "template", "utterance", "expected")},
            "text": result.text,
            "calls": calls,
            "finish_reason": str(result.finish_reason),
            "context_overflow": bool(result.context_overflow),
            "correct": _right(item, calls),
            "score": score,
            "signals": signals,  # what the policy read, so another policy can be scored on the same answers
            "hidden": encode_hidden(result),
            "local_ms": result.timings.total_ms,
            "examples_shown": len(shown.select(item["utterance"], [t.name for t in typed])) if shown else 0,
        }
        if required and item["kind"] == "call":
            forced = model.generate(messages, tool_choice="required", **options)
            forced_calls = _calls(model, forced, typed)
            record["required"] = {"calls": forced_calls, "correct": _right(item, forced_calls)}
        records.append(record)
        right = sum(r["correct"] for r in records if r["kind"] == "call")
        needing = sum(r["kind"] == "call" for r in records)
        on_progress(
            ProgressEvent(
                1,
                1,
                "eval",
                f"{n}/{len(items)}",
                False,
                time.perf_counter() - start,
                {"exact": right / needing if needing else float("nan")},
            )
        )
    return records


def _share(flags: Sequence[bool]) -> float:
    return float(np.mean(flags)) if len(flags) else float("nan")


def commands_report(records: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    records = list(records)
    calls = [c for r in records for c in r["calls"]]
    forced = [c for r in records for c in r.get("required", {}).get("calls", ())]
    needing = [r for r in records if r["kind"] == "call"]
    per_tool: dict[str, dict[str, float]] = {}
    for tool in sorted({r["group"] for r in needing}):
        rows = [r for r in needing if r["group"] == tool]
        per_tool[tool] = {
            "n": len(rows),
            "exact": _share([r["correct"] for r in rows]),
            "right_tool": _share([any(c["name"] == tool for c in r["calls"]) for r in rows]),
            "called": _share([bool(r["calls"]) for r in rows]),
        }
    correct = np.array([bool(r["correct"]) for r in records])
    cloud = np.ones(len(records), dtype=bool)  # cloud assumed right
    scores = np.array([float(r["score"]) for r in records])
    local = _share(list(correct))
    curves: dict[str, dict[str, float]] = {"policy": {}, "random": {}, "oracle": {}}
    recov: dict[str, float] = {}
    for rate in RATES:
        key = f"{int(rate * 100)}%"
        curves["policy"][key] = accuracy_at_rate(scores, correct, cloud, rate)
        curves["random"][key] = random_accuracy(correct, cloud, rate)
        curves["oracle"][key] = oracle_accuracy(correct, cloud, rate)
        recov[key] = recovery(curves["policy"][key], local, curves["oracle"][key])
    report: dict[str, Any] = {
        "n": len(records),
        "kinds": {k: sum(r["kind"] == k for r in records) for k in ("call", "chat", "no_tool")},
        "local_calls": len(calls) + len(forced),
        "schema_valid": _share([c["valid"] for c in calls + forced]),
        "exact_match": _share([r["correct"] for r in needing]),
        "called_when_needed": _share([bool(r["calls"]) for r in needing]),
        "per_tool": per_tool,
        "chat_plain": _share([not r["calls"] for r in records if r["kind"] == "chat"]),
        "no_tool_uncalled": _share([not r["calls"] for r in records if r["kind"] == "no_tool"]),
        "context_overflow": sum(bool(r.get("context_overflow")) for r in records),
        "local_accuracy": local,
        "accuracy_at": curves,
        "recovery_vs_oracle": recov,
    }
    if any("required" in r for r in needing):
        report["required"] = {
            "calls": len(forced),
            "exact_match": _share([r["required"]["correct"] for r in needing if "required" in r]),
        }
    return report


def format_commands_report(report: Mapping[str, Any]) -> str:
    kinds = report["kinds"]
    lines = [
        f"command report: {report['n']} utterances ({kinds['call']} need a tool, {kinds['chat']} chat, "
        f"{kinds['no_tool']} no tool serves); tool_choice auto, greedy; {report.get('examples', 'no examples')}",
        f"schema-valid local calls   {_pct(report['schema_valid'])}%  ({report['local_calls']} calls)",
        f"exact match (name + args)  {_pct(report['exact_match'])}%  (a call at all: "
        f"{_pct(report['called_when_needed']).strip()}%)",
    ]
    if "required" in report:
        lines.append(f"exact match, required     {_pct(report['required']['exact_match'])}%")
    lines += [
        f"chat answered without call {_pct(report['chat_plain'])}%",
        f"no-tool requests uncalled  {_pct(report['no_tool_uncalled'])}%",
    ]
    if report["context_overflow"]:
        lines.append(f"context overflows          {report['context_overflow']} (answered as no call)")
    lines += ["", f"{'tool':<16}{'n':>4}{'exact':>8}{'right tool':>12}{'called':>8}"]
    for tool, row in report["per_tool"].items():
        lines.append(
            f"{tool:<16}{row['n']:>4}{_pct(row['exact']):>8}{_pct(row['right_tool']):>12}{_pct(row['called']):>8}"
        )
    lines += [
        "",
        f"local accuracy {_pct(report['local_accuracy']).strip()}% (no-tool requests count as the cloud's)",
        "accuracy (%) at escalation rate: policy / random / oracle   [policy recovery of oracle gain]; "
        "cloud assumed right",
    ]
    a = report["accuracy_at"]
    for key in a["policy"]:
        lines.append(
            f"{key:>4}: {_pct(a['policy'][key])} / {_pct(a['random'][key])} / {_pct(a['oracle'][key])}   "
            f"[{_pct(report['recovery_vs_oracle'][key])}]"
        )
    return "\n".join(lines)
