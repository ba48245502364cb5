"""The bench's tables, target checks and the generated benchmarks page (markdown)."""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .constrained import OVERHEAD_LIMIT
from .hidden_cost import HIDDEN_COST_LIMIT
from .machine import BUSY_LOAD_PER_CORE
from .records import BenchReport, EngineResult

__all__ = ["Target", "TARGETS", "TargetCheck", "check_targets", "format_table", "format_report", "write_markdown"]

_OPS: dict[str, Callable[[float, float], bool]] = {">=": operator.ge, "<=": operator.le}
_SYMBOL = {">=": "≥", "<=": "≤"}


@dataclass(frozen=True)
class Target:
    """``metric`` of edgekit's default row ``op`` ``factor`` — × the peer's default row, or absolute without a peer."""

    metric: str  # an EngineResult attribute
    label: str
    op: str  # ">=" | "<="
    factor: float
    peer: str | None = None
    aim: float | None = None  # the stretch value, printed beside the floor
    unit: str = "×"


TARGETS: tuple[Target, ...] = (
    Target("decode_tok_s", "decode", ">=", 1.0, peer="onnxruntime-genai", aim=1.2),
    Target("decode_tok_s", "decode", ">=", 1.5, peer="llama.cpp"),
    Target("prefill_ms", "prefill time", "<=", 1.0, peer="onnxruntime-genai"),
    Target("peak_rss_mib", "peak RSS", "<=", 1.0, peer="onnxruntime-genai"),
    # an ExecuTorch bundle: edgekit's Python-driven decode vs ExecuTorch's own C++ runner on the same .pte
    Target("decode_tok_s", "decode", ">=", 0.9, peer="executorch-runner"),
    Target("cold_start_ms", "cold start", "<=", 400.0, unit=" ms"),
    Target("top1_agreement", "top-1 agreement with float", ">=", 0.97, aim=0.98, unit=""),
)


@dataclass(frozen=True)
class TargetCheck:
    target: Target
    ok: bool | None  # None: not measured
    text: str

    def line(self) -> str:
        mark = "–" if self.ok is None else "✓" if self.ok else "✗"
        return f"{mark} {self.text}"


def _default_row(results: list[EngineResult], engine: str) -> EngineResult | None:
    return next((r for r in results if r.engine == engine and r.default), None)


def _fmt(value: float | None, spec: str = ".0f") -> str:
    return "—" if value is None else format(value, spec)


def check_targets(report: BenchReport) -> list[TargetCheck]:
    ours = _default_row(report.results, "edgekit")
    checks = []
    for target in TARGETS:
        peer = _default_row(report.results, target.peer) if target.peer else None
        if target.peer and peer is None:
            continue  # that peer was not asked for in this run
        aim = f" (aim {target.aim:g}{target.unit})" if target.aim is not None else ""
        goal = f"{target.label} {_SYMBOL[target.op]} {target.factor:g}{target.unit}"
        if peer is not None:  # exactly when target.peer is set (a missing peer row was skipped above)
            goal += f" {target.peer} ({peer.variant})" if peer.ok else f" {target.peer}"
        goal += aim
        mine = getattr(ours, target.metric) if ours is not None and ours.ok else None
        if peer is not None:
            theirs = getattr(peer, target.metric) if peer.ok else None
            if mine is None or not theirs:
                why = f"{target.peer} {peer.status}" if not peer.ok else "not measured"
                checks.append(TargetCheck(target, None, f"{goal}: not measured ({why})"))
                continue
            value = mine / theirs
            shown = f"{value:.2f}× ({_fmt(mine, '.1f')} vs {_fmt(theirs, '.1f')})"
        else:
            if mine is None:
                checks.append(TargetCheck(target, None, f"{goal}: not measured"))
                continue
            value = mine
            shown = f"{value:.3f}" if target.unit == "" else f"{value:.0f}{target.unit}"
        checks.append(TargetCheck(target, _OPS[target.op](value, target.factor), f"{goal}: {shown}"))
    checks.extend(_constraint_checks(report))
    checks.extend(_hidden_cost_checks(report))
    return checks


# Rows whose own worker measured an overhead as a same-process ratio (row.extra[key]), not a row attribute: the
# constrained rows (constrained.py) and the hidden-state row (hidden_cost.py).
CONSTRAINT_TARGET = Target("constrained", "constrained-decoding overhead", "<=", OVERHEAD_LIMIT * 100, unit="%")
HIDDEN_COST_TARGET = Target("hidden_cost", "hidden-state probe cost", "<=", HIDDEN_COST_LIMIT * 100, unit="%")


def _overhead_checks(
    report: BenchReport, key: str, target: Target, text: Callable[[dict, float], str]
) -> list[TargetCheck]:
    checks = []
    for row in report.results:
        measured = row.extra.get(key) if row.engine == "edgekit" and row.ok else None
        if measured:
            overhead = measured["overhead"] * 100
            checks.append(TargetCheck(target, overhead <= target.factor, text(measured, overhead)))
    return checks


