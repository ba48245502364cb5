"""``edgekit tune MODEL --data train.jsonl [--eval held.jsonl] --out DIR [--export --quant RECIPE]``.

LoRA fine-tuning on CPU (the ``export`` extra: torch, transformers, peft), imported inside the command so
``edgekit --help`` stays fast. Progress (step, loss, validation loss, tokens/s, ETA) goes to stderr; stdout
carries the tuned folder's path (and the bundle's, with ``--export``), or the report as JSON with ``--json``.
"""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path

import click


@click.command()
@click.argument("model", required=False, default="default")
@click.option("--data", required=True, type=click.Path(path_type=Path), help='Training JSONL: {"messages": [...]}.')
@click.option(
    "--eval",
    "eval_data",
    type=click.Path(path_type=Path),
    default=None,
    help="Validation JSONL for early stopping (default: a seeded 10% split of --data).",
)
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Tuned model folder to write.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--epochs", type=int, default=2, show_default=True)
@click.option("--max-steps", type=int, default=None, help="Stop after N optimizer steps.")
@click.option("--batch-size", type=int, default=4, show_default=True)
@click.option("--learning-rate", "--lr", "learning_rate", type=float, default=1e-3, show_default=True)
@click.option("--lora-r", type=int, default=16, show_default=True)
@click.option("--lora-alpha", type=int, default=32, show_default=True)
@click.option("--max-length", type=int, default=512, show_default=True, help="Tokens per conversation at most.")
@click.option(
    "--on-long",
    type=click.Choice(["truncate", "refuse"]),
    default="truncate",
    show_default=True,
    help="A conversation longer than --max-length: cut it, or fail the run.",
)
@click.option("--eval-every", type=int, default=None, help="Validation loss every N steps (default: twice an epoch).")
@click.option("--patience", type=int, default=2, show_default=True, help="Stop after N measurements without gain.")
@click.option("--log-every", type=int, default=5, show_default=True, help="A progress line every N steps.")
@click.option("--checkpoint-dir", type=click.Path(path_type=Path), default=None)
@click.option("--no-resume", is_flag=True, help="Ignore an existing checkpoint and start over.")
@click.option("--threads", type=int, default=None, help="torch threads (default: torch's choice).")
@click.option("--force", is_flag=True, help="Replace an existing --out folder (and --export bundle).")
@click.option("--export", "then_export", is_flag=True, help="Export the tuned folder into a bundle afterwards.")
@click.option("--quant", default=None, help="Recipe of --export (default int8).")
@click.option(
    "--bundle",
    type=click.Path(path_type=Path),
    default=None,
    help="Bundle folder of --export (default: OUT-bundle beside --out).",
)
@click.option(
    "--accuracy",
    "accuracy_data",
    type=click.Path(path_type=Path),
    default=None,
    help="Held-out JSONL with key facts (the support FAQ's held_out.jsonl): report accuracy before tuning, "
    "after tuning (float) and after --export.",
)
@click.option(
    "--max-accuracy-drop",
    type=float,
    default=None,
    help="With --export and --accuracy: the bundle must keep the tuned float model's accuracy within this many "
    "points (0.05 = 5); under --quant auto a recipe that loses more is passed over for the next larger one.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON on stdout.")
