"""Seeded batch order and right-padded tensors: epoch ``e`` visits the examples in the order of
``random.Random(seed + e)``, so step ``s`` always sees the same batch, whether or not the run was resumed."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from typing import Any

from .encode import IGNORE, Encoded

__all__ = ["steps_per_epoch", "batch_at", "collate", "eval_batches"]


def steps_per_epoch(n_examples: int, batch_size: int) -> int:
    return max(1, math.ceil(n_examples / batch_size))


def batch_at(step: int, examples: Sequence[Encoded], batch_size: int, seed: int) -> list[Encoded]:
    """The batch of optimizer step ``step`` (0-based)."""
    per_epoch = steps_per_epoch(len(examples), batch_size)
    epoch, index = divmod(step, per_epoch)
    order = list(range(len(examples)))
    random.Random(seed + epoch).shuffle(order)
    return [examples[i] for i in order[index * batch_size : (index + 1) * batch_size]]


def collate(batch: Sequence[Encoded], pad_id: int) -> dict[str, Any]:
    import torch

    width = max(len(e.input_ids) for e in batch)
    ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    labels = torch.full((len(batch), width), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    for row, example in enumerate(batch):
        n = len(example.input_ids)
        ids[row, :n] = torch.tensor(example.input_ids)
        labels[row, :n] = torch.tensor(example.labels)
        mask[row, :n] = 1
    return {"input_ids": ids, "labels": labels, "attention_mask": mask}


def eval_batches(examples: Sequence[Encoded], batch_size: int) -> list[list[Encoded]]:
    """Validation batches, longest first so similar lengths share a batch (less padding)."""
    ordered = sorted(examples, key=lambda e: -len(e.input_ids))
    return [list(ordered[i : i + batch_size]) for i in range(0, len(ordered), batch_size)]
