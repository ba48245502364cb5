"""Export targets, registered by name (``onnx``, ``executorch``).

A target turns a ``LoadedModel`` plus a ``QuantRecipe`` into model files inside
a bundle folder and says which runtime backend runs them. Everything around it
(resolving the source, tokenizer, validation, manifest, atomic write) is shared
by the export pipeline, so a new target is one class.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from edgekit.runtime.progress import OnProgress
from edgekit.runtime.registry import Registry

from .model import LoadedModel

__all__ = ["TargetResult", "ExportTarget", "TARGETS", "register_target"]


@dataclass
class TargetResult:
    """What a target wrote into the bundle folder."""

    files: list[tuple[str, str]]  # (path relative to the bundle folder, role: "model" | "weights" | "other")
    backend: str  # runtime backend registry name that runs these files
    backend_config: dict[str, Any]  # goes to edgekit.json "backend_config" (ONNX: OnnxGraphSpec.to_dict())
    metrics: dict[str, Any] = field(default_factory=dict)  # e.g. per-tensor quantization error summary


class ExportTarget(ABC):
    name: ClassVar[str]
    description: ClassVar[str] = ""

    @abstractmethod
    def supports(self, recipe: Any, model: LoadedModel) -> str | None:
        """None if the target can build ``recipe`` for ``model``, else the reason it cannot
        (the pipeline raises UnsupportedError naming target, recipe and that reason)."""

    @abstractmethod
    def build(
        self,
        model: LoadedModel,
        recipe: Any,
        out_dir: Path,
        max_context: int,
        options: dict[str, Any],
        on_progress: OnProgress,
    ) -> TargetResult:
        """Write the model files into ``out_dir`` (a temporary folder the pipeline renames at the end)."""


TARGETS: Registry[ExportTarget] = Registry("export target")


def register_target(name: str):
    """Class decorator: registers one instance of the target under ``name``."""

    def decorate(cls: type[ExportTarget]) -> type[ExportTarget]:
        cls.name = name
        TARGETS.add(name, cls())
        return cls

    return decorate
