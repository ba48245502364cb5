"""``edgekit info BUNDLE``: what a bundle holds (manifest, files and sizes, integrity, validation).

Reads only the manifest and the files' bytes (no model session), so it is quick
and works on a bundle this machine cannot run. It runs the same checks as
``load`` (the validating manifest reader and ``verify_files``), so "integrity ok"
covers every file a backend would open; the manifest's own sha256 is shown so
a bundle can be compared with the one its publisher lists.
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
    from pathlib import Path

    from edgekit.runtime.errors import IntegrityError
    from edgekit.runtime.manifest import MANIFEST_NAME, read_manifest, sha256_file, verify_files

    manifest = read_manifest(bundle)
    manifest_sha256 = sha256_file(Path(bundle) / MANIFEST_NAME)
    try:
        verify_files(bundle, manifest, check_hash=not no_verify)
        integrity = "ok" + (" (sizes only)" if no_verify else " (sha256)")
        problem = None
    except IntegrityError as exc:
        integrity, problem = "FAILED", str(exc)

    if as_json:
        data = manifest.to_dict()
        data["integrity"] = {
            "ok": problem is None,
            "checked_sha256": not no_verify,
            "problem": problem,
            "manifest_sha256": manifest_sha256,
        }
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
    else:
        arch = manifest.architecture
        model = manifest.model
        total = sum(f.size for f in manifest.files)
        lines = [
            f"bundle     {bundle}",
            f"model      {model.name or '?'}  (source: {model.source or '?'}, license: {model.license or '?'})",
            f"backend    {manifest.backend}   schema {manifest.schema_version}",
            f"arch       {arch.family}: {arch.num_layers} layers, hidden {arch.hidden_size}, heads {arch.num_heads}/"
            f"{arch.num_kv_heads} kv, vocab {arch.vocab_size}",
            f"recipe     {manifest.recipe_name or '?'}",
            f"context    {manifest.max_context} tokens",
            f"chat       {'template included' if manifest.chat_template else 'no template (plain prompts only)'}",
            f"eos ids    {list(manifest.tokenizer.eos_ids)}",
            f"files      {len(manifest.files)}, {_mib(total)} total",
        ]
        lines += [f"  {f.role:<9} {f.path:<28} {_mib(f.size):>11}  {f.sha256[:12]}" for f in manifest.files]
        lines.append(f"manifest   sha256 {manifest_sha256}")
        lines.append(f"integrity  {integrity}")
        if manifest.validation:
            lines.append("validation " + _validation_line(manifest.validation))
        if manifest.memory.peak_rss_mib is not None:
            lines.append(f"memory     peak RSS {manifest.memory.peak_rss_mib} MiB (measured at export)")
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
