"""A task metric an export must keep, beside top-1 agreement: e.g. a tuned model's held-out accuracy.

Agreement with the float model says how closely a recipe follows it token by token; what a tuned model's user
cares about is the task it was tuned for. ``ExportSpec(task_check=TaskCheck(...))`` measures the finished bundle
(``measure(folder)``, run through the runtime like any user would), records the score in the manifest's
validation section (``validation.task``), and under ``--quant auto`` moves on to the next, larger recipe when the
score is below ``floor`` (``edgekit tune --export --quant auto --accuracy FILE --max-accuracy-drop D`` builds one
with floor = the tuned float model's accuracy - D).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgekit.runtime.errors import ConfigError

__all__ = ["TASK_KEY", "TaskCheck", "TaskScore"]

TASK_KEY = "task"  # the manifest's validation.task: the TaskScore of the bundle


@dataclass(frozen=True)
class TaskScore:
    class Key:
        NAME = "name"
        SCORE = "score"
        FLOOR = "floor"
        PASSED = "passed"

    name: str
    score: float
    floor: float

    @property
    def passed(self) -> bool:
        return self.score >= self.floor - 1e-12

    def to_dict(self) -> dict[str, Any]:
        k = self.Key
        return {k.NAME: self.name, k.SCORE: self.score, k.FLOOR: self.floor, k.PASSED: self.passed}


@dataclass(frozen=True)
class TaskCheck:
    name: str  # what is measured, e.g. "held-out accuracy (held_out.jsonl, 40 questions)"
    measure: Callable[[Path], float]  # the bundle folder -> score (higher is better)
    floor: float

    def __post_init__(self) -> None:
        if not callable(self.measure):
            raise ConfigError(f"task check {self.name!r}: measure must be a function of the bundle folder")

    def run(self, folder: Path) -> TaskScore:
        return TaskScore(self.name, float(self.measure(folder)), float(self.floor))
