"""``TuneSpec``: what to tune, on which data, with which hyper-parameters; ``TuneRecord``: what a run did."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from edgekit.runtime.errors import ConfigError

from .encode import LONG_POLICIES

__all__ = ["TuneSpec", "TuneRecord", "RECORD_NAME", "TRAINING_FIELDS"]

RECORD_NAME = "edgekit_tune.json"
# The fields that change what is learned: a checkpoint resumes only a run with the same values (max_steps,
# patience and the paths are left out, so a shortened run can be resumed and extended).
TRAINING_FIELDS = (
    "model",
    "seed",
    "epochs",
    "batch_size",
    "learning_rate",
    "weight_decay",
    "lora_r",
    "lora_alpha",
    "lora_dropout",
    "target_modules",
    "max_length",
    "on_long",
    "validation_share",
    "eval_every",
)


@dataclass(frozen=True)
class TuneSpec:
    """A LoRA run: ``model`` (default | HF folder | .gguf) tuned on ``data`` (OpenAI chat JSONL) into ``out``.

    Without ``eval_data``, ``validation_share`` of ``data`` is held out (seeded). Validation loss is measured
    every ``eval_every`` optimizer steps (default: twice per epoch) and at the end; training stops after
    ``patience`` measurements without improvement, and the best adapter is the one merged. A checkpoint is
    written at each measurement to ``checkpoint_dir`` (default: ``.<out name>.tune-checkpoint`` beside
    ``out``); with ``resume`` a run with the same data and hyper-parameters continues from it.
    ``max_memory_mib`` replaces the memory the system reports as available in the pre-run estimate.
    """

    data: Path
    out: Path
    model: str = "default"
    eval_data: Path | None = None
    seed: int = 0
    epochs: int = 2
    max_steps: int | None = None
    batch_size: int = 4
    learning_rate: float = 1e-3
    weight_decay: float = 0.0
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.0
    target_modules: str | tuple[str, ...] = "all-linear"
    max_length: int = 512
    on_long: str = "truncate"
    validation_share: float = 0.1
    eval_every: int | None = None
    patience: int = 2
    checkpoint_dir: Path | None = None
    resume: bool = True
    keep_checkpoint: bool = False
    force: bool = False
    threads: int | None = None
    max_memory_mib: float | None = None
    log_every: int = 5

    def __post_init__(self) -> None:
        object.__setattr__(self, "data", Path(self.data).expanduser())
        object.__setattr__(self, "out", Path(self.out).expanduser())
        if self.eval_data is not None:
            object.__setattr__(self, "eval_data", Path(self.eval_data).expanduser())
        if self.checkpoint_dir is not None:
            object.__setattr__(self, "checkpoint_dir", Path(self.checkpoint_dir).expanduser())
        if isinstance(self.target_modules, list):
            object.__setattr__(self, "target_modules", tuple(self.target_modules))
        positive = ("epochs", "batch_size", "lora_r", "lora_alpha", "max_length", "patience", "log_every")
        for name in positive:
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ConfigError(f"--{name.replace('_', '-')} must be a positive integer, got {value!r}")
        for name in ("max_steps", "eval_every", "threads"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ConfigError(f"--{name.replace('_', '-')} must be a positive integer, got {value!r}")
        if not self.learning_rate > 0:
            raise ConfigError(f"--learning-rate must be positive, got {self.learning_rate!r}")
        if not 0.0 < self.validation_share < 0.5:
            raise ConfigError(f"--validation-share must be between 0 and 0.5, got {self.validation_share!r}")
        if not 0.0 <= self.lora_dropout < 1.0:
            raise ConfigError(f"--lora-dropout must be in [0, 1), got {self.lora_dropout!r}")
        if self.on_long not in LONG_POLICIES:
            raise ConfigError(f"--on-long must be one of {', '.join(LONG_POLICIES)}, got {self.on_long!r}")

    @property
    def checkpoint_path(self) -> Path:
        folder = self.checkpoint_dir or self.out.parent / f".{self.out.name}.tune-checkpoint"
        return folder / "checkpoint.pt"

    def hyper_parameters(self) -> dict[str, Any]:
        values = {f.name: getattr(self, f.name) for f in fields(self) if f.name in TRAINING_FIELDS}
        values["target_modules"] = (
            list(self.target_modules) if isinstance(self.target_modules, tuple) else self.target_modules
        )
        values["max_steps"] = self.max_steps
        values["patience"] = self.patience
        return values

    def fingerprint(self, data_sha256: str, eval_sha256: str | None) -> str:
        values = {k: v for k, v in self.hyper_parameters().items() if k in TRAINING_FIELDS}
        blob = json.dumps({"hp": values, "data": data_sha256, "eval": eval_sha256}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()


@dataclass
class TuneRecord:
    """Written as ``edgekit_tune.json`` in the tuned folder: where it came from and how it was trained."""

    base_model: str
    source_kind: str
    data_sha256: str
    eval_sha256: str | None
    hyper_parameters: dict[str, Any]
    train_examples: int
    validation_examples: int
    validation_from: str  # "--eval FILE" or "split of --data"
    truncated: int
    dropped: int
    steps: int
    planned_steps: int
    best_step: int
    best_validation_loss: float
    initial_validation_loss: float
    stopped_early: bool
    resumed_from_step: int | None
    seconds: float
    history: list[dict[str, Any]] = field(default_factory=list)
    versions: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def write(self, folder: Path) -> Path:
        path = folder / RECORD_NAME
        path.write_text(json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n", encoding="utf-8")
        return path
