"""``edgekit info BUNDLE``: what a bundle holds (manifest, files and sizes, integrity, validation).

Reads only the manifest and the files' bytes (no model session), so it is quick
and works on a bundle this machine cannot run.
"""

from __future__ import annotations

import json

import click


def _mib(n: int) -> str:
    return f"{n / 2**20:.1f} MiB"


@click.command()
@click.argument("bundle", type=click.Path(path_type=str))
@click.option("--json", "as_json", is_flag=True, help="Print the manifest plus the integrity check as JSON.")
@click.option("--no-verify", is_flag=True, help="Skip the sha256 check (sizes are still checked).")
def info(bundle, as_json, no_verify):
    """Show the manifest, file sizes, integrity and validation of the bundle at BUNDLE."""
    from edgekit.runtime.errors import IntegrityError
    from edgekit.runtime.manifest import read_manifest, verify_files

    manifest = read_manifest(bundle)
    try:
        verify_files(bundle, manifest, check_hash=not no_verify)
        integrity = "ok" + (" (sizes only)" if no_verify else " (sha256)")
        problem = None
    except IntegrityError as exc:
        integrity, problem = "FAILED", str(exc)

    if as_json:
        data = manifest.to_dict()
        data["integrity"] = {"ok": problem is None, "checked_sha256": not no_verify, "problem": problem}
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
    else:
        arch = manifest.architecture
        total = sum(f.size for f in manifest.files)
        lines = [
            f"bundle     {bundle}",
            f"model      {manifest.model.get('name', '?')}  (source: {manifest.model.get('source', '?')}, "
            f"license: {manifest.model.get('license', '?')})",
            f"backend    {manifest.backend}   schema {manifest.schema_version}",
            f"arch       {arch.family}: {arch.num_layers} layers, hidden {arch.hidden_size}, heads {arch.num_heads}/"
            f"{arch.num_kv_heads} kv, vocab {arch.vocab_size}",
            f"recipe     {manifest.recipe.get('name', '?')}",
            f"context    {manifest.max_context} tokens",
            f"chat       {'template included' if manifest.chat_template else 'no template (plain prompts only)'}",
            f"eos ids    {list(manifest.tokenizer.eos_ids)}",
            f"files      {len(manifest.files)}, {_mib(total)} total",
        ]
        lines += [f"  {f.role:<9} {f.path:<28} {_mib(f.size):>11}  {f.sha256[:12]}" for f in manifest.files]
        lines.append(f"integrity  {integrity}")
        if manifest.validation:
            lines.append("validation " + _validation_line(manifest.validation))
        if manifest.memory:
            lines.append(f"memory     peak RSS {manifest.memory.get('peak_rss_mib', '?')} MiB (measured at export)")
        if manifest.created_at:
            lines.append(f"created    {manifest.created_at}")
        click.echo("\n".join(lines))
    if problem is not None:
        raise click.ClickException(problem)


def _validation_line(validation: dict) -> str:
    keys = ["passed", "top1_agreement", "kl_divergence", "perplexity_delta", "perplexity"]
    parts = [
        f"{k}={validation[k]:.4g}" if isinstance(validation.get(k), float) else f"{k}={validation[k]}"
        for k in keys
        if k in validation
    ]
    if not parts:
        parts = [f"{k}={v}" for k, v in list(validation.items())[:5] if not isinstance(v, (dict, list))]
    return "  ".join(parts) or "(none)"
