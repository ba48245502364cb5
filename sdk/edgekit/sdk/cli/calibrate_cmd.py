"""`edgekit calibrate`: fit the escalation policy (cross-validated) and write the policy file."""

from __future__ import annotations

import json
from pathlib import Path

import click

from .progress_render import StderrProgress


@click.command("calibrate")
@click.argument("bundle", type=click.Path(path_type=Path), required=False)
@click.option(
    "--data", type=click.Path(path_type=Path), default=None, help="JSONL labelled set (default: the shipped set)"
)
@click.option(
    "--records",
    "records_in",
    type=click.Path(path_type=Path),
    default=None,
    help="Records from `edgekit eval escalation --records` (skips running the model)",
)
@click.option("--target-rate", type=float, default=0.3, show_default=True, help="Share of questions to escalate")
@click.option("--target-accuracy", type=float, default=None, help="Escalate just enough to reach this accuracy instead")
@click.option("--max-new-tokens", type=int, default=48, show_default=True)
@click.option("--folds", type=int, default=5, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--domain",
    default=None,
    help="Fit a domain policy instead: a known domain (support_faq) or a folder with train.jsonl, held_out.jsonl "
    "and out_of_domain.jsonl; its questions stay local, the rest escalates",
)
@click.option(
    "--max-inside-rate",
    type=float,
    default=None,
    help="--domain: out-of-fold share of in-domain questions the threshold may escalate (default 0.05)",
)
@click.option("--fit-size", type=int, default=160, show_default=True, help="--domain: in-domain fitting questions")
@click.option("--into-bundle", is_flag=True, help="--domain: write the policy into BUNDLE (policy.json, listed)")
@click.option("--out", type=click.Path(path_type=Path), default=None, help="Policy file to write [policy.json]")
@click.option("--json", "as_json", is_flag=True, help="Print the cross-validated report as JSON")
@click.option("--quiet", is_flag=True)
def calibrate(
    bundle,
    data,
    records_in,
    target_rate,
    target_accuracy,
    max_new_tokens,
    folds,
    seed,
    domain,
    max_inside_rate,
    fit_size,
    into_bundle,
    out,
    as_json,
    quiet,
):
    """Fit the router and post-generation models per task family on BUNDLE's answers to a labelled set
    (or on saved --records), pick thresholds for --target-rate / --target-accuracy, and write the policy file.
    Every figure printed is cross-validated (out-of-fold). With --domain, fit the hidden-state probe of a domain
    policy instead, and test it on the domain's held-out and out-of-domain questions."""
    from edgekit.runtime.errors import ConfigError

    from ..policy.calibration import calibrate as fit

    if domain is not None or into_bundle or max_inside_rate is not None:
        from .calibrate_domain import calibrate_domain_cli

        if domain is None:
            raise ConfigError("--into-bundle and --max-inside-rate go with --domain NAME|DIR (a domain policy)")
        if bundle is None or data is not None or records_in is not None:
            raise ConfigError("--domain needs a BUNDLE (its prompts are run) and takes neither --data nor --records")
        calibrate_domain_cli(
            bundle, domain, max_inside_rate, fit_size, folds, seed, max_new_tokens, into_bundle, out, as_json, quiet
        )
        return
    out = out or Path("policy.json")

    if records_in is not None:
        records = [json.loads(line) for line in records_in.read_text(encoding="utf-8").splitlines() if line.strip()]
        model_name = records[0].get("model", "") if records else ""
    elif bundle is not None:
        from edgekit.runtime import load

        from ..escalation_eval import collect_records
        from ..evalset import DEFAULT_PATH, load_items
        from ..policy.base import BASE_FAMILIES
        from ..policy.policy import Policy

        items = load_items(data or DEFAULT_PATH)
        with load(bundle) as model:
            model_name = model.manifest.model.name or ""
            records = collect_records(
                model,
                items,
                Policy(families=BASE_FAMILIES),
                max_new_tokens=max_new_tokens,
                on_progress=StderrProgress(quiet=quiet),
            )
    else:
        raise ConfigError("give a BUNDLE to run, or --records FILE from `edgekit eval escalation --records`")
    result = fit(
        records,
        target_rate=None if target_accuracy is not None else target_rate,
        target_accuracy=target_accuracy,
        folds=folds,
        seed=seed,
        generation={"max_new_tokens": max_new_tokens},
        meta={"model": model_name, "data": str(data or records_in or "shipped escalation set"), "n": len(records)},
    )
    result.policy.save(out)
    r = result.report
    if as_json:
        click.echo(json.dumps(r, indent=2))
        return
    click.echo(f"wrote {out}")
    click.echo(
        f"records {r['n']}  local accuracy {100 * r['local_accuracy']:.1f}%  escalation rate "
        f"{100 * r['cv_escalation_rate']:.1f}%"
        f" (target {100 * r['target_rate']:.0f}%)"
    )
    click.echo(
        f"cross-validated AUROC: policy {r['cv_auroc_policy']:.3f}  router {r['cv_auroc_router']:.3f}  post "
        f"{r['cv_auroc_post']:.3f}"
    )
    click.echo(
        "accuracy at escalation rate: "
        + "  ".join(f"{float(k) * 100:.0f}%: {100 * v:.1f}" for k, v in r["rates"].items())
    )
    if "probe_comparison" in r:
        from ..policy.probe import format_comparison

        click.echo(format_comparison(r["probe_comparison"]))