def _constraint_checks(report: BenchReport) -> list[TargetCheck]:
    return _overhead_checks(
        report,
        "constrained",
        CONSTRAINT_TARGET,
        lambda m, overhead: (
            f"{CONSTRAINT_TARGET.label} ({m['name']}) ≤ {CONSTRAINT_TARGET.factor:g}% of decode: "
            f"{overhead:.1f}% ({m['tok_s']:.1f} vs {m['unconstrained_tok_s']:.1f} tok/s)"
        ),
    )


def _hidden_cost_checks(report: BenchReport) -> list[TargetCheck]:
    return _overhead_checks(
        report,
        "hidden_cost",
        HIDDEN_COST_TARGET,
        lambda m, overhead: (
            f"{HIDDEN_COST_TARGET.label} ≤ {HIDDEN_COST_TARGET.factor:g}% of decode: {overhead:.1f}% "
            f"({m['tok_s']:.1f} tok/s reading them vs {m['without_tok_s']:.1f} without)"
        ),
    )


COLUMNS = (
    "engine",
    "setting",
    "weights",
    "decode tok/s",
    "prefill ms",
    "cold start ms",
    "load ms",
    "peak RSS MiB",
    "top-1 agreement",
    "mean KL",
    "weights MiB/token",
    "limit tok/s",
    "share of limit",
)


def _row(r: EngineResult) -> str:
    if not r.ok:
        return "| " + " | ".join([r.engine, r.status, r.message.replace("|", "/")] + [""] * (len(COLUMNS) - 3)) + " |"
    cells = [
        r.engine,
        r.variant,
        r.weights,
        _fmt(r.decode_tok_s, ".1f"),
        _fmt(r.prefill_ms),
        _fmt(r.cold_start_ms),
        _fmt(r.load_ms),
        _fmt(r.peak_rss_mib),
        _fmt(r.top1_agreement, ".3f"),
        _fmt(r.mean_kl, ".4f"),
        _fmt(None if r.weight_bytes_per_token is None else r.weight_bytes_per_token / 2**20, ".1f"),
        _fmt(r.limit_tok_s),
        "—" if r.limit_share is None else f"{r.limit_share:.0%}",
    ]
    return "| " + " | ".join(cells) + " |"


