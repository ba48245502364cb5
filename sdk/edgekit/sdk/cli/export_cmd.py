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


def _option_value(text: str):
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def parse_target_options(pairs) -> dict:
    """``("group_size=64", "logits=all")`` -> ``{"group_size": 64, "logits": "all"}``; the target checks names."""
    options = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise click.BadParameter(f"{pair!r} is not KEY=VALUE (e.g. -o group_size=64)", param_hint="--option")
        options[key.strip()] = _option_value(value)
    return options


@click.command()
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
    help="Target option, repeatable (executorch: group_size=64, embedding_bits=8, smooth_alpha=0.5, max_seq_len=256, "
    "logits=all).",
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

    options = parse_target_options(target_options)
    if profile:
        options["profile"] = profile
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
