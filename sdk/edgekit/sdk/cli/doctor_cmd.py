"""``edgekit doctor``: what this device is and which bundles it can run.

Prints the platform, CPU model and the SIMD features that pick onnxruntime's kernels
(NEON/dotprod/i8mm on Arm, AVX2/AVX-512/VNNI on x86), physical cores, available memory,
the onnxruntime version and providers, the recommended thread count, and which bundle
recipes fit in memory: the given bundles (their measured peak RSS) and the default model's
recipes (reference numbers in :data:`edgekit.runtime.memory.DEFAULT_MODEL_FOOTPRINTS`).
Runs on the base install (no torch); onnxruntime is imported inside the command.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

__all__ = ["doctor", "collect"]


def _onnxruntime() -> dict[str, Any]:
    try:
        import onnxruntime as ort
    except ImportError as exc:  # the base install has it; say so instead of failing the whole report
        return {
            "version": None,
            "providers": [],
            "error": f"onnxruntime is not importable ({exc}); pip install onnxruntime",
        }
    return {"version": ort.__version__, "providers": list(ort.get_available_providers())}


def _bundle_row(path: Path, available_mib: float | None) -> dict[str, Any]:
    from edgekit.runtime.errors import BundleError, InsufficientMemoryError
    from edgekit.runtime.manifest import read_manifest
    from edgekit.runtime.memory import check_fits, required_mib

    try:
        manifest = read_manifest(path)
    except BundleError as exc:
        return {"bundle": str(path), "error": str(exc)}
    peak, need = required_mib(manifest)
    row: dict[str, Any] = {
        "bundle": str(path),
        "model": manifest.model.name or None,
        "recipe": (manifest.recipe or {}).get("name"),
        "peak_rss_mib": peak,
        "required_mib": need,
    }
    if available_mib is None:
        row["fits"] = None
        return row
    try:
        row["fits"] = check_fits(manifest, available_mib=available_mib).fits
    except InsufficientMemoryError:
        row["fits"] = False
    return row


def collect(bundles: tuple[str, ...] = ()) -> dict[str, Any]:
    """The report as a JSON-able dict (the text output renders this)."""
    from edgekit.runtime.device import describe
    from edgekit.runtime.memory import DEFAULT_MODEL_FOOTPRINTS, HEADROOM

    device = describe()
    available = device.memory.available_mib
    recipes = []
    for fp in DEFAULT_MODEL_FOOTPRINTS:
        need = fp.peak_rss_mib * (1 + HEADROOM)
        recipes.append(
            {
                "recipe": fp.recipe,
                "model": fp.model,
                "peak_rss_mib": fp.peak_rss_mib,
                "required_mib": round(need, 1),
                "fits": None if available is None else need <= available,
                "note": fp.note,
            }
        )
    return {
        "device": device.to_dict(),
        "onnxruntime": _onnxruntime(),
        "recommended_threads": device.recommended_threads,
        "headroom": HEADROOM,
        "default_model_recipes": recipes,
        "bundles": [_bundle_row(Path(b), available) for b in bundles],
    }


def _mib(value: float | None) -> str:
    return "unknown" if value is None else f"{value:,.0f} MiB"


def _yes_no(fits: bool | None) -> str:
    return {True: "yes", False: "NO", None: "?"}[fits]


def render(report: dict[str, Any]) -> str:
    dev, cpu, mem = report["device"], report["device"]["cpu"], report["device"]["memory"]
    ort = report["onnxruntime"]
    lines = [
        f"platform      {dev['platform']}" + (f"  ({dev['board']})" if dev["board"] else ""),
        f"python        {dev['python']}",
        f"cpu           {cpu['arch']}, {cpu['model'] or 'model unknown'}",
        f"features      {' '.join(cpu['features']) or '(none detected)'}  [from {cpu['feature_source']}]",
    ]
    if cpu["arch"] in ("aarch64", "arm64"):
        have = set(cpu["features"])
        lines.append(
            "              int8 kernels: "
            + ", ".join(f"{f} {'yes' if f in have else 'no'}" for f in ("neon", "dotprod", "i8mm"))
        )
    elif cpu["arch"] in ("x86_64", "amd64"):
        have = set(cpu["features"])
        lines.append(
            "              int8 kernels: "
            + ", ".join(f"{f} {'yes' if f in have else 'no'}" for f in ("avx2", "avx512f", "avx512-vnni", "avx-vnni"))
        )
    lines += [
        f"cores         {cpu['physical_cores'] or '?'} physical, {cpu['usable_cpus']} usable of {cpu['logical_cpus']} "
        "logical",
        f"memory        {_mib(mem['available_mib'])} available of {_mib(mem['total_mib'])} ({mem['source']})",
        f"onnxruntime   {ort['version'] or 'MISSING'}"
        + (f"  providers: {', '.join(ort['providers'])}" if ort["providers"] else ""),
        f"threads       {report['recommended_threads']} recommended (physical cores; load(threads=None) uses the same)",
    ]
    for note in dev["notes"]:
        lines.append(f"note          {note}")
    if ort.get("error"):
        lines.append(f"note          {ort['error']}")
    lines.append("")
    lines.append(f"default model recipes (reference peak RSS, +{report['headroom']:.0%} headroom):")
    lines.append(f"  {'recipe':<8} {'peak RSS':>10} {'needs':>10}  fits  note")
    for row in report["default_model_recipes"]:
        lines.append(
            f"  {row['recipe']:<8} {_mib(row['peak_rss_mib']):>10} {_mib(row['required_mib']):>10}  "
            f"{_yes_no(row['fits']):<4}  {row['note']}"
        )
    if report["bundles"]:
        lines.append("")
        lines.append("bundles:")
        for row in report["bundles"]:
            if "error" in row:
                lines.append(f"  {row['bundle']}: {row['error']}")
                continue
            peak = (
                "not measured"
                if row["peak_rss_mib"] is None
                else f"peak RSS {_mib(row['peak_rss_mib'])}, needs {_mib(row['required_mib'])}"
            )
            lines.append(f"  {row['bundle']}  [{row['model']}, {row['recipe']}]  {peak}  fits: {_yes_no(row['fits'])}")
    return "\n".join(lines)


@click.command()
@click.argument("bundles", nargs=-1, type=click.Path(file_okay=True, dir_okay=True))
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def doctor(bundles: tuple[str, ...], as_json: bool) -> None:
    """Check this device: CPU features, cores, memory, onnxruntime, and which bundles fit.

    \b
    edgekit doctor                       # the device and the default model's recipes
    edgekit doctor bundles/smollm2       # also: does this bundle fit in memory?
    edgekit doctor --json
    """
    report = collect(bundles)
    click.echo(json.dumps(report, indent=2) if as_json else render(report))
    problems = [row for row in report["bundles"] if "error" in row or row.get("fits") is False]
    if problems:
        # The report is printed either way; the exit status lets a setup script stop here.
        raise click.ClickException(
            f"{len(problems)} of {len(report['bundles'])} bundle(s) cannot be run on this device (see above)"
        )
