"""``edgekit bench BUNDLE...``: speed, memory and quality of the runtime and of its peers (``--vs``) per bundle."""

from __future__ import annotations

import json
import shlex

import click
from edgekit.runtime.errors import UnknownNameError
from edgekit.runtime.schema import MAX_PARALLEL
from edgekit.sdk.bench.constrained import BENCH_CONSTRAINTS, DEFAULT_CONSTRAINTS
from edgekit.sdk.bench.engines import PEERS

ALL = "all"


NO_CONSTRAINT = "none"


class RegisteredName(click.ParamType):
    """A name in ``registry`` or the one ``extra`` word; an unknown name is a usage error listing the known ones."""

    def __init__(self, name: str, registry, extra: str):
        self.name, self._registry, self._extra = name, registry, extra

    def convert(self, value, param, ctx):
        if value == self._extra:
            return value
        try:
            self._registry.get(value)
        except UnknownNameError as exc:
            self.fail(f"{exc} (or '{self._extra}')", param, ctx)
        return value


def _command_line(ctx: click.Context) -> str:
    """The command as typed, rebuilt from its parameters (for the generated page's header)."""
    words = ["edgekit", "bench", *ctx.params["bundles"]]
    for param in ctx.command.params:
        value = ctx.params.get(param.name)
        if not isinstance(param, click.Option) or value in (None, ()) or value == param.get_default(ctx):
            continue
        if param.is_flag:
            words.append(param.opts[0] if value else param.secondary_opts[0])
            continue
        for item in value if isinstance(value, tuple) else [value]:
            words += [param.opts[0], str(item)]
    return shlex.join(words)


def _stream_counts(value: str | None) -> tuple[int, ...]:
    if not value:
        return ()
    try:
        counts = tuple(int(part) for part in value.split(","))
    except ValueError:
        counts = ()
    if not counts or any(not 1 <= n <= MAX_PARALLEL for n in counts):
        raise click.BadParameter(
            f"{value!r}: give stream counts from 1 to {MAX_PARALLEL} separated by commas, e.g. 1,2,4",
            param_hint="'--streams'",
        )
    return tuple(dict.fromkeys(counts))


