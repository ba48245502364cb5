"""edgekit.exporters: turn an SLM into a validated edgekit bundle (needs the 'export' extra).

    from edgekit.exporters import ExportSpec, export
    report = export(ExportSpec(model="default", out="bundles/smollm2", quant="gguf"))
    report.bundle, report.validation.top1_agreement

Names are resolved lazily (PEP 562) so that importing this package, e.g. for
the validation runner's child process, does not import torch.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "ExportSpec",
    "ExportReport",
    "CandidateResult",
    "TaskCheck",
    "export",
    "AUTO",
    "DEFAULT_MAX_CONTEXT",
    "ValidationSettings",
    "ValidationResult",
    "DEFAULT_MIN_AGREEMENT",
    "validate_bundle",
    "resolve_source",
    "LoadedModel",
    "ModelConfig",
    "GGUFTensor",
    "TokenizerAssets",
    "TARGETS",
    "ExportTarget",
    "TargetResult",
    "register_target",
    "RECIPES",
    "QuantRecipe",
    "AUTO_CANDIDATES",
    "get_recipe",
]

_WHERE = {
    "ExportSpec": ".pipeline",
    "ExportReport": ".pipeline",
    "CandidateResult": ".pipeline",
    "TaskCheck": ".task_check",
    "export": ".pipeline",
    "AUTO": ".pipeline",
    "DEFAULT_MAX_CONTEXT": ".pipeline",
    "ValidationSettings": ".validation.quality",
    "ValidationResult": ".validation.quality",
    "DEFAULT_MIN_AGREEMENT": ".validation.quality",
    "validate_bundle": ".validation.quality",
    "resolve_source": ".sources",
    "LoadedModel": ".loaded_model",
    "ModelConfig": ".loaded_model",
    "GGUFTensor": ".loaded_model",
    "TokenizerAssets": ".loaded_model",
    "TARGETS": ".target_registry",
    "ExportTarget": ".target_registry",
    "TargetResult": ".target_registry",
    "register_target": ".target_registry",
    "RECIPES": ".recipes",
    "QuantRecipe": ".recipes",
    "AUTO_CANDIDATES": ".recipes",
    "get_recipe": ".recipes",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'edgekit.exporters' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
