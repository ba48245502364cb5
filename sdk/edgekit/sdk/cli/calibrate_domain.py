"""`edgekit calibrate BUNDLE --domain NAME|DIR`: the domain policy, written to a file or into the bundle."""

from __future__ import annotations

import json
from pathlib import Path

import click

from .progress_render import StderrProgress


def calibrate_domain_cli(
    bundle: Path,
    domain: str,
    max_inside_rate: float | None,
    fit_size: int,
    folds: int,
    seed: int,
    max_new_tokens: int,
    into_bundle: bool,
    out: Path | None,
    as_json: bool,
    quiet: bool,
) -> None:
    from edgekit.runtime import load
    from edgekit.runtime.errors import ConfigError

    from ..evalset.domains import domain_set
    from ..policy.bundle_policy import attach_policy
    from ..policy.domain_calibration import MAX_INSIDE_RATE, calibrate_domain

    if fit_size < 2 * folds:
        raise ConfigError(f"--fit-size {fit_size} is too small for {folds} folds (at least {2 * folds})")
    questions = domain_set(domain, fit_size=fit_size, seed=seed)
    with load(bundle) as model:
        result = calibrate_domain(
            model,
            questions,
            max_inside_rate=MAX_INSIDE_RATE if max_inside_rate is None else max_inside_rate,
            folds=folds,
            seed=seed,
            max_new_tokens=max_new_tokens,
            on_progress=StderrProgress(quiet=quiet),
        )
    written = []
    if into_bundle:
        written.append(attach_policy(bundle, result.policy))
    if out is not None or not into_bundle:
        written.append(result.policy.save(out or Path("policy.json")))
    r = result.report
    if as_json:
        click.echo(json.dumps({**r.to_dict(), "written": [str(p) for p in written]}, indent=2))
        return
    for path in written:
        click.echo(f"wrote {path}")
    click.echo(
        f"domain {r.domain}: fitted on {r.n_inside} in-domain and {r.n_outside} general questions "
        f"({r.components} PCA components), threshold {r.threshold:.3f}"
    )
    click.echo(
        f"out of fold: AUROC {r.fit_auroc:.3f}  in-domain escalated {100 * r.fit_inside_rate:.1f}%  "
        f"general escalated {100 * r.fit_outside_rate:.1f}%"
    )
    accuracy = "n/a" if r.held_out_local_accuracy is None else f"{100 * r.held_out_local_accuracy:.1f}%"
    click.echo(
        f"test (never fitted on): held-out in-domain escalated {100 * r.held_out_rate:.1f}%  out-of-domain "
        f"escalated {100 * r.out_of_domain_rate:.1f}%  AUROC {r.test_auroc:.3f}  local accuracy of the kept "
        f"held-out answers {accuracy} ({r.held_out_kept} kept)"
    )
