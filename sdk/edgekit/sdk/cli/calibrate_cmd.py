"""`edgekit calibrate`: fit the escalation policy (cross-validated) and write the policy file."""

from __future__ import annotations

import json
from pathlib import Path

import click

from .progress_render import StderrProgress


def read_records(path: Path) -> list[dict]:
    """The JSONL records ``edgekit eval escalation --records`` wrote; a bad line is named, not a traceback."""
    from edgekit.runtime.errors import ConfigError

    if not path.is_file():
        raise ConfigError(f"--records {str(path)!r}: no such file; write it with `edgekit eval escalation --records`")
    out = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise ConfigError(f"--records {str(path)!r} line {n} is not JSON ({exc.msg})") from None
    return out


@click.command("calibrate")
@click.argument("bundle", type=click.Path(path_type=Path), required=False)
@click.option(
    "--data", type=click.Path(path_type=Path), default=None, help="JSONL labelled set (default: the shipped set)"
)
@click.option(
    "--records",
    "records_in",
    type=click.Path(path_type=Path),
    multiple=True,
    help="Records from `edgekit eval escalation --records` (skips running the model; repeat to pool sets)",
)
@click.option(
    "--target-rate", type=float, default=0.3, show_default=True, help="Most questions to escalate (the default point)"
)
@click.option(
    "--target-accuracy",
    type=float,
    default=None,
    help="Default point: the least escalation whose out-of-fold accuracy reaches this, instead of --target-rate",
)
@click.option(
    "--early-tokens",
    type=int,
    default=2,
    show_default=True,
    help="Fit an early hand-off over the first N tokens of each answer (0: none)",
)
@click.option(
    "--router-precision",
    type=float,
    default=0.98,
    show_default=True,
    help="Out-of-fold share of wrong answers among those the router (and the early hand-off) escalate unseen; "
    "lower saves more local decoding and ranks worse",
)
@click.option(
    "--no-answer-probe",
    is_flag=True,
    help="Fit the post models on the signals alone, even when the records carry the answers' hidden states",
)
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
    early_tokens,
    router_precision,
    no_answer_probe,
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
        if bundle is None or data is not None or records_in:
            raise ConfigError("--domain needs a BUNDLE (its prompts are run) and takes neither --data nor --records")
        calibrate_domain_cli(
            bundle, domain, max_inside_rate, fit_size, folds, seed, max_new_tokens, into_bundle, out, as_json, quiet
        )
        return
    out = out or Path("policy.json")

    if not 0.0 < router_precision <= 1.0:
        raise ConfigError(f"--router-precision {router_precision}: must be a share in (0, 1]")
    if early_tokens < 0:
        raise ConfigError(f"--early-tokens {early_tokens}: must be >= 0 (0 fits no early hand-off)")
    if records_in:
        from ..policy.base import base_policy
        from ..policy.records import resignal

        records = []
        for path in records_in:
            records.extend(read_records(path))
        # the families (and so the answer spans) of the policy being written, not those the records were taken with
        records = resignal(records, base_policy()) if all("tokens" in r for r in records) else records
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
        early_tokens=early_tokens,
        router_precision=router_precision,
        early_precision=router_precision,
        answer_probe=not no_answer_probe,
        generation={"max_new_tokens": max_new_tokens},
        meta={
            "model": model_name,
            "data": ", ".join(p.name for p in records_in) if records_in else str(data or "shipped escalation set"),
            "n": len(records),
        },
    )
    result.policy.save(out)
    r = result.report
    if as_json:
        click.echo(json.dumps(r, indent=2))
        return
    click.echo(f"wrote {out}")
    point = r["operating_point"]
    target = (
        f"target accuracy {100 * r['target_accuracy']:.0f}%"
        if r["target_accuracy"] is not None
        else f"at most {100 * r['target_rate']:.0f}% escalated"
    )
    click.echo(
        f"records {r['n']}  local accuracy {100 * r['local_accuracy']:.1f}%  default point ({target}): "
        f"{100 * point['escalation_rate']:.1f}% escalated, accuracy {100 * point['accuracy']:.1f}% "
        f"(post threshold {point['threshold']:.3f})"
    )
    click.echo(
        f"cross-validated AUROC: policy {r['cv_auroc_policy']:.3f}  router {r['cv_auroc_router']:.3f}  post "
        f"{r['cv_auroc_post']:.3f}  calibration error (ECE, post) {r['cv_ece_post']:.3f}"
    )
    click.echo(
        "accuracy at escalation rate: "
        + "  ".join(f"{float(k) * 100:.0f}%: {100 * v:.1f}" for k, v in r["rates"].items())
    )
    if "early" in r:
        e = r["early"]
        if e["threshold"] is None:
            click.echo(f"early hand-off: none (no threshold over the first {e['max_tokens']} tokens met its precision)")
        else:
            click.echo(
                f"early hand-off (first {e['max_tokens']} tokens): stops {100 * e['stopped_of_generated']:.1f}% of "
                f"the answers generated ({100 * e['stopped_rate']:.1f}% of questions), "
                f"{100 * e['stopped_harmless_share']:.1f}% of them wrong or escalated anyway; saves "
                f"{100 * e['tokens_saved_share']:.1f}% of local decode tokens"
            )
    if "probe_comparison" in r:
        from ..policy.probe import format_comparison

        click.echo(format_comparison(r["probe_comparison"]))
