"""`edgekit eval escalation BUNDLE --data FILE`: measure how well the policy escalates."""

from __future__ import annotations

import json
from pathlib import Path

import click

from .progress_render import StderrProgress


@click.group("eval")
def eval_group() -> None:
    """Measure a bundle on labelled data."""


@eval_group.command("escalation")
@click.argument("bundle", type=click.Path(path_type=Path))
@click.option(
    "--data",
    type=click.Path(path_type=Path),
    default=None,
    help="JSONL labelled set (default: the shipped escalation set)",
)
@click.option("--limit", type=int, default=None, help="Evaluate an evenly spread slice of N items")
@click.option("--max-new-tokens", type=int, default=48, show_default=True)
@click.option(
    "--cloud-url", default=None, help="OpenAI-compatible base URL: cloud answers are measured, not assumed correct"
)
@click.option("--cloud-model", default=None)
@click.option(
    "--api-key-env",
    default="OPENAI_API_KEY",
    show_default=True,
    help="Environment variable holding the cloud key ('' for none)",
)
@click.option(
    "--policy",
    "policy_file",
    type=click.Path(path_type=Path),
    default=None,
    help="Also measure this policy file as it is",
)
@click.option(
    "--records",
    "records_out",
    type=click.Path(path_type=Path),
    default=None,
    help="Write per-item records (JSONL) for `edgekit calibrate`",
)
@click.option(
    "--from-records",
    type=click.Path(path_type=Path),
    default=None,
    help="Report on saved records instead of running the model",
)
@click.option("--folds", type=int, default=5, show_default=True)
@click.option(
    "--fit-records",
    type=click.Path(path_type=Path),
    multiple=True,
    help="Also fit the policy on these records (another set) and measure it on this one: the transfer table",
)
@click.option(
    "--target-accuracy",
    type=float,
    default=None,
    help="With --fit-records: the default point the fitted policy aims at (else at most 30%% escalated)",
)
@click.option(
    "--plot",
    type=click.Path(path_type=Path),
    default=None,
    help="Draw accuracy-vs-escalation curves (PNG; needs matplotlib)",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON")
@click.option("--quiet", is_flag=True)
def escalation(
    bundle,
    data,
    limit,
    max_new_tokens,
    cloud_url,
    cloud_model,
    api_key_env,
    policy_file,
    records_out,
    from_records,
    folds,
    fit_records,
    target_accuracy,
    plot,
    as_json,
    quiet,
):
    """Run BUNDLE over a labelled set; print local accuracy, AUROC per signal and of the policy, and accuracy at
    10/20/30/50% escalation for the policy, the router alone, random escalation and the oracle."""
    from ..escalation_eval import collect_records, escalation_report, format_report, plot_report
    from ..evalset import DEFAULT_PATH, load_items
    from ..policy.base import BASE_FAMILIES
    from ..policy.policy import Policy

    policy = Policy.load(policy_file) if policy_file else Policy(families=BASE_FAMILIES)
    from ..policy.records import resignal
    from .calibrate_cmd import read_records

    if from_records:
        records = read_records(from_records)
        if limit:
            records = records[:limit]
        if all("tokens" in r for r in records):  # the families of this edgekit, not those of the run that wrote them
            records = resignal(records, policy)
    else:
        from edgekit.runtime import load

        from ..cloud import CloudClient, CloudConfig

        items = load_items(data or DEFAULT_PATH, limit=limit)
        cloud = None
        if cloud_url:
            if not cloud_model:
                from edgekit.runtime.errors import ConfigError

                raise ConfigError("--cloud-url needs --cloud-model NAME (the model the cloud should use)")
            config = CloudConfig(base_url=cloud_url, model=cloud_model, api_key_env=api_key_env or None)
            config.api_key()
            cloud = CloudClient(config)
        with load(bundle) as model:
            records = collect_records(
                model,
                items,
                policy,
                max_new_tokens=max_new_tokens,
                cloud=cloud,
                on_progress=_EveryN(StderrProgress(quiet=quiet), 25),
            )
        if records_out:
            records_out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    report = escalation_report(records, folds=folds, policy=policy if policy_file else None)
    if fit_records:
        from ..escalation_transfer import transfer_report

        fit = [r for path in fit_records for r in read_records(path)]
        fit = resignal(fit, policy) if all("tokens" in r for r in fit) else fit
        report["transfer"] = transfer_report(fit, records, target_accuracy=target_accuracy, folds=folds)
    elif target_accuracy is not None:
        from edgekit.runtime.errors import ConfigError

        raise ConfigError("--target-accuracy goes with --fit-records (the policy it fits aims at it)")
    report["max_new_tokens"] = max_new_tokens
    if plot:
        plot_report(report, str(plot))
    click.echo(json.dumps(report, indent=2) if as_json else format_report(report))


class _EveryN:
    """Show every n-th progress event (one line per item is too chatty for 300 items)."""

    def __init__(self, sink, n: int):
        self.sink, self.n, self.count = sink, n, 0

    def __call__(self, event) -> None:
        self.count += 1
        if self.count % self.n == 0:
            self.sink(event)


def _register() -> None:
    from .eval_commands_cmd import commands

    eval_group.add_command(commands)


_register()
