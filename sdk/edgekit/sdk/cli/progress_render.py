"""Render ``ProgressEvent``s on stderr: one line per finished stage, with what it measured."""

from __future__ import annotations

import sys
from typing import Any, TextIO

from edgekit.runtime.progress import ProgressEvent


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        if value != 0 and (abs(value) < 1e-2 or abs(value) >= 1e5):
            return f"{value:.2e}"
        return f"{value:.4g}"
    return str(value)


def format_event(event: ProgressEvent) -> str:
    head = f"[{event.step}/{event.total}] {event.name}"
    if event.message:
        head += f" {event.message}"
    metrics = "  ".join(f"{k}={_fmt(v)}" for k, v in event.metrics.items())
    if metrics:
        head += "  " + metrics
    if event.done and event.seconds is not None:
        head += f"  ({event.seconds:.1f} s)"
    elif not event.done and not metrics:
        head += " ..."
    return head


class StderrProgress:
    """Callable progress sink for the CLI (quiet=True shows nothing)."""

    def __init__(self, stream: TextIO | None = None, quiet: bool = False):
        self.stream = stream or sys.stderr
        self.quiet = quiet

    def __call__(self, event: ProgressEvent) -> None:
        if self.quiet:
            return
        self.stream.write(format_event(event) + "\n")
        self.stream.flush()
