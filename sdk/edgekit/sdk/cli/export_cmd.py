"""``edgekit export [MODEL] --target onnx --quant RECIPE --out DIR``: write a validated bundle.

Progress goes to stderr (one line per finished stage with what it measured),
then a summary table; stdout carries only the bundle path, or the report as
JSON with ``--json``. The exporters (torch, transformers) are imported inside
the command so ``edgekit --help`` stays fast.
"""

from __future__ import annotations

import json
import sys

import click


def _fmt_float(value: float | None, digits: int = 4) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def summary_table(report) -> str:
    """The final table: size, agreement, KL, perplexity (exported / float), time."""
    validation = report.validation
    header = ["recipe", "size MiB", "agreement", "mean KL", "ppl", "ppl float", "peak RSS MiB", "time s"]
    row = [
        report.recipe,
        f"{report.size_bytes / 2**20:.1f}",
        _fmt_float(validation.top1_agreement if validation else None),
        f"{validation.mean_kl:.2e}" if validation else "-",
        _fmt_float(validation.perplexity_exported if validation else None, 2),
        _fmt_float(validation.perplexity_reference if validation else None, 2),
        f"{validation.peak_rss_mib:.0f}" if validation else "-",
        f"{report.seconds:.1f}",
    ]
    widths = [max(len(h), len(c)) for h, c in zip(header, row)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths)), "  ".join(c.ljust(w) for c, w in zip(row, widths))]
    if report.candidates:
        tried = ", ".join(
            f"{c.recipe} {c.status}" + (f" ({c.top1_agreement:.4f})" if c.top1_agreement is not None else "")
            for c in report.candidates
        )
        lines.append(f"auto: {tried}")
    if validation is not None:
        golden = validation.golden
        mark = "✓" if golden.get("match") else "✗"
        lines.append(
            f"golden {mark} {golden.get('prompt')!r} -> {golden.get('exported_text', '')!r} "
            f"({golden.get('tokens_matching')}/{golden.get('tokens_compared')} tokens as float)"
        )
        divergence = golden.get("divergence")
        if divergence:
            kind = "a near-tie" if divergence["near_tie"] else "not a near-tie"
            lines.append(
                f"  first difference at token {divergence['index']}: float p({divergence['reference_token']!r})="
                f"{divergence['reference_prob']:.3f} vs p({divergence['exported_token']!r})="
                f"{divergence['exported_token_reference_prob']:.3f}, {kind}"
            )
        if validation.passed is True:
            lines.append(f"quality ✓ agreement {validation.top1_agreement:.4f} ≥ {validation.min_agreement:.4f}")
        elif validation.passed is False:
            lines.append(f"quality ✗ agreement {validation.top1_agreement:.4f} < {validation.min_agreement:.4f}")
    for warning in report.warnings:
        lines.append(f"WARNING: {warning}")
    return "\n".join(lines)


def _quiet_third_party_loggers() -> None:
    """torchao warns about CUDA kernels it cannot load on a CPU machine, torch's pytree about enum
    registration: noise on every export that names no problem of the user's."""
    import logging

    for name in ("torchao", "torch.utils._pytree"):
        logging.getLogger(name).setLevel(logging.ERROR)


def parse_target_options(pairs, options_type, profile: str | None = None):
    """``("group_size=64", "logits=all")`` -> the target's typed options, each value parsed by its declared field
    type (``options_type`` is the target's ``TargetOptions`` dataclass); ``--profile`` joins as ``profile``.

    An item that is not KEY=VALUE is a usage error; an unknown key or a bad value is a ConfigError naming it.
    """
    from edgekit.exporters.target_options import split_pairs

    try:
        texts = split_pairs(pairs)
    except ValueError as exc:
        message = f"{exc.args[0]!r} is not KEY=VALUE (e.g. -o group_size=64)"
        raise click.BadParameter(message, param_hint="--option") from None
    if profile:
        texts["profile"] = profile
    return options_type.from_strings(texts)


def target_options_help() -> list[str]:
    """The ``-o`` options of every export target, generated from their options dataclasses (for --help)."""
    try:
        from edgekit.exporters.pipeline import TARGET_MODULES, load_target
    except ModuleNotFoundError as exc:
        return [f"(target options need the 'export' extra: missing module {exc.name!r})"]
    from edgekit.runtime.errors import EdgekitError

    lines = []
    for name in TARGET_MODULES:
        try:
            options_type = load_target(name).options_type
        except EdgekitError as exc:
            lines.append(f"{name}: {exc}")
            continue
        lines.append(f"{name}:")
        lines.extend(f"  {line}" for line in options_type.help_lines())
    return lines


