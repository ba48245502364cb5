"""Greedy answers of a float transformers model to chat prompts, rendered like the device renders them.

Used to measure a tuned model before export (the task metric's "after tuning, float" column) and by the tests
that check tuning changed what the model says.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .encode import Encoder

__all__ = ["greedy_answers"]


def greedy_answers(
    model: Any,
    encoder: Encoder,
    prompts: Sequence[Sequence[dict[str, str]]],
    eos_ids: Sequence[int],
    max_new_tokens: int = 48,
    batch_size: int = 8,
) -> list[str]:
    """One greedy answer per prompt (messages ending with a user turn), special tokens removed.

    Prompts are generated ``batch_size`` at a time, left-padded (transformers derives positions from the
    attention mask): transformers' generate spends about 15 ms of Python per step and layer stack (measured on
    the tiny test model, 2-core x86_64), so one prompt at a time is dominated by overhead.
    """
    import torch

    was_training = model.training
    model.eval()
    encoded = []
    for messages in prompts:
        text = encoder.template.render(list(messages), add_generation_prompt=True)
        ids = encoder.tokenizer.encode(text, add_special_tokens=False).ids
        if encoder.add_bos and encoder.bos_id is not None and (not ids or ids[0] != encoder.bos_id):
            ids = [encoder.bos_id, *ids]
        encoded.append(ids)
    pad = eos_ids[0]
    answers = []
    with torch.no_grad():
        for start in range(0, len(encoded), batch_size):
            batch = encoded[start : start + batch_size]
            width = max(len(ids) for ids in batch)
            tokens = torch.tensor([[pad] * (width - len(ids)) + ids for ids in batch])
            mask = torch.tensor([[0] * (width - len(ids)) + [1] * len(ids) for ids in batch])
            generated = model.generate(
                tokens,
                attention_mask=mask,
                max_new_tokens=max_new_tokens,
                do_sample=False,
                eos_token_id=list(eos_ids),
                pad_token_id=pad,
            )
            for row in generated[:, width:].tolist():
                answers.append(encoder.tokenizer.decode(row, skip_special_tokens=True))
    if was_training:
        model.train()
    return answers
