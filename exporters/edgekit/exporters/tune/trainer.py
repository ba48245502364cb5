"""The LoRA training loop: AdamW on the adapter, validation loss every ``eval_every`` steps, early stopping,
a checkpoint at each measurement, progress notes (step, loss, validation loss, tokens/s, ETA)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .batches import batch_at, collate, eval_batches
from .checkpoint import TrainState, load_checkpoint, save_checkpoint
from .encode import IGNORE, Encoded

__all__ = ["LoopSettings", "validation_loss", "train_loop", "adapter_state"]

# A measurement counts as better only when it improves on the best by more than this (noise of a small split).
MIN_DELTA = 1e-4


@dataclass(frozen=True)
class LoopSettings:
    total_steps: int
    batch_size: int
    seed: int
    eval_every: int
    patience: int
    learning_rate: float
    weight_decay: float
    log_every: int
    pad_id: int
    checkpoint: Path
    fingerprint: str
    resume: bool


def adapter_state(model: Any) -> dict[str, Any]:
    return {name: p.detach().clone() for name, p in model.named_parameters() if p.requires_grad}


def load_adapter(model: Any, adapter: dict[str, Any]) -> None:
    import torch

    params = dict(model.named_parameters())
    with torch.no_grad():
        for name, value in adapter.items():
            params[name].copy_(value)


def token_loss(model: Any, inputs: dict[str, Any], reduction: str = "mean") -> Any:
    """Cross-entropy on the trained (assistant) tokens only, with the LM head applied to those positions alone.

    The head of a small model is its largest matrix (SmolLM2-135M: 49152 x 576, a fifth of the weights) and its
    logits the largest activation (batch x length x vocab floats, then their softmax and gradient); assistant
    turns are about a third of the tokens of short support conversations, so this cuts both by about 3x.
    Families whose head output is post-processed (Gemma 2's logit soft-capping) take the full forward.
    """
    import torch.nn.functional as F

    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    labels = inputs["labels"][:, 1:]
    keep = labels != IGNORE
    if getattr(base.config, "final_logit_softcapping", None) or not hasattr(base, "lm_head"):
        logits = model(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"]).logits[:, :-1]
        return F.cross_entropy(logits[keep].float(), labels[keep], reduction=reduction)
    hidden = base.model(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"]).last_hidden_state
    logits = base.lm_head(hidden[:, :-1][keep])
    return F.cross_entropy(logits.float(), labels[keep], reduction=reduction)


def validation_loss(model: Any, examples: Sequence[Encoded], batch_size: int, pad_id: int) -> float:
    """Mean cross-entropy per trained (assistant) token over ``examples``."""
    import torch

    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for batch in eval_batches(examples, batch_size):
            inputs = collate(batch, pad_id)
            total += float(token_loss(model, inputs, reduction="sum"))
            count += int((inputs["labels"][:, 1:] != IGNORE).sum())
    if was_training:
        model.train()
    return total / max(1, count)


def train_loop(
    model: Any,
    train: Sequence[Encoded],
    validation: Sequence[Encoded],
    settings: LoopSettings,
    note: Callable[..., None],
) -> tuple[TrainState, int | None]:
    """Train until ``total_steps`` or early stop; returns the final state and the step resumed from (or None)."""
    import torch

    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=settings.learning_rate, weight_decay=settings.weight_decay)
    state = TrainState()
    resumed: int | None = None
    if settings.resume and settings.checkpoint.is_file():
        state, adapter, optimizer_state = load_checkpoint(settings.checkpoint, settings.fingerprint)
        load_adapter(model, adapter)
        optimizer.load_state_dict(optimizer_state)
        resumed = state.step
        note(f"resumed from step {state.step}", checkpoint=str(settings.checkpoint))
    elif settings.checkpoint.is_file():
        settings.checkpoint.unlink()
    if state.initial_loss is None:
        state.initial_loss = validation_loss(model, validation, settings.batch_size, settings.pad_id)
        state.best_loss = state.initial_loss
        state.best_adapter = adapter_state(model)
        state.history.append({"step": 0, "val_loss": round(state.initial_loss, 5)})
        note(f"step 0/{settings.total_steps}", val_loss=round(state.initial_loss, 4))

    started, first_step, tokens, recent = time.perf_counter(), state.step, 0, []
    model.train()
    while state.step < settings.total_steps and not state.stopped_early:
        batch = batch_at(state.step, train, settings.batch_size, settings.seed)
        inputs = collate(batch, settings.pad_id)
        loss = token_loss(model, inputs)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        state.step += 1
        tokens += int(inputs["attention_mask"].sum())
        recent.append(float(loss.detach()))
        measure = state.step % settings.eval_every == 0 or state.step == settings.total_steps
        if state.step % settings.log_every == 0 or measure:
            elapsed = time.perf_counter() - started
            per_step = elapsed / (state.step - first_step)
            metrics: dict[str, Any] = {
                "loss": round(sum(recent) / len(recent), 4),
                "tok_s": round(tokens / elapsed, 1),
                "eta_s": round(per_step * (settings.total_steps - state.step), 1),
            }
            entry: dict[str, Any] = {"step": state.step, "loss": metrics["loss"]}
            recent = []
            if measure:
                val = validation_loss(model, validation, settings.batch_size, settings.pad_id)
                metrics["val_loss"] = entry["val_loss"] = round(val, 5)
                if val < state.best_loss - MIN_DELTA:
                    state.best_loss, state.best_step, state.bad_evals = val, state.step, 0
                    state.best_adapter = adapter_state(model)
                else:
                    state.bad_evals += 1
                    state.stopped_early = state.bad_evals >= settings.patience
            state.history.append(entry)
            note(f"step {state.step}/{settings.total_steps}", **metrics)
            if measure:
                save_checkpoint(settings.checkpoint, settings.fingerprint, state, adapter_state(model), optimizer)
    return state, resumed
