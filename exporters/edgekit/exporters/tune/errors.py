"""The errors ``edgekit tune`` raises for bad input and for runs that cannot start (printed by the CLI as one line)."""

from __future__ import annotations

from edgekit.runtime.errors import EdgekitError

__all__ = ["TuneError", "TuneDataError", "TuneMemoryError"]


class TuneError(EdgekitError):
    """edgekit tune could not produce a tuned model folder."""


class TuneDataError(TuneError):
    """The training or evaluation data is malformed, too long or too small to split."""


class TuneMemoryError(TuneError):
    """The run's estimated peak memory is above the memory available."""
