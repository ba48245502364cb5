"""`edgekit eval escalation`: run the local model over a labelled set and measure escalation.

``collect_records`` answers every item locally (and, with a cloud, in the
cloud), checks both, and keeps the policy's signals: one record per item.
``escalation_report`` measures, per family and overall, local accuracy, the
AUROC of each signal and of the cross-validated policy for "local answer is
wrong", and accuracy at 10/20/30/50% escalation for the policy, the router
alone, random escalation and the oracle (policy.metrics). Records with the
model's hidden states (bundles that export them) add the hidden-state probes
beside today's signals, on the same held-out folds (policy/probe.py).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from edgekit.runtime.errors import EscalationError
from edgekit.runtime.progress import OnProgress, ProgressEvent, no_progress

from .evalset import check
from .policy.answer_fit import has_answer_states, record_state
from .policy.calibration import ROUTER_PRECISION, cross_validated_stages, router_thresholds, two_stage_scores
from .policy.metrics import (
    RATES,
    accuracy_at_rate,
    auroc,
    expected_calibration_error,
    oracle_accuracy,
    random_accuracy,
    recovery,
    reliability,
)
from .policy.metrics import percent_cell as _pct
from .policy.policy import Policy
from .policy.probe import encode_hidden, format_comparison, has_hidden, probe_comparison
from .policy.signals import POST_SIGNALS, PRE_SIGNALS, SIGNAL_DIRECTION, post_signals, pre_signals

__all__ = ["collect_records", "escalation_report", "format_report", "plot_report"]


def collect_records(
    model: Any,
    items: Sequence[Mapping[str, Any]],
    policy: Policy,
    *,
    max_new_tokens: int = 48,
    cloud: Any = None,
    on_progress: OnProgress | None = None,
) -> list[dict[str, Any]]:
    """Answer each item locally (greedy) and optionally in the cloud; one record per item."""
    on_progress = on_progress or no_progress
    records = []
    start = time.perf_counter()
    for n, item in enumerate(items, 1):
        question = item["question"]
        messages = [{"role": "user", "content": question}]
        family = policy.classify(question)
        result = model.generate(messages, max_new_tokens=max_new_tokens, temperature=0.0, context_policy="signal")
        signals = {**pre_signals(question), **post_signals(result, policy.answer_kind(family), question)}
        record = {
            "id": item["id"],
            "model": str(getattr(getattr(getattr(model, "manifest", None), "model", None), "name", None) or ""),
            "label_family": item["family"],
            "level": item.get("level", ""),
            "family": family,
            "question": question,
            "checker": item["checker"],
            "expected": item["expected"],
            "text": result.text,
            "correct": bool(check(item["checker"], result.text, item["expected"])),
            "signals": signals,
            "local_ms": result.timings.total_ms,
            "finish_reason": str(result.finish_reason),
            # per-token numbers, so signals can be recomputed without running the model again
            "tokens": [[t.text, round(t.logprob, 5), round(t.entropy, 5)] for t in result.tokens],
            "cloud_correct": None,
        }
        hidden = encode_hidden(result)
        if hidden is not None:  # the hidden-state probes' inputs (policy/probe.py); absent for bundles without them
            record["hidden"] = hidden
        if cloud is not None:
            try:
                reply = cloud.complete(messages)
                record["cloud_text"] = reply.text
                record["cloud_correct"] = bool(check(item["checker"], reply.text, item["expected"]))
            except EscalationError as exc:
                record["cloud_error"] = str(exc)
                record["cloud_correct"] = False
        records.append(record)
        on_progress(
            ProgressEvent(
                1,
                1,
                "eval",
                f"{n}/{len(items)}",
                False,
                time.perf_counter() - start,
                {"acc": sum(r["correct"] for r in records) / len(records)},
            )
        )
    return records


def _block(records, p_pre, p_post, scores) -> dict[str, Any]:
    correct = np.array([bool(r["correct"]) for r in records])
    wrong = ~correct
    cloud = np.array([True if r.get("cloud_correct") is None else bool(r["cloud_correct"]) for r in records])
    acc = float(correct.mean()) if len(records) else float("nan")
    signals = {}
    for name in PRE_SIGNALS + POST_SIGNALS:
        values = np.array([r["signals"][name] for r in records], dtype=float) * SIGNAL_DIRECTION[name]
        signals[name] = auroc(values, wrong)
    curves: dict[str, dict[str, float]] = {"policy": {}, "router": {}, "random": {}, "oracle": {}}
    recov: dict[str, float] = {}
    for rate in RATES:
        key = f"{int(rate * 100)}%"
        oracle = oracle_accuracy(correct, cloud, rate)
        policy_acc = accuracy_at_rate(scores, correct, cloud, rate)
        curves["policy"][key] = policy_acc
        curves["router"][key] = accuracy_at_rate(p_pre, correct, cloud, rate)
        curves["random"][key] = random_accuracy(correct, cloud, rate)
        curves["oracle"][key] = oracle
        recov[key] = recovery(policy_acc, acc, oracle)
    return {
        "n": len(records),
        "local_accuracy": acc,
        "cloud_accuracy": float(cloud.mean()) if len(records) else float("nan"),
        "auroc_signals": signals,
        "auroc_router": auroc(p_pre, wrong),
        "auroc_post": auroc(p_post, wrong),
        "auroc_policy": auroc(scores, wrong),
        "ece_post": expected_calibration_error(p_post, wrong),
        "reliability_post": reliability(p_post, wrong),
        "accuracy_at": curves,
        "recovery_vs_oracle": recov,
    }


def escalation_report(
    records: Sequence[Mapping[str, Any]],
    *,
    folds: int = 5,
    seed: int = 0,
    router_precision: float = ROUTER_PRECISION,
    policy: Policy | None = None,
) -> dict[str, Any]:
    """Cross-validated escalation metrics per labelled family and overall."""
    records = list(records)
    folds = max(2, min(folds, len(records) // 4)) if len(records) >= 8 else 2
    min_family = 30 if len(records) >= 120 else 10**9
    p_pre, p_signals, p_joint = cross_validated_stages(
        records, folds=folds, seed=seed, min_family=min_family, answer_probe=has_answer_states(records)
    )  # the post models as `edgekit calibrate` fits them: with the answer probe when the records have its state
    p_post = p_joint if p_joint is not None else p_signals
    router_t = router_thresholds(records, p_pre, router_precision)
    scores = two_stage_scores(records, p_pre, p_post, router_t)
    report: dict[str, Any] = {"folds": folds, "overall": _block(records, p_pre, p_post, scores), "families": {}}
    for family in sorted({r["label_family"] for r in records}):
        idx = [i for i, r in enumerate(records) if r["label_family"] == family]
        report["families"][family] = _block([records[i] for i in idx], p_pre[idx], p_post[idx], scores[idx])
    if has_hidden(records):  # records of a bundle with hidden states: the probes beside today's signals
        report["probe"] = probe_comparison(records, p_pre, p_signals, folds=folds, seed=seed, p_joint=p_joint)
    if policy is not None and (policy.post_models or policy.router_models):
        # the given policy file as it is (in-sample if it was fitted on these records)
        decided = []
        for r in records:
            routed = policy.route(r["question"], r["signals"])
            post = policy.decide(routed.family, r["signals"], answer_hidden=record_state(r))
            decided.append(1.0 + (routed.probability or 0.0) if routed.escalate else (post.probability or 0.0))
        wrong = [not r["correct"] for r in records]
        report["policy_file"] = {
            "auroc": auroc(decided, wrong),
            "escalation_rate": float(np.mean([1.0 if s >= 1.0 or s >= _post_t(policy) else 0.0 for s in decided])),
        }
    return report


def _post_t(policy: Policy) -> float:
    model = policy.post_models.get("default")
    return model.threshold if model is not None else 1.0


def format_report(report: Mapping[str, Any]) -> str:
    lines = []
    blocks = [("overall", report["overall"])] + list(report["families"].items())
    signal_names = list(report["overall"]["auroc_signals"])
    head = f"{'family':<12}{'n':>5}{'local acc':>11}{'AUROC policy':>14}{'router':>8}{'post':>7}{'ECE post':>10}"
    lines.append(
        f"escalation report ({report['folds']}-fold cross-validated; cloud answers "
        f"{'as measured' if any(b['cloud_accuracy'] < 1 for _, b in blocks) else 'counted as correct'})"
    )
    lines.append(head)
    for name, b in blocks:
        lines.append(
            f"{name:<12}{b['n']:>5}{_pct(b['local_accuracy']):>11}{b['auroc_policy']:>14.3f}"
            f"{b['auroc_router']:>8.3f}{b['auroc_post']:>7.3f}{b['ece_post']:>10.3f}"
        )
    lines.append("")
    lines.append("AUROC per signal (wrong answer = positive; direction-adjusted)")
    lines.append(f"{'signal':<22}" + "".join(f"{name[:11]:>12}" for name, _ in blocks))
    for s in signal_names:
        lines.append(f"{s:<22}" + "".join(f"{b['auroc_signals'][s]:>12.3f}" for _, b in blocks))
    lines.append("")
    lines.append(
        "accuracy (%) at escalation rate: policy / router / random / oracle   [policy recovery of oracle gain]"
    )
    for name, b in blocks:
        cells = []
        for key in b["accuracy_at"]["policy"]:
            a = b["accuracy_at"]
            cells.append(
                f"{key:>4}: {_pct(a['policy'][key])}/{_pct(a['router'][key])}/{_pct(a['random'][key])}/"
                f"{_pct(a['oracle'][key])} [{_pct(b['recovery_vs_oracle'][key])}]"
            )
        lines.append(f"{name:<12}" + "  ".join(cells))
    if "policy_file" in report:
        pf = report["policy_file"]
        lines.append("")
        lines.append(
            f"policy file as given: AUROC {pf['auroc']:.3f}, escalation rate {_pct(pf['escalation_rate'])}% "
            "(in-sample if it was fitted on this set)"
        )
    if "probe" in report:
        lines.append("")
        lines.append(format_comparison(report["probe"]))
    if "transfer" in report:
        from .escalation_transfer import format_transfer

        lines.append("")
        lines.append(format_transfer(report["transfer"]))
    return "\n".join(lines)


def plot_report(report: Mapping[str, Any], path: str) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ModuleNotFoundError as exc:
        from edgekit.runtime.errors import DependencyError

        raise DependencyError("--plot", "bench", exc.name) from None
    blocks = [("overall", report["overall"])] + list(report["families"].items())
    fig, axes = plt.subplots(1, len(blocks) + 1, figsize=(4 * (len(blocks) + 1), 3.6), squeeze=False)
    rates = [0.0] + list(RATES)
    for ax, (name, b) in zip(axes[0], blocks):
        for curve, style in (("oracle", "k--"), ("policy", "C0-o"), ("router", "C1-s"), ("random", "C7:")):
            ys = [b["local_accuracy"]] + [b["accuracy_at"][curve][f"{int(r * 100)}%"] for r in RATES]
            ax.plot([100 * r for r in rates], [100 * y for y in ys], style, label=curve)
        ax.set_title(f"{name} (n={b['n']})")
        ax.set_xlabel("escalated (%)")
        ax.set_ylabel("accuracy (%)")
        ax.grid(alpha=0.3)
    axes[0][0].legend(loc="lower right")
    _reliability_panel(axes[0][-1], report)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _reliability_panel(ax: Any, report: Mapping[str, Any]) -> None:
    """Predicted probability of a wrong answer (post model, out of fold) against the observed share wrong."""
    cells = [("cross-validated", report["overall"]["reliability_post"], "C0-o")]
    if "transfer" in report:
        cells.append(("fitted on the other set", report["transfer"]["overall"]["reliability_post"], "C3-s"))
    ax.plot([0, 100], [0, 100], "k--", label="calibrated")
    for label, bins, style in cells:
        ax.plot([100 * p for p, _, _ in bins], [100 * seen for _, seen, _ in bins], style, label=label)
    ax.set_title(f"reliability (ECE {report['overall']['ece_post']:.3f})")
    ax.set_xlabel("predicted wrong (%)")
    ax.set_ylabel("observed wrong (%)")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left")