@click.option("--quiet", is_flag=True, help="No progress lines on stderr.")
def tune(
    model,
    data,
    eval_data,
    out,
    seed,
    epochs,
    max_steps,
    batch_size,
    learning_rate,
    lora_r,
    lora_alpha,
    max_length,
    on_long,
    eval_every,
    patience,
    log_every,
    checkpoint_dir,
    no_resume,
    threads,
    force,
    then_export,
    quant,
    bundle,
    accuracy_data,
    max_accuracy_drop,
    as_json,
    quiet,
):
    """LoRA-tune MODEL (default | HF folder | .gguf file) on chat JSONL into a merged HF folder.

    \b
    edgekit tune --data train.jsonl --out tuned                     # the default model, 10% held out
    edgekit tune ./my-model --data train.jsonl --eval val.jsonl --out tuned
    edgekit tune --data train.jsonl --out tuned --export --quant int8   # and a bundle in tuned-bundle
    """
    from edgekit.runtime.errors import ConfigError, DependencyError

    from .export_cmd import _quiet_third_party_loggers
    from .progress_render import StderrProgress

    _quiet_third_party_loggers()
    if quant is not None and not then_export:
        raise ConfigError("--quant is the recipe of --export; add --export, or drop --quant")
    if max_accuracy_drop is not None:
        if not then_export or accuracy_data is None:
            raise ConfigError("--max-accuracy-drop checks the exported bundle's accuracy: add --export and --accuracy")
        if not 0.0 <= max_accuracy_drop <= 1.0:
            raise ConfigError(f"--max-accuracy-drop {max_accuracy_drop:g} must be a share in [0, 1] (0.05 = 5 points)")
    try:
        import peft  # noqa: F401
        import torch  # noqa: F401
        import transformers  # noqa: F401
        from edgekit.exporters.tune import TuneSpec
        from edgekit.exporters.tune import tune as run_tune
    except ModuleNotFoundError as exc:
        raise DependencyError("edgekit tune", "export", exc.name) from None

    spec = TuneSpec(
        data=data,
        out=out,
        model=model,
        eval_data=eval_data,
        seed=seed,
        epochs=epochs,
        max_steps=max_steps,
        batch_size=batch_size,
        learning_rate=learning_rate,
        lora_r=lora_r,
        lora_alpha=lora_alpha,
        max_length=max_length,
        on_long=on_long,
        eval_every=eval_every,
        patience=patience,
        log_every=log_every,
        checkpoint_dir=checkpoint_dir,
        resume=not no_resume,
        threads=threads,
        force=force,
    )
    bundle_out = bundle or out.with_name(out.name + "-bundle")
    if then_export:
        from edgekit.exporters.bundle_writer import check_destination

        check_destination(bundle_out, force)  # fail before training, not after
    progress = StderrProgress(quiet=quiet)
    accuracy = []
    if accuracy_data is not None:
        from ..tune_accuracy import float_accuracy, read_items

        items = read_items(accuracy_data)
        accuracy.append(float_accuracy(model, items, "before tuning (float)"))
    report = run_tune(spec, on_progress=progress)
    if accuracy_data is not None:
        accuracy.append(float_accuracy(str(report.out), items, "after tuning (float)"))
    record = report.record
    payload = report.to_dict()
    if not quiet:
        for warning in report.warnings:
            click.echo(f"WARNING: {warning}", err=True)
        click.echo(
            f"tuned: {record.steps} steps ({'early stop' if record.stopped_early else 'planned'} "
            f"{record.planned_steps}), validation loss {record.initial_validation_loss:.4f} -> "
            f"{record.best_validation_loss:.4f} (best at step {record.best_step}), {record.seconds:.0f} s",
            err=True,
        )
    lines = [str(report.out)]
    if then_export:
        from edgekit.exporters import ExportSpec
        from edgekit.exporters import export as run_export

        from .export_cmd import summary_table

        check, measured = None, []
        if max_accuracy_drop is not None:
            from edgekit.exporters import TaskCheck

            from ..tune_accuracy import bundle_accuracy

            def measure(folder: Path) -> float:
                measured.append(bundle_accuracy(folder, items, "after export"))
                return measured[-1].accuracy

            tuned_accuracy = accuracy[-1].accuracy
            check = TaskCheck(
                f"held-out accuracy ({accuracy_data.name}, {len(items)} questions)",
                measure,
                max(0.0, tuned_accuracy - max_accuracy_drop),
            )
        export_report = run_export(
            ExportSpec(model=str(report.out), out=bundle_out, quant=quant, force=force, task_check=check),
            on_progress=progress,
        )
        if not quiet:
            click.echo(summary_table(export_report), err=True)
        payload["export"] = export_report.to_dict()
        lines.append(str(export_report.bundle))
        if accuracy_data is not None:
            from ..tune_accuracy import bundle_accuracy

            label = f"after export ({export_report.recipe})"
            if measured:  # the task check already measured the chosen bundle: its last measurement
                accuracy.append(replace(measured[-1], label=label))
            else:
                accuracy.append(bundle_accuracy(export_report.bundle, items, label))
    if accuracy:
        payload["accuracy"] = [result.to_dict() for result in accuracy]
        if not quiet:
            click.echo(f"held-out accuracy ({accuracy_data.name}, {len(items)} questions):", err=True)
            for result in accuracy:
                click.echo(f"  {result.label:<28} {result.accuracy:6.1%}  ({result.right}/{result.total})", err=True)
    if as_json:
        click.echo(json.dumps(payload, ensure_ascii=False, indent=2))
    else:
        click.echo("\n".join(lines))
    sys.stdout.flush()
