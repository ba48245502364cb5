"""``edgekit bench BUNDLE``: load time, cold start, prefill, decode and peak RSS (``--vs`` for peers)."""

from __future__ import annotations

import json

import click


@click.command()
@click.argument("bundle", type=click.Path(path_type=str))
@click.option(
    "--vs",
    "peers",
    multiple=True,
    type=click.Choice(["onnxruntime-genai", "llama.cpp", "executorch-runner", "optimum-executorch", "all"]),
    help="Also run a peer on the same weights (repeatable; 'all' = every peer). Absent peers are skipped with a "
    "message. optimum-executorch exports the bundle's source model with its own recipe (cached).",
)
@click.option(
    "--threads", type=click.IntRange(min=1), default=None, help="Threads for every engine (default: physical cores)."
)
@click.option("--decode-tokens", type=click.IntRange(min=2), default=64, show_default=True)
@click.option("--repeats", type=click.IntRange(min=1), default=3, show_default=True, help="Warm prefill runs (median).")
@click.option(
    "--genai-model",
    type=click.Path(exists=True, file_okay=False),
    default=None,
    help="A ready onnxruntime-genai model folder (default: built from the bundle's GGUF and cached).",
)
@click.option("--gguf", default=None, help="GGUF for llama.cpp (default: the bundle's source).")
@click.option(
    "--llamacpp-python", default=None, help="Python interpreter that has llama-cpp-python (e.g. a separate venv)."
)
@click.option(
    "--optimum-executorch-python",
    default=None,
    help="Python interpreter that has optimum-executorch (its own venv: scripts/setup-optimum-executorch.sh).",
)
@click.option("--cache-dir", type=click.Path(file_okay=False), default=".cache/bench", show_default=True)
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False), default=None, help="Write a bar chart PNG.")
@click.option("--json", "as_json", is_flag=True, help="Print the measurements as JSON.")
def bench(
    bundle,
    peers,
    threads,
    decode_tokens,
    repeats,
    genai_model,
    gguf,
    llamacpp_python,
    optimum_executorch_python,
    cache_dir,
    plot_path,
    as_json,
):
    """Measure the runtime on BUNDLE (each engine in its own process)."""
    from pathlib import Path

    from edgekit.sdk.bench.runner import PEERS, BenchConfig, format_table, run_bench, write_plot

    from .progress_render import StderrProgress

    chosen = PEERS if "all" in peers else tuple(dict.fromkeys(peers))
    config = BenchConfig(
        bundle=Path(bundle),
        peers=chosen,
        threads=threads,
        decode_tokens=decode_tokens,
        repeats=repeats,
        cache_dir=Path(cache_dir),
        genai_model=Path(genai_model) if genai_model else None,
        gguf=gguf,
        llamacpp_python=llamacpp_python,
        optimum_executorch_python=optimum_executorch_python,
    )
    results = run_bench(config, on_progress=StderrProgress())
    if plot_path:
        write_plot(results, plot_path)
    if as_json:
        click.echo(json.dumps([r.to_dict() for r in results], indent=2))
    else:
        click.echo(format_table(results))
    for r in results:
        if r.status == "skipped":
            click.echo(f"note: {r.engine} skipped: {r.message}", err=True)
    if any(r.engine == "edgekit" and r.status != "ok" for r in results):
        raise click.ClickException(f"edgekit failed: {results[0].message}")
