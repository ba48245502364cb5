"""Bar charts of a bench run (matplotlib, from the bench extra)."""

from __future__ import annotations

from pathlib import Path

from edgekit.runtime.errors import DependencyError

from .records import EngineResult

__all__ = ["write_plot"]

PANELS = (
    ("decode_tok_s", "decode tok/s (higher is better)"),
    ("prefill_ms", "prefill ms (lower is better)"),
    ("peak_rss_mib", "peak RSS MiB (lower is better)"),
)


def write_plot(results: list[EngineResult], path: str | Path) -> Path:
    """Decode tok/s, prefill ms and peak RSS per engine row."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise DependencyError("--plot", "bench", "matplotlib") from None
    ok = [r for r in results if r.ok]
    names = [r.engine if r.default else f"{r.engine}\n{r.variant}" for r in ok]
    fig, axes = plt.subplots(1, len(PANELS), figsize=(4 * len(PANELS) + 2, 3.8))
    for ax, (metric, title) in zip(axes, PANELS):
        bars = ax.bar(
            names, [getattr(r, metric) for r in ok], color=["#2a7" if r.engine == "edgekit" else "#888" for r in ok]
        )
        ax.bar_label(bars, fmt="%.0f")
        ax.set_title(title, fontsize=10)
        ax.tick_params(axis="x", labelsize=7)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