class _ExportCommand(click.Command):
    """``edgekit export`` whose help ends with the target options, read from the targets when help is shown."""

    def format_epilog(self, ctx, formatter) -> None:
        super().format_epilog(ctx, formatter)
        with formatter.section("Target options (-o KEY=VALUE)"):
            for line in target_options_help():
                if line.startswith("  "):
                    with formatter.indentation():
                        formatter.write_text(line.strip())
                else:
                    formatter.write_text(line)


def _list_options(ctx, param, value) -> None:
    if not value or ctx.resilient_parsing:
        return
    click.echo("\n".join(target_options_help()))
    ctx.exit()


@click.command(cls=_ExportCommand)
@click.argument("model", required=False, default="default")
@click.option("--target", default="onnx", show_default=True, help="Export target (onnx, executorch).")
@click.option(
    "--quant",
    default=None,
    help="Quantization recipe (fp32, int8, int4, int4-rtn, gguf, ...) or 'auto' (smallest that meets "
    "--min-agreement). Default: gguf for a GGUF source, else int8.",
)
@click.option("--out", "out", required=True, type=click.Path(path_type=str), help="Bundle folder to write.")
@click.option("--max-context", type=int, default=None, help="KV cache length (default: min(model's, 2048)).")
@click.option("--strict", is_flag=True, help="Fail the export when validation misses the quality floor (0.95).")
@click.option("--min-agreement", type=float, default=None, help="Quality floor: top-1 agreement with float (gates).")
@click.option("--force", is_flag=True, help="Replace an existing output folder.")
@click.option("--profile", default=None, help="ONNX graph profile (cpu, web).")
@click.option(
    "-o",
    "--option",
    "target_options",
    multiple=True,
    metavar="KEY=VALUE",
    help="Target option, repeatable, parsed by its declared type (listed below and by --list-options).",
)
@click.option(
    "--list-options",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_list_options,
    help="List every target's options (type, default, allowed values) and exit.",
)
@click.option("--no-validate", is_flag=True, help="Skip validation (no quality numbers in the manifest).")
@click.option("--validation-tokens", type=int, default=None, hidden=True, help="Validate on the first N tokens only.")
@click.option("--json", "as_json", is_flag=True, help="Print the export report as JSON on stdout.")
@click.option("--quiet", is_flag=True, help="No progress lines on stderr.")
def export(
    model,
    target,
    quant,
    out,
    max_context,
    strict,
    min_agreement,
    force,
    profile,
    target_options,
    no_validate,
    validation_tokens,
    as_json,
    quiet,
):
    """Export MODEL (default | HF folder | .gguf file | hub id) into a validated edgekit bundle.

    \b
    edgekit export --out bundles/smollm2                         # the built-in default model, exact GGUF repack
    edgekit export ./my-model --quant int4 --out b --strict      # fail if agreement < 0.95
    edgekit export model.gguf --quant auto --min-agreement 0.97 --out b
    edgekit export --target executorch --quant 8da4w -o group_size=64 --out b-et
    """
    from edgekit.runtime.errors import DependencyError

    from .progress_render import StderrProgress

    _quiet_third_party_loggers()

    try:
        from edgekit.exporters import ExportSpec, ValidationSettings
        from edgekit.exporters import export as run_export
    except ModuleNotFoundError as exc:
        raise DependencyError("edgekit export", "export", exc.name) from None
    try:
        import torch  # noqa: F401
        import transformers  # noqa: F401
    except ModuleNotFoundError as exc:
        raise DependencyError("edgekit export", "export", exc.name) from None

    from edgekit.exporters.pipeline import load_target

    options = parse_target_options(target_options, load_target(target).options_type, profile)
    spec = ExportSpec(
        model=model,
        out=out,
        target=target,
        quant=quant,
        max_context=max_context,
        strict=strict,
        min_agreement=min_agreement,
        force=force,
        validate=not no_validate,
        validation=ValidationSettings(max_tokens=validation_tokens),
        options=options,
    )
    report = run_export(spec, on_progress=StderrProgress(quiet=quiet))
    if not quiet:
        click.echo(summary_table(report), err=True)
    if as_json:
        click.echo(json.dumps(report.to_dict(), ensure_ascii=False, indent=2))
    else:
        click.echo(str(report.bundle))
    sys.stdout.flush()
