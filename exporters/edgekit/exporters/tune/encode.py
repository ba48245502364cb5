"""Conversations -> token ids and an assistant-only loss mask, rendered with the model's own chat template.

transformers' ``return_assistant_tokens_mask`` needs ``{% generation %}`` blocks in the template, and SmolLM2's
template (like most shipped ones) has none. So each assistant turn is located by rendering incrementally: the
text up to the turn with the generation prompt (``<|im_start|>assistant\\n`` for ChatML) and the text through
the turn; the characters between the two are the assistant's, template end-of-turn marker included, so the model
learns to stop. The whole conversation is tokenized once, and a token is trained on when it starts inside an
assistant span (tokenizer offsets). The template is the runtime's sandboxed renderer, the one that builds prompts
on the device, so training and inference see the same text.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from edgekit.runtime.chat import ChatTemplate

from .data import Conversation
from .errors import TuneDataError

__all__ = ["Encoded", "EncodedSet", "Encoder", "LONG_POLICIES"]

IGNORE = -100  # the label torch's cross_entropy skips (ignore_index)
LONG_POLICIES = ("truncate", "refuse")


@dataclass(frozen=True)
class Encoded:
    input_ids: tuple[int, ...]
    labels: tuple[int, ...]  # the token id where the loss applies, IGNORE elsewhere

    @property
    def trained_tokens(self) -> int:
        return sum(1 for label in self.labels if label != IGNORE)


@dataclass(frozen=True)
class EncodedSet:
    examples: tuple[Encoded, ...]
    truncated: int  # examples cut to max_length (their cut-off assistant tokens not trained)
    dropped: int  # examples with no assistant token left inside max_length after the cut

    @property
    def tokens(self) -> int:
        return sum(len(e.input_ids) for e in self.examples)


class Encoder:
    """Renders and tokenizes conversations for one model (tokenizer.json + chat template)."""

    def __init__(self, tokenizer_json: Path, chat_template: str | None, bos_id: int | None, add_bos: bool):
        from tokenizers import Tokenizer

        if not chat_template:
            raise TuneDataError(
                "the model has no chat template, so chat conversations cannot be rendered for it; "
                "tune an instruct model, or add chat_template to its tokenizer_config.json"
            )
        self.tokenizer = Tokenizer.from_file(str(tokenizer_json))
        self.bos_id = bos_id
        self.add_bos = add_bos
        bos = self.tokenizer.id_to_token(bos_id) if bos_id is not None else None
        self.template = ChatTemplate(chat_template, bos_token=bos)

    def spans(self, messages: Sequence[dict[str, str]]) -> tuple[str, list[tuple[int, int]]]:
        """The rendered conversation and the [start, end) character spans of its assistant turns."""
        full = self.template.render(messages, add_generation_prompt=False)
        spans = []
        for i, message in enumerate(messages):
            if message["role"] != "assistant":
                continue
            before = self.template.render(messages[:i], add_generation_prompt=True) if i else ""
            through = self.template.render(messages[: i + 1], add_generation_prompt=False)
            if not (through.startswith(before) and full.startswith(through)):
                raise TuneDataError(
                    "the chat template does not render a conversation as a growing prefix (a turn changes the "
                    "text before it), so the assistant turns cannot be located; this model's template is not "
                    "supported by edgekit tune"
                )
            spans.append((len(before), len(through)))
        return full, spans

    def encode(self, messages: Sequence[dict[str, str]]) -> Encoded:
        text, spans = self.spans(messages)
        encoding = self.tokenizer.encode(text, add_special_tokens=False)
        ids = list(encoding.ids)
        labels = [
            token if any(start <= begin < end for start, end in spans) else IGNORE
            for token, (begin, _) in zip(ids, encoding.offsets)
        ]
        if self.add_bos and self.bos_id is not None and (not ids or ids[0] != self.bos_id):
            ids.insert(0, self.bos_id)
            labels.insert(0, IGNORE)
        return Encoded(tuple(ids), tuple(labels))

    def encode_all(self, conversations: Sequence[Conversation], max_length: int, on_long: str) -> EncodedSet:
        """Encode every conversation; longer than ``max_length`` tokens: cut (``truncate``) or ``refuse``."""
        if on_long not in LONG_POLICIES:
            raise TuneDataError(f"unknown long-example policy {on_long!r}; choose {' or '.join(LONG_POLICIES)}")
        encoded = [self.encode(c.messages) for c in conversations]
        long = [(c, e) for c, e in zip(conversations, encoded) if len(e.input_ids) > max_length]
        if long and on_long == "refuse":
            longest = max(len(e.input_ids) for _, e in long)
            raise TuneDataError(
                f"{len(long)} of {len(encoded)} conversations are longer than the context of {max_length} tokens "
                f"(the longest {longest} tokens, first at {long[0][0].source}); refused: shorten them, raise "
                "--max-length, or pass --on-long truncate"
            )
        kept, truncated, dropped = [], 0, 0
        for example in encoded:
            if len(example.input_ids) > max_length:
                truncated += 1
                example = Encoded(example.input_ids[:max_length], example.labels[:max_length])
            if example.trained_tokens == 0:
                dropped += 1
                continue
            kept.append(example)
        if not kept:
            raise TuneDataError(
                f"no conversation has an assistant token within {max_length} tokens; raise --max-length"
            )
        return EncodedSet(tuple(kept), truncated, dropped)