@click.command()
@click.argument("bundles", nargs=-1, required=True, type=click.Path(path_type=str))
@click.option(
    "--vs",
    "peers",
    multiple=True,
    type=RegisteredName("peer", PEERS, ALL),
    help=f"Also run a peer on the same weights (repeatable; '{ALL}' = every peer: "
    f"{', '.join(PEERS.names())}). A peer that cannot run here is skipped with the reason and the fix.",
)
@click.option(
    "--threads", type=click.IntRange(min=1), default=None, help="Threads for every engine (default: physical cores)."
)
@click.option("--decode-tokens", type=click.IntRange(min=2), default=64, show_default=True)
@click.option("--repeats", type=click.IntRange(min=1), default=3, show_default=True, help="Warm prefill runs (median).")
@click.option(
    "--variants/--no-variants",
    default=True,
    show_default=True,
    help="Also run each engine's labelled rows: its thread-wait setting toggled, edgekit under --constraint, and "
    "edgekit without reading the hidden states (what the escalation policy's probes cost).",
)
@click.option(
    "--quality/--no-quality",
    default=True,
    show_default=True,
    help="Teacher-forced top-1 agreement and KL against the float model (needs the export extra).",
)
@click.option(
    "--quality-tokens",
    type=click.IntRange(min=16),
    default=512,
    show_default=True,
    help="Tokens of the validation text scored for quality.",
)
@click.option(
    "--roofline/--no-roofline",
    default=True,
    show_default=True,
    help="Measure memory bandwidth and each engine's share of the memory-bound decode limit.",
)
@click.option(
    "--constraint",
    "constraints",
    multiple=True,
    type=RegisteredName("constraint", BENCH_CONSTRAINTS, NO_CONSTRAINT),
    default=DEFAULT_CONSTRAINTS,
    show_default=True,
    help="Also decode under this grammar in edgekit's worker, interleaved with unconstrained decoding, and report "
    f"the overhead (repeatable; known: {', '.join(BENCH_CONSTRAINTS.names())}; '{NO_CONSTRAINT}': no such row).",
)
@click.option(
    "--streams",
    default=None,
    metavar="N,N,...",
    help="Also measure edgekit's aggregate tok/s with N generations at once (e.g. 1,2,4: as serve --parallel N).",
)
@click.option(
    "--genai-model",
    type=click.Path(exists=True, file_okay=False),
    default=None,
    help="A ready onnxruntime-genai model folder (default: built from the bundle's GGUF and cached).",
)
@click.option("--gguf", default=None, help="GGUF for llama.cpp and the float reference (default: the bundle's source).")
@click.option(
    "--llamacpp-python", default=None, help="Python interpreter that has llama-cpp-python (e.g. a separate venv)."
)
@click.option(
    "--optimum-executorch-python",
    default=None,
    help="Python interpreter that has optimum-executorch (its own venv: scripts/setup-optimum-executorch.sh).",
)
@click.option("--cache-dir", type=click.Path(file_okay=False), default=".cache/bench", show_default=True)
@click.option(
    "--markdown",
    "markdown_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="Write the tables with the machine's facts to this markdown file (e.g. docs/benchmarks.md).",
)
@click.option(
    "--plot", "plot_path", type=click.Path(dir_okay=False), default=None, help="Write a bar chart PNG (first bundle)."
)
@click.option("--json", "as_json", is_flag=True, help="Print the measurements as JSON.")
@click.pass_context
def bench(
    ctx,
    bundles,
    peers,
    threads,
    decode_tokens,
    repeats,
    variants,
    quality,
    quality_tokens,
    roofline,
    constraints,
    streams,
    genai_model,
    gguf,
    llamacpp_python,
    optimum_executorch_python,
    cache_dir,
    markdown_path,
    plot_path,
    as_json,
):
    """Measure the runtime on each BUNDLE (each engine in its own process)."""
    from pathlib import Path

    from edgekit.sdk.bench import BenchConfig, format_report, run_bench, write_markdown
    from edgekit.sdk.bench.machine import load_average, machine_facts
    from edgekit.sdk.bench.plot import write_plot
    from edgekit.sdk.bench.records import Status

    from .progress_render import StderrProgress

    if len(bundles) > 1 and (genai_model or gguf):
        raise click.UsageError("--genai-model and --gguf name one model: pass a single BUNDLE with them")
    facts = machine_facts(threads=0)  # load average before any engine runs; threads filled in below
    reports = []
    for bundle in bundles:
        config = BenchConfig(
            bundle=Path(bundle),
            peers=tuple(peers),
            threads=threads,
            decode_tokens=decode_tokens,
            repeats=repeats,
            cache_dir=Path(cache_dir),
            genai_model=Path(genai_model) if genai_model else None,
            gguf=gguf,
            llamacpp_python=llamacpp_python,
            optimum_executorch_python=optimum_executorch_python,
            variants=variants,
            quality=quality,
            quality_tokens=quality_tokens,
            roofline=roofline,
            streams=_stream_counts(streams),
            constraints=tuple(dict.fromkeys(c for c in constraints if c != NO_CONSTRAINT)),
        )
        reports.append(run_bench(config, on_progress=StderrProgress()))
    facts["threads"] = reports[0].threads
    if plot_path:
        write_plot(reports[0].results, plot_path)
    if markdown_path:
        write_markdown(reports, markdown_path, facts, _command_line(ctx), load_after=load_average())
    if as_json:
        click.echo(
            json.dumps(
                [r.to_dict() for r in reports] if len(reports) > 1 else reports[0].to_dict()["results"], indent=2
            )
        )
    else:
        click.echo("\n\n".join(f"## {r.model} — {r.recipe} ({r.bundle})\n\n{format_report(r)}" for r in reports))
    for report in reports:
        for r in report.results:
            if r.status == Status.SKIPPED.value:
                click.echo(f"note: {r.engine} skipped: {r.message}", err=True)
        failed = next((r for r in report.results if r.engine == "edgekit" and not r.ok), None)
        if failed:
            raise click.ClickException(f"edgekit failed on {report.bundle}: {failed.message}")
