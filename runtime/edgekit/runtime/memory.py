"""Will a bundle fit in this device's memory? Checked before any weights are read.

The exporter measures the peak resident set size of the runtime process while it validates
the bundle and writes it to ``manifest.memory["peak_rss_mib"]``. Loading compares that number
(plus headroom) with the memory the kernel says is available (``MemAvailable``, lowered by a
cgroup limit; see :mod:`edgekit.runtime.device`) and refuses with both numbers, instead of
letting a 4 GB Raspberry Pi swap for minutes or get the process OOM-killed half-way through
loading. ``force=True`` (``--force`` in the CLI) skips the refusal.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .errors import InsufficientMemoryError
from .manifest import K, Manifest

__all__ = ["HEADROOM", "MemoryFit", "RecipeFootprint", "DEFAULT_MODEL_FOOTPRINTS", "required_mib", "check_fits"]

# Peak RSS varies between runs and machines (allocator arenas, one thread stack per intra-op
# thread, page-cache pressure), and the number was measured on the exporting machine; 10%
# keeps a bundle that measured just under the available memory from being loaded into swap.
HEADROOM = 0.10


@dataclass(frozen=True)
class RecipeFootprint:
    """Measured peak RSS of the default model's bundle for one recipe (``edgekit doctor`` lists these)."""

    recipe: str
    model: str
    peak_rss_mib: float
    note: str


# Peak RSS of the runtime process for the default model (SmolLM2-135M-Instruct), x86, 2,048-token
# context. gguf and fp32: edgekit's own measurement, manifest.memory["peak_rss_mib"] of the bundles
# `edgekit export` validated (a child process running this runtime over 128-token scoring windows;
# generation alone peaks lower: 226 MiB gguf, 691 MiB fp32). int4 and int8: peak RSS measured on a 2-core x86_64
# machine for MatMulNBits 4-bit block 32 / 8-bit weight-only graphs of the same model, until edgekit
# measures its own bundles. A bundle's own manifest number takes precedence wherever a bundle is at hand.
DEFAULT_MODEL_FOOTPRINTS: tuple[RecipeFootprint, ...] = (
    RecipeFootprint(
        "gguf", "SmolLM2-135M-Instruct", 461.3, "exact repack of the shipped Q4_1 GGUF: recommended for a Pi"
    ),
    RecipeFootprint("int4", "SmolLM2-135M-Instruct", 598.0, "re-quantized 4-bit: lower quality (earlier graph)"),
    RecipeFootprint("int8", "SmolLM2-135M-Instruct", 619.0, "near-float quality (earlier graph)"),
    RecipeFootprint("fp32", "SmolLM2-135M-Instruct", 959.1, "the float reference"),
)


@dataclass(frozen=True)
class MemoryFit:
    """The outcome of a memory check (also returned when the check passes or cannot run)."""

    peak_rss_mib: float | None  # measured at validation; None when the manifest lacks it
    required_mib: float | None  # peak_rss_mib * (1 + HEADROOM)
    available_mib: float | None  # None when the platform does not report it
    source: str  # where available_mib came from ("MemAvailable", "cgroup ...", "caller", "unknown")
    fits: bool | None  # None: could not tell (no measurement or no memory report)
    forced: bool = False  # True when it did not fit and force=True let it through

    def to_dict(self) -> dict[str, Any]:
        return {
            "peak_rss_mib": self.peak_rss_mib,
            "required_mib": self.required_mib,
            "available_mib": self.available_mib,
            "source": self.source,
            "fits": self.fits,
            "forced": self.forced,
        }


def required_mib(manifest: Manifest) -> tuple[float | None, float | None]:
    """(measured peak RSS, peak RSS with headroom) in MiB, or (None, None) if not measured."""
    raw = (manifest.memory or {}).get(K.PEAK_RSS_MIB)
    if raw is None or isinstance(raw, bool):
        return None, None
    try:
        peak = float(raw)
    except (TypeError, ValueError):
        return None, None
    if not peak > 0:  # also rejects NaN
        return None, None
    return peak, peak * (1.0 + HEADROOM)


def _name(manifest: Manifest) -> str:
    model = (manifest.model or {}).get("name") or "bundle"
    recipe = (manifest.recipe or {}).get("name")
    return f"{model} ({recipe})" if recipe else str(model)


def check_fits(manifest: Manifest, force: bool = False, available_mib: float | None = None) -> MemoryFit:
    """Raise InsufficientMemoryError if the bundle's measured peak RSS will not fit.

    ``available_mib`` overrides the device's report (tests, or a caller that budgets memory
    for several models); by default it is ``MemAvailable`` (cgroup-limited). A bundle
    without a measurement, or a platform without a memory report, passes with ``fits=None``.
    """
    peak, need = required_mib(manifest)
    if available_mib is not None:
        available, source = float(available_mib), "caller"
    else:
        from .device import memory_info  # stdlib-only probe of /proc/meminfo and cgroups

        info = memory_info()
        available, source = info.available_mib, info.source
    if need is None or available is None:
        return MemoryFit(peak, need, available, source, fits=None)
    if need <= available:
        return MemoryFit(peak, need, available, source, fits=True)
    if force:
        return MemoryFit(peak, need, available, source, fits=False, forced=True)
    raise InsufficientMemoryError(
        f"{_name(manifest)} needs about {need:.0f} MiB (peak RSS {peak:.0f} MiB measured at validation "
        f"+ {HEADROOM:.0%} headroom) but only {available:.0f} MiB is available ({source}); close other programs, "
        "use a smaller bundle recipe (see `edgekit doctor`), or load anyway with force=True (CLI: --force)"
    )
