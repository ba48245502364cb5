"""The operating point: how much to escalate, stated as the accuracy wanted or the escalation a user can pay for.

``edgekit calibrate`` measures, out of fold on its records, what each post-generation threshold gives: the share
of questions escalated (router, early hand-off and post stages together) and the accuracy with the cloud's answers
counted as right (or as measured). That curve is kept in the policy file. A target then picks a point of it:

- ``target_accuracy=A``: the point with the lowest escalation rate whose measured accuracy is at least ``A`` (the
  highest-accuracy point when no point reaches ``A``: the policy cannot do better than escalating that much);
- ``max_escalation_rate=R``: the point with the highest accuracy that escalates at most ``R``.

The thresholds of every post model are then set to that point's. They are probabilities of a wrong answer from
one calibrated model per family, so one threshold for all families is the right rule (escalate the answers most
likely wrong first; the calibration error is in the policy's ``meta``). The figures are those of the calibration
records: a set of other questions escalates at another rate for the same threshold.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from edgekit.runtime.errors import ConfigError

__all__ = ["OperatingPoint", "OperatingCurve", "check_target"]


def check_target(target_accuracy: float | None, max_escalation_rate: float | None) -> None:
    """Refuse a target outside [0, 1], or both targets at once (which one would win is not obvious)."""
    for name, value in (("target_accuracy", target_accuracy), ("max_escalation_rate", max_escalation_rate)):
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1
        ):
            raise ConfigError(f"{name}={value!r} must be a number in [0, 1]")
    if target_accuracy is not None and max_escalation_rate is not None:
        raise ConfigError("give target_accuracy or max_escalation_rate, not both")


@dataclass(frozen=True)
class OperatingPoint:
    threshold: float  # post-model probability of a wrong answer at or above which the policy escalates
    escalation_rate: float  # measured share escalated (all stages) on the calibration records
    accuracy: float  # measured accuracy there (cloud answers right unless measured)

    def to_dict(self) -> dict[str, float]:
        return {"threshold": self.threshold, "escalation_rate": self.escalation_rate, "accuracy": self.accuracy}


@dataclass(frozen=True)
class OperatingCurve:
    """Measured points, and the target the file's own thresholds were set for (what the defaults give)."""

    points: tuple[OperatingPoint, ...]
    default_target_accuracy: float | None = None
    default_max_escalation_rate: float | None = None

    def __post_init__(self) -> None:
        if not self.points:
            raise ConfigError("policy operating curve has no points; re-run `edgekit calibrate`")
        check_target(self.default_target_accuracy, self.default_max_escalation_rate)

    def choose(self, target_accuracy: float | None = None, max_escalation_rate: float | None = None) -> OperatingPoint:
        check_target(target_accuracy, max_escalation_rate)
        if target_accuracy is None and max_escalation_rate is None:
            target_accuracy, max_escalation_rate = self.default_target_accuracy, self.default_max_escalation_rate
        # ties: the least escalation for accuracy, the most accuracy for a budget; then the higher threshold
        if max_escalation_rate is not None:
            within = [p for p in self.points if p.escalation_rate <= max_escalation_rate + 1e-12]
            if not within:
                return min(self.points, key=lambda p: (p.escalation_rate, -p.threshold))
            return max(within, key=lambda p: (p.accuracy, -p.escalation_rate, p.threshold))
        if target_accuracy is not None:
            reaching = [p for p in self.points if p.accuracy >= target_accuracy - 1e-12]
            if reaching:
                return min(reaching, key=lambda p: (p.escalation_rate, -p.threshold))
            return max(self.points, key=lambda p: (p.accuracy, -p.escalation_rate, p.threshold))
        raise ConfigError("the policy states no default operating point; pass target_accuracy or max_escalation_rate")

    def to_dict(self) -> dict[str, Any]:
        default = {}
        if self.default_target_accuracy is not None:
            default["target_accuracy"] = self.default_target_accuracy
        if self.default_max_escalation_rate is not None:
            default["max_escalation_rate"] = self.default_max_escalation_rate
        return {"default": default, "points": [p.to_dict() for p in self.points]}

    @classmethod
    def from_dict(cls, data: Any, where: str = "policy") -> OperatingCurve:
        try:
            points = tuple(
                OperatingPoint(float(p["threshold"]), float(p["escalation_rate"]), float(p["accuracy"]))
                for p in data["points"]
            )
            default: Mapping[str, Any] = data.get("default") or {}
            return cls(points, default.get("target_accuracy"), default.get("max_escalation_rate"))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ConfigError(
                f"{where}: malformed operating curve ({type(exc).__name__}: {exc}); re-run `edgekit calibrate`"
            ) from None

    @classmethod
    def measured(
        cls, thresholds: Sequence[float], rates: Sequence[float], accuracies: Sequence[float], **default: Any
    ) -> OperatingCurve:
        points = {}
        for t, r, a in zip(thresholds, rates, accuracies):
            points[round(float(t), 12)] = OperatingPoint(float(t), float(r), float(a))  # one point per threshold
        return cls(tuple(sorted(points.values(), key=lambda p: -p.threshold)), **default)