def format_table(results: list[EngineResult]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    return "\n".join(lines + [_row(r) for r in results])


def format_report(report: BenchReport) -> str:
    """The table, the target lines (same-run ratios), the extra facts and the notes of one bundle."""
    parts = [format_table(report.results)]
    checks = check_targets(report)
    if checks:
        parts.append(
            "Targets (edgekit's default row vs each peer's default row, same run):\n\n"
            + "\n".join(f"- {c.line()}" for c in checks)
        )
    facts = []
    if report.bandwidth:
        bw = report.bandwidth
        facts.append(
            f"memory bandwidth {bw['gib_per_s']:.1f} GiB/s ({bw['method']}, {bw['threads']} threads); "
            "limit tok/s = bandwidth ÷ weight bytes read per decoded token"
        )
    if report.quality:
        q = report.quality
        facts.append(
            f"quality: teacher-forced over the first {q['tokens']} tokens of {q['text']} in {q['segments']} "
            f"segments, against the {q['reference']}; measured once per engine (settings change speed, "
            "not numerics)"
        )
    builds = {r.engine: r.extra for r in report.results if r.ok and r.extra.get("build")}
    for engine, extra in builds.items():
        versions = ", ".join(f"{k} {v}" for k, v in extra.get("versions", {}).items())
        facts.append(f"{engine} ({versions}) build uses: {extra['build']}")
    for r in report.results:
        if r.engine == "optimum-executorch" and r.ok and r.extra:
            e = r.extra
            facts.append(
                f"optimum-executorch: `{e['recipe']}`; export {_fmt(e.get('export_s'))} s, export peak RSS "
                f"{_fmt(e.get('export_peak_rss_mib'))} MiB ({e['export']}); their .pte {_fmt(e.get('pte_mib'), '.1f')} "
                f"MiB. edgekit's bundle: .pte {_fmt(e.get('bundle_model_mib'), '.1f')} MiB, export stages "
                f"{_fmt(e.get('bundle_export_s'))} s, export peak RSS {_fmt(e.get('bundle_export_peak_rss_mib'))} MiB"
            )
    for r in report.results:
        cost = r.extra.get("hidden_cost") if r.ok else None
        if cost:
            facts.append(
                f"hidden-state row: the same worker decodes {cost['generated_tokens']} tokens with the model's final "
                f"hidden state read ({cost['hidden_size']} floats a token, summed for the answer probe) and with the "
                f"bundle loaded without it, interleaved {cost['repeats']}× (medians {cost['tok_s']:.1f} and "
                f"{cost['without_tok_s']:.1f} tok/s; same tokens: {'yes' if cost['same_tokens'] else 'no'})"
            )
    for r in report.results:
        measured = r.extra.get("constrained") if r.ok else None
        if measured:
            facts.append(
                f"constrained row ({measured['name']}): the same worker decodes {measured['generated_tokens']} "
                f"tokens without and with the grammar, interleaved {measured['repeats']}× (medians "
                f"{measured['unconstrained_tok_s']:.1f} and {measured['tok_s']:.1f} tok/s); llguidance's "
                f"vocabulary, built once per model, took {measured['vocabulary_ms']:.0f} ms"
            )
    facts.extend(report.notes)
    if facts:
        parts.append("\n".join(f"- {f}" for f in facts))
    if report.streams:
        parts.append(format_streams(report))
    return "\n\n".join(parts)


STREAMS_COLUMNS = ("streams", "aggregate tok/s", "per stream tok/s", "vs 1 stream", "decoded together", "peak RSS MiB")


def format_streams(report: BenchReport) -> str:
    """edgekit at N concurrent generations: the aggregate throughput a device serving N users gets."""
    one = next((r.aggregate_tok_s for r in report.streams if r.streams == 1 and r.aggregate_tok_s), None)
    lines = [
        f"Concurrent streams (edgekit, default configuration, `load(parallel=N)` as `edgekit serve --parallel N` "
        f"runs it): N generations of the bench prompt at once, {report.decode_tokens} tokens each; aggregate = all "
        "streams' tokens ÷ wall time, prefills included (median of the repeats). Decoded together: share of "
        "tokens from calls that decoded 2+ sequences (the batcher batches only when it measured that cheaper).",
        "",
        "| " + " | ".join(STREAMS_COLUMNS) + " |",
        "|" + "---|" * len(STREAMS_COLUMNS),
    ]
    for r in report.streams:
        if r.aggregate_tok_s is None:
            lines.append(f"| {r.streams} | {r.status}: {r.message} |  |  |  |  |")
            continue
        ratio = f"{r.aggregate_tok_s / one:.2f}×" if one else ""
        together = f"{r.batched_share:.0%}" if r.batched and r.batched_share is not None else "no batching"
        lines.append(
            f"| {r.streams} | {r.aggregate_tok_s:.1f} | {r.aggregate_tok_s / r.streams:.1f} | {ratio} | {together} "
            f"| {_fmt(r.peak_rss_mib)} |"
        )
    return "\n".join(lines)


def _machine_lines(facts: dict) -> list[str]:
    versions = ", ".join(f"{k} {v}" for k, v in facts["versions"].items())
    ram = f"{facts['ram_gib']:.1f} GiB RAM" if facts.get("ram_gib") else "RAM unknown"
    return [
        f"- machine: {facts['cpu']} ({facts['arch']}), {facts['physical_cores']} physical cores / "
        f"{facts['logical_cpus']} logical CPUs, {ram}, {facts['os']}, Python {facts['python']}",
        f"- threads per engine: {facts['threads']}; date: {facts['date_utc']}",
        f"- versions: {versions}",
    ]


def _quiet_line(facts: dict, after: float | None) -> str:
    before = facts.get("load_average_1m")
    cores = facts.get("logical_cpus") or 1
    if before is None:
        return "- machine load: unknown (no load average on this OS)"
    busy = before > BUSY_LOAD_PER_CORE * cores
    tail = f", {after:.2f} after" if after is not None else ""
    if busy:
        return (
            f"- **measured while the machine was not quiet**: 1-minute load average {before:.2f} before the run"
            f"{tail} on {cores} CPUs (other processes shared the CPU; absolute numbers are low and noisy, ratios "
            "from the same run are the comparable part)"
        )
    return f"- machine quiet: 1-minute load average {before:.2f} before the run{tail}"


def write_markdown(
    reports: list[BenchReport], path: str | Path, facts: dict, command: str, load_after: float | None = None
) -> Path:
    """The generated benchmarks page: how it was made, the machine, then each bundle's table and targets."""
    lines = [
        "<!-- Generated by `edgekit bench --markdown`; do not edit by hand: re-run the command below. -->",
        "",
        "# Benchmarks",
        "",
        f"Generated by `{command}`.",
        "",
        *_machine_lines(facts),
        _quiet_line(facts, load_after),
        "",
        "Each engine runs in its own process on the same token ids, one after another, in its default "
        "configuration (no environment forced on it) plus labelled rows with a setting toggled. Prefill: the "
        "chat-templated bench prompt to its first token (median of warm runs). Decode: greedy tokens, eos ignored. "
        "Cold start: process start to first token. Peak RSS: the worker's `ru_maxrss`. Agreement and KL: "
        "teacher-forced against the float model. Limit: memory bandwidth ÷ weight bytes read per decoded token.",
    ]
    for report in reports:
        lines += [
            "",
            f"## {report.model} — {report.recipe} (`{report.bundle}`)",
            "",
            f"Prompt {report.prompt_tokens} tokens, {report.decode_tokens} decoded tokens, {report.threads} threads.",
            "",
            format_report(report),
        ]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
