"""Export targets, registered by name (``onnx``, ``executorch``).

A target turns a ``LoadedModel`` plus a ``QuantRecipe`` into model files inside
a bundle folder and says which runtime backend runs them. Everything around it
(resolving the source, tokenizer, validation, manifest, atomic write) is shared
by the export pipeline, so a new target is one class.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from edgekit.runtime.progress import OnProgress
from edgekit.runtime.registry import Registry

from .loaded_model import LoadedModel
from .target_options import TargetOptions

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
    # The target's options (``-o KEY=VALUE``): a frozen ``TargetOptions`` dataclass, required by register_target.
    options_type: ClassVar[type[TargetOptions]]

    def parse_options(self, options: TargetOptions | Mapping[str, Any] | None) -> TargetOptions:
        """Typed options from an instance of ``options_type``, a mapping (values typed or text) or None."""
        return self.options_type.coerce(options)

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
        options: TargetOptions | Mapping[str, Any],
        on_progress: OnProgress,
    ) -> TargetResult:
        """Write the model files into ``out_dir`` (a temporary folder the pipeline renames at the end).

        ``options`` is an ``options_type`` instance, or a mapping ``parse_options`` turns into one."""


TARGETS: Registry[ExportTarget] = Registry("export target")


def register_target(name: str):
    """Class decorator: registers one instance of the target under ``name``.

    The class must name its options dataclass (``options_type``, a ``TargetOptions`` subclass whose
    ``target_name`` is ``name``), so every target's options are typed and listed by the CLI."""

    def decorate(cls: type[ExportTarget]) -> type[ExportTarget]:
        options_type = getattr(cls, "options_type", None)
        if not (isinstance(options_type, type) and issubclass(options_type, TargetOptions)):
            raise TypeError(f"export target {name!r} ({cls.__name__}) has no options_type (a TargetOptions subclass)")
        if options_type.target_name != name:
            raise TypeError(
                f"export target {name!r}: {options_type.__name__}.target_name is {options_type.target_name!r}"
            )
        cls.name = name
        TARGETS.add(name, cls())
        return cls

    return decorate
