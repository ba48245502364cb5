"""The file form of a folded hidden-state probe (prompt_probe.py, answer_probe.py): one weight per hidden dimension
and a bias, with the state it reads, the PCA components it was fitted with and what it was fitted on."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from edgekit.runtime.errors import ConfigError

__all__ = ["read_folded", "folded_dict"]


def read_folded(
    data: Any, where: str, section: str, default_state: str, numbers: tuple[str, ...] = ()
) -> dict[str, Any]:
    """The constructor fields of a probe section (``numbers``: further required float fields, e.g. threshold)."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where}: {section} must be an object; re-run `edgekit calibrate`")
    try:
        weights = tuple(float(w) for w in data["weights"])
        size = int(data.get("hidden_size", len(weights)))
        fields = {
            "weights": weights,
            "bias": float(data["bias"]),
            "state": str(data.get("state", default_state)),
            "components": int(data.get("components", 0)),
            "meta": dict(data.get("meta") or {}),
            **{name: float(data[name]) for name in numbers},
        }
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(
            f"{where}: {section} is malformed ({type(exc).__name__}: {exc}); re-run `edgekit calibrate`"
        ) from None
    if weights and size != len(weights):  # no weights at all: the probe itself says "weights is empty"
        raise ConfigError(
            f"{where}: {section} hidden_size {size} but {len(weights)} weights; re-run `edgekit calibrate`"
        )
    return fields


def folded_dict(probe: Any, **extra: Any) -> dict[str, Any]:
    return {
        "state": probe.state,
        "hidden_size": len(probe.weights),
        "components": probe.components,
        "weights": list(probe.weights),
        "bias": probe.bias,
        **extra,
        "meta": dict(probe.meta),
    }
