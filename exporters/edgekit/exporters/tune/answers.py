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
) -> list[str]:
    """One greedy answer per prompt (messages ending with a user turn), special tokens removed."""
    import torch

    was_training = model.training
    model.eval()
    answers = []
    with torch.no_grad():
        for messages in prompts:
            text = encoder.template.render(list(messages), add_generation_prompt=True)
            ids = encoder.tokenizer.encode(text, add_special_tokens=False).ids
            if encoder.add_bos and encoder.bos_id is not None and (not ids or ids[0] != encoder.bos_id):
                ids = [encoder.bos_id, *ids]
            tokens = torch.tensor([ids])
            generated = model.generate(
                tokens,
                attention_mask=torch.ones_like(tokens),
                max_new_tokens=max_new_tokens,
                do_sample=False,
                eos_token_id=list(eos_ids),
                pad_token_id=eos_ids[0],
            )
            answers.append(encoder.tokenizer.decode(generated[0, len(ids) :].tolist(), skip_special_tokens=True))
    if was_training:
        model.train()
    return answers
