"""A domain policy: keep the tuned model's own questions on the device, send everything else to the cloud.

A model tuned on one product answers every question as if it were about that product (the default model tuned
on the support FAQ puts the product into most answers to general questions), and it does so fluently, so the
token signals the general policy reads do not tell the two apart. The prompt's final hidden state does: it is
where the model "knows" what kind of question it was asked, and a linear probe on it separates in-domain from
out-of-domain prompts before a single token is generated (probe.py; prompt_probe.py folds it into the policy
file).

Fitting: the prompt states of the domain's training questions (label: keep) and of general questions (label:
escalate), a PCA + logistic probe (probe.fit_probe) scored out of fold on stratified folds; the threshold is
the lowest that escalates at most ``max_inside_rate`` of the in-domain ones out of fold.
The final probe is refitted on every row and folded into the policy. The report then tests the policy on
questions never used in fitting, built differently: the domain's held-out questions (phrased differently; their
kept answers are scored by key facts) and its out-of-domain set (haiku, translation, arithmetic in words...).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
from edgekit.runtime.errors import ConfigError
from edgekit.runtime.progress import OnProgress, ProgressEvent, no_progress

from ..evalset.domains import DomainSet, Prompt
from .base import base_policy
from .calibration import _folds
from .metrics import auroc
from .policy import Policy
from .probe import COMPONENTS, fit_probe
from .prompt_probe import PromptProbe
from .signals import pre_signals, question_of

__all__ = ["DomainReport", "DomainCalibration", "prompt_states", "calibrate_domain", "MAX_INSIDE_RATE"]

# Out-of-fold share of in-domain fitting questions the threshold may escalate. The held-out questions are phrased
# differently from the fitting ones, so their rate comes out higher; the target there is at most 20%.
MAX_INSIDE_RATE = 0.05


@dataclass(frozen=True)
class DomainReport:
    domain: str
    n_inside: int  # fitting rows
    n_outside: int
    components: int
    threshold: float
    fit_auroc: float  # out of fold: in-domain (keep) vs out-of-domain (escalate)
    fit_inside_rate: float  # out of fold, at the threshold
    fit_outside_rate: float
    held_out_rate: float  # test: share of the held-out in-domain questions the policy escalates
    out_of_domain_rate: float  # test: share of the out-of-domain questions it escalates
    test_auroc: float
    held_out_local_accuracy: float | None  # key facts in the local answers to the held-out questions kept local
    held_out_kept: int
    seconds: float
    rules: dict[str, int] = field(default_factory=dict)  # test decisions by rule

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class DomainCalibration:
    policy: Policy
    report: DomainReport


def prompt_states(
    model: Any, prompts: Sequence[Prompt], on_progress: OnProgress | None = None, label: str = "prefill"
) -> np.ndarray:
    """The final hidden state of each prompt after prefill, float64 [n, hidden] (one token generated, greedy)."""
    on_progress = on_progress or no_progress
    rows = []
    start = time.perf_counter()
    for n, prompt in enumerate(prompts, start=1):
        result = model.generate(list(prompt), max_new_tokens=1, temperature=0.0)
        if result.prompt_hidden is None:
            raise ConfigError(
                "this bundle gives no prompt hidden state (exported without the last_hidden output, or an "
                "ExecuTorch bundle), so a domain probe cannot read it; re-export the bundle with this edgekit"
            )
        rows.append(np.asarray(result.prompt_hidden, dtype=np.float64))
        if n % 20 == 0 or n == len(prompts):
            on_progress(ProgressEvent(1, 1, label, f"{n}/{len(prompts)}", False, time.perf_counter() - start))
    return np.stack(rows)


def _threshold(inside_scores: np.ndarray, max_rate: float) -> float:
    """The lowest threshold (``p >= t`` escalates) at which at most ``max_rate`` of the in-domain scores escalate.

    The in-domain budget buys out-of-domain catch: escalating a product question costs one cloud call, keeping a
    general one gives a fluent wrong answer about the product. Measured on the tuned default model (support FAQ,
    160 + 348 fitting questions, out-of-fold AUROC 1.0): this rule at 5% escalated 10% of the held-out in-domain
    questions and 100% of the out-of-domain ones; the middle of the widest gap between the two classes' scores
    escalated 2.5% and 90%."""
    ordered = np.sort(inside_scores)[::-1]
    allowed = int(np.floor(max_rate * len(ordered) + 1e-9))
    if allowed >= len(ordered):
        return 0.0
    # just above the highest in-domain score that must stay local
    return float(min(1.0, np.nextafter(ordered[allowed], np.inf)))


def calibrate_domain(
    model: Any,
    domain: DomainSet,
    *,
    max_inside_rate: float = MAX_INSIDE_RATE,
    folds: int = 5,
    seed: int = 0,
    components: int = COMPONENTS,
    max_new_tokens: int = 48,
    on_progress: OnProgress | None = None,
) -> DomainCalibration:
    if not 0.0 <= max_inside_rate < 1.0:
        raise ConfigError(f"--max-inside-rate {max_inside_rate!r} must be a share in [0, 1)")
    if min(len(domain.inside), len(domain.outside)) < 2 * folds:
        raise ConfigError(
            f"domain {domain.name!r}: {len(domain.inside)} in-domain and {len(domain.outside)} out-of-domain "
            f"fitting questions; {folds} folds need at least {2 * folds} of each"
        )
    started = time.perf_counter()
    on_progress = on_progress or no_progress
    inside = prompt_states(model, domain.inside, on_progress, "in-domain prompts")
    outside = prompt_states(model, domain.outside, on_progress, "out-of-domain prompts")
    hidden = np.vstack([inside, outside])
    escalate = np.r_[np.zeros(len(inside), bool), np.ones(len(outside), bool)]
    no_signals = np.zeros((len(hidden), 0))
    oof = np.zeros(len(hidden))
    # the calibration's folds, stratified by (family, "correct"): one family here, and the label to stratify by
    # (escalate) in the "correct" slot, so the two classes are dealt out separately
    for test in _folds([{"family": domain.name, "correct": bool(e)} for e in escalate], folds, seed):
        train = np.setdiff1d(np.arange(len(hidden)), test)
        oof[test] = fit_probe(hidden[train], no_signals[train], escalate[train], components).probability(
            hidden[test], no_signals[test]
        )
    threshold = _threshold(oof[~escalate], max_inside_rate)
    final = fit_probe(hidden, no_signals, escalate, components)
    meta = {"domain": domain.name, "model": getattr(model.manifest.model, "name", "") or "", "seed": seed}
    probe = PromptProbe.fold(final, threshold, meta)
    # the domain policy keeps the hand-written rules and context overflow; the probe takes the place of the general
    # models, which were fitted on trivia answered by the untuned model
    policy = replace(base_policy(), probe=probe, generation={"max_new_tokens": max_new_tokens})
    report = _test(model, policy, domain, oof, escalate, threshold, components, max_new_tokens, on_progress)
    report = replace(report, seconds=time.perf_counter() - started)
    return DomainCalibration(_with_meta(policy, report), report)


def _with_meta(policy: Policy, report: DomainReport) -> Policy:
    keys = ("domain", "n_inside", "n_outside", "threshold", "fit_auroc", "held_out_rate", "out_of_domain_rate")
    return replace(policy, meta={"fitted_on": "domain", **{k: getattr(report, k) for k in keys}})


def _test(
    model: Any,
    policy: Policy,
    domain: DomainSet,
    oof: np.ndarray,
    escalate: np.ndarray,
    threshold: float,
    components: int,
    max_new_tokens: int,
    on_progress: OnProgress,
) -> DomainReport:
    assert policy.probe is not None
    held = [item.prompt for item in domain.held_out]
    states = prompt_states(model, [*held, *domain.out_of_domain], on_progress, "test prompts")
    rules: dict[str, int] = {}
    decisions = []
    for prompt, state in zip([*held, *domain.out_of_domain], states):
        question = question_of(list(prompt))
        decision = policy.route(question, pre_signals(question), prompt_hidden=state)
        rules[decision.rule] = rules.get(decision.rule, 0) + 1
        decisions.append(decision.escalate)
    held_esc = np.array(decisions[: len(held)])
    ood_esc = np.array(decisions[len(held) :])
    scores = np.array([policy.probe.probability(s) for s in states])
    kept = [item for item, up in zip(domain.held_out, held_esc) if not up]
    accuracy = None
    if kept:
        from ..tune_accuracy import score

        answers = [
            model.generate(list(item.prompt), max_new_tokens=max_new_tokens, temperature=0.0).text for item in kept
        ]
        accuracy = score("kept local", kept, answers).accuracy
    return DomainReport(
        domain=domain.name,
        n_inside=int((~escalate).sum()),
        n_outside=int(escalate.sum()),
        components=components,
        threshold=threshold,
        fit_auroc=auroc(oof, escalate),
        fit_inside_rate=float((oof[~escalate] >= threshold).mean()),
        fit_outside_rate=float((oof[escalate] >= threshold).mean()),
        held_out_rate=float(held_esc.mean()),
        out_of_domain_rate=float(ood_esc.mean()),
        test_auroc=auroc(scores, np.r_[np.zeros(len(held), bool), np.ones(len(domain.out_of_domain), bool)]),
        held_out_local_accuracy=accuracy,
        held_out_kept=len(kept),
        seconds=0.0,
        rules=rules,
    )
