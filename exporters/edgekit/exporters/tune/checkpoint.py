"""Checkpoints of a LoRA run: adapter weights, optimizer state, step, early-stopping state and RNG states.

Written to a temporary file in the checkpoint folder and renamed over the previous one (``os.replace`` is atomic
on POSIX), so an interrupted write leaves the last complete checkpoint in place. Loaded with
``torch.load(weights_only=True)``: tensors, numbers, strings, lists, dicts and tuples only.
"""

from __future__ import annotations

import os
import random
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import TuneError

__all__ = ["TrainState", "save_checkpoint", "load_checkpoint"]


@dataclass
class TrainState:
    """Everything the loop needs to continue where it stopped (besides the model and optimizer)."""

    step: int = 0
    best_loss: float = float("inf")
    best_step: int = 0
    bad_evals: int = 0
    initial_loss: float | None = None
    best_adapter: dict[str, Any] = field(default_factory=dict)  # name -> tensor
    history: list[dict[str, Any]] = field(default_factory=list)
    stopped_early: bool = False


def save_checkpoint(path: Path, fingerprint: str, state: TrainState, adapter: dict[str, Any], optimizer: Any) -> None:
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "fingerprint": fingerprint,
        "step": state.step,
        "best_loss": state.best_loss,
        "best_step": state.best_step,
        "bad_evals": state.bad_evals,
        "initial_loss": state.initial_loss,
        "best_adapter": state.best_adapter,
        "history": state.history,
        "stopped_early": state.stopped_early,
        "adapter": adapter,
        "optimizer": optimizer.state_dict(),
        "torch_rng": torch.get_rng_state(),
        "python_rng": random.getstate(),
    }
    handle, temp = tempfile.mkstemp(prefix=".checkpoint-", suffix=".tmp", dir=path.parent)
    os.close(handle)
    try:
        torch.save(payload, temp)
        os.replace(temp, path)
    finally:
        if os.path.exists(temp):
            os.unlink(temp)


def load_checkpoint(path: Path, fingerprint: str) -> tuple[TrainState, dict[str, Any], dict[str, Any]]:
    """(state, adapter tensors, optimizer state dict); RNG states are restored as a side effect."""
    import torch

    try:
        payload = torch.load(path, weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable checkpoint gets the same advice
        raise TuneError(
            f"{path}: the checkpoint cannot be read ({type(exc).__name__}); delete it or pass --no-resume"
        ) from None
    if payload.get("fingerprint") != fingerprint:
        raise TuneError(
            f"{path} is the checkpoint of another run (different model, data or hyper-parameters); "
            "pass --no-resume to start over, or --checkpoint-dir for a separate run"
        )
    torch.set_rng_state(payload["torch_rng"])
    python_rng = payload["python_rng"]
    random.setstate((python_rng[0], tuple(python_rng[1]), python_rng[2]))
    state = TrainState(
        step=payload["step"],
        best_loss=payload["best_loss"],
        best_step=payload["best_step"],
        bad_evals=payload["bad_evals"],
        initial_loss=payload["initial_loss"],
        best_adapter=payload["best_adapter"],
        history=list(payload["history"]),
        stopped_early=payload["stopped_early"],
    )
    return state, payload["adapter"], payload["optimizer"]
