"""Progress reporting for long work.

Library code never prints. Long work (export, validation, benchmarks) calls an
``on_progress`` callback with ``ProgressEvent``s; the CLI renders them on stderr
as step lines such as ``[3/6] quantize int4  max_err=1.2e-3  (4.1 s)``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

__all__ = ["ProgressEvent", "OnProgress", "no_progress", "Steps"]


@dataclass(frozen=True)
class ProgressEvent:
    """One report from long-running work.

    ``step``/``total`` count the top-level stages (1-based); ``done`` is False
    while a stage is running and True when it finished, with ``seconds`` and
    whatever it measured in ``metrics``.
    """

    step: int
    total: int
    name: str
    message: str = ""
    done: bool = False
    seconds: float | None = None
    metrics: Mapping[str, Any] = field(default_factory=dict)


OnProgress = Callable[[ProgressEvent], None]


def no_progress(event: ProgressEvent) -> None:
    """The default callback: report nothing."""


class Steps:
    """Helper that numbers stages and times them.

    >>> steps = Steps(total=3, on_progress=print_fn)
    >>> with steps.stage("load") as stage:
    ...     stage.metrics["params"] = 134_515_008
    """

    def __init__(self, total: int, on_progress: OnProgress | None = None):
        self.total = total
        self.on_progress = on_progress or no_progress
        self.current = 0

    def stage(self, name: str, message: str = "") -> _Stage:
        self.current += 1
        return _Stage(self, self.current, name, message)

    def note(self, name: str, message: str, **metrics: Any) -> None:
        """Report something inside the current stage without ending it."""
        self.on_progress(ProgressEvent(self.current, self.total, name, message, False, None, dict(metrics)))


class _Stage:
    def __init__(self, steps: Steps, step: int, name: str, message: str):
        self.steps = steps
        self.step = step
        self.name = name
        self.message = message
        self.metrics: dict[str, Any] = {}
        self._start = 0.0

    def __enter__(self) -> _Stage:
        import time

        self._start = time.perf_counter()
        self.steps.on_progress(ProgressEvent(self.step, self.steps.total, self.name, self.message))
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        import time

        if exc_type is None:
            self.steps.on_progress(
                ProgressEvent(
                    self.step,
                    self.steps.total,
                    self.name,
                    self.message,
                    True,
                    time.perf_counter() - self._start,
                    dict(self.metrics),
                )
            )
