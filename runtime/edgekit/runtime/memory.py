"""Will a bundle fit in this device's memory? Checked before any weights are read.

The exporter measures the peak resident set size of the runtime process while it validates
the bundle and writes it to ``manifest.memory["peak_rss_mib"]``. Loading compares that number
(plus headroom) with the memory the kernel says is available (``MemAvailable``, lowered by a
cgroup limit; see :mod:`edgekit.runtime.device`) and refuses with both numbers, instead of
letting a 4 GB Raspberry Pi swap for minutes or get the process OOM-killed half-way through
loading. ``force=True`` (``--force`` in the CLI) skips the refusal.

The KV cache is counted on top, for ``max_context`` positions: validation
measures peak RSS over short scoring windows, so the cache pages a full
context touches (the buffers are allocated ``max_context`` long, backends/onnx.py)
are not in that number. A manifest edited to a larger context therefore needs
more memory, and a context whose cache alone cannot fit is refused even when
the bundle carries no measurement.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .errors import InsufficientMemoryError, SchemaError
from .manifest import Manifest

__all__ = [
    "HEADROOM",
    "MemoryFit",
    "RecipeFootprint",
    "DEFAULT_MODEL_FOOTPRINTS",
    "kv_cache_mib",
    "required_mib",
    "check_fits",
]

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
    required_mib: float | None  # peak_rss_mib * (1 + HEADROOM) + kv_cache_mib
    available_mib: float | None  # None when the platform does not report it
    source: str  # where available_mib came from ("MemAvailable", "cgroup ...", "caller", "unknown")
    fits: bool | None  # None: could not tell (no measurement or no memory report)
    forced: bool = False  # True when it did not fit and force=True let it through
    kv_cache_mib: float = 0.0  # the KV caches of all sequences at max_context (0 when the backend does not say)

    def to_dict(self) -> dict[str, Any]:
        return {
            "peak_rss_mib": self.peak_rss_mib,
            "kv_cache_mib": self.kv_cache_mib,
            "required_mib": self.required_mib,
            "available_mib": self.available_mib,
            "source": self.source,
            "fits": self.fits,
            "forced": self.forced,
        }


def kv_cache_mib(manifest: Manifest) -> float:
    """MiB of one sequence's KV cache at the manifest's max_context (0 when the backend config does not say)."""
    try:
        spec = manifest.backend_spec
    except SchemaError:  # a hand-built manifest with a partial backend_config
        return 0.0
    return 0.0 if spec is None else spec.kv_cache_bytes(int(manifest.max_context)) / 2**20


def required_mib(manifest: Manifest, sequences: int = 1) -> tuple[float | None, float | None]:
    """(measured peak RSS, peak RSS with headroom + ``sequences`` KV caches) in MiB, or (None, None) if not
    measured."""
    raw = manifest.memory.peak_rss_mib if manifest.memory is not None else None
    if raw is None or isinstance(raw, bool):
        return None, None
    try:
        peak = float(raw)
    except (TypeError, ValueError):
        return None, None
    if not peak > 0:  # also rejects NaN
        return None, None
    return peak, peak * (1.0 + HEADROOM) + sequences * kv_cache_mib(manifest)


def _name(manifest: Manifest) -> str:
    recipe = manifest.recipe_name
    return f"{manifest.name} ({recipe})" if recipe else manifest.name


def check_fits(
    manifest: Manifest, force: bool = False, available_mib: float | None = None, sequences: int = 1
) -> MemoryFit:
    """Raise InsufficientMemoryError if the bundle's measured peak RSS will not fit.

    ``sequences``: KV caches held at once (``load(parallel=N)`` holds N).

    ``available_mib`` overrides the device's report (tests, or a caller that budgets memory
    for several models); by default it is ``MemAvailable`` (cgroup-limited). A bundle
    without a measurement, or a platform without a memory report, passes with ``fits=None``.
    """
    peak, need = required_mib(manifest, sequences)
    kv = sequences * kv_cache_mib(manifest)
    available: float | None
    if available_mib is not None:
        available, source = float(available_mib), "caller"
    else:
        from .device import memory_info  # stdlib-only probe of /proc/meminfo and cgroups

        info = memory_info()
        available, source = info.available_mib, info.source
    if available is None or (need is None and kv <= available):
        return MemoryFit(peak, need, available, source, fits=None, kv_cache_mib=kv)
    if need is not None and need <= available:
        return MemoryFit(peak, need, available, source, fits=True, kv_cache_mib=kv)
    if force:
        return MemoryFit(peak, need, available, source, fits=False, forced=True, kv_cache_mib=kv)
    measured = (
        f"peak RSS {peak:.0f} MiB measured at validation + {HEADROOM:.0%} headroom + " if peak is not None else ""
    )
    raise InsufficientMemoryError(
        f"{_name(manifest)} needs about {need if need is not None else kv:.0f} MiB ({measured}{kv:.0f} MiB of KV "
        f"cache for {sequences} sequence{'s' if sequences > 1 else ''} of max_context {manifest.max_context}) but "
        f"only {available:.0f} MiB is available ({source}); close other programs, use a smaller bundle recipe "
        "(see `edgekit doctor`) or a smaller context.max_context, or load "
        "anyway with force=True (CLI: --force)"
    )
