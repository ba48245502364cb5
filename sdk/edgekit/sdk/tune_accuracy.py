"""The task metric of a tuned model: held-out accuracy before tuning, after tuning in float, after export.

An item is a JSONL line ``{"messages": [...], "keys": [[spelling, ...], ...]}`` (the support FAQ's
``held_out.jsonl``): the prompt is its messages up to the last user turn, and the answer is right when it holds
every key fact (``evalset.support_faq.check``). Float answers come from transformers (the export extra); bundle
answers from the runtime, greedy, like ``edgekit ask`` without the cloud.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from edgekit.runtime.errors import ConfigError

from .evalset.support_faq.check import has_key_facts

__all__ = ["AccuracyItem", "AccuracyResult", "read_items", "score", "bundle_accuracy", "float_accuracy"]

MAX_NEW_TOKENS = 48


@dataclass(frozen=True)
class AccuracyItem:
    id: str
    prompt: tuple[dict[str, str], ...]
    keys: tuple[tuple[str, ...], ...]


@dataclass
class AccuracyResult:
    label: str  # "before", "tuned float", "exported int8", ...
    accuracy: float
    right: int
    total: int
    answers: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def read_items(path: Path) -> list[AccuracyItem]:
    items = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            messages = [dict(m) for m in row["messages"]]
            keys = tuple(tuple(str(s) for s in key) for key in row["keys"])
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise ConfigError(
                f'{path}:{number}: not an accuracy item {{"messages": [...], "keys": [[...]]}} ({exc})'
            ) from None
        while messages and messages[-1].get("role") == "assistant":
            messages.pop()
        if not messages or not keys:
            raise ConfigError(f"{path}:{number}: an accuracy item needs a user turn and at least one key fact")
        items.append(AccuracyItem(str(row.get("id", number)), tuple(messages), keys))
    if not items:
        raise ConfigError(f"{path}: no accuracy items")
    return items


def score(label: str, items: Sequence[AccuracyItem], answers: Sequence[str]) -> AccuracyResult:
    right = sum(has_key_facts(answer, item.keys) for item, answer in zip(items, answers))
    return AccuracyResult(label, right / len(items), right, len(items), list(answers))


def bundle_accuracy(bundle: Path, items: Sequence[AccuracyItem], label: str) -> AccuracyResult:
    from edgekit.runtime import load

    with load(bundle) as model:
        answers = [
            model.generate(list(item.prompt), max_new_tokens=MAX_NEW_TOKENS, temperature=0.0).text for item in items
        ]
    return score(label, items, answers)


def float_accuracy(model_source: str, items: Sequence[AccuracyItem], label: str) -> AccuracyResult:
    """Greedy float answers of ``model_source`` (default | HF folder | .gguf), loaded like export loads it."""
    import tempfile

    from edgekit.exporters.tune.answers import greedy_answers
    from edgekit.exporters.tune.encode import Encoder
    from edgekit.exporters.tune.model_load import build_float_model, load_source

    with tempfile.TemporaryDirectory(prefix="edgekit-accuracy-") as work:
        loaded, _ = load_source(model_source, Path(work))
        assets = loaded.tokenizer
        encoder = Encoder(assets.tokenizer_json, assets.chat_template, assets.bos_id, assets.add_bos)
        model = build_float_model(loaded)
        model.config.use_cache = True
        del loaded
        answers = greedy_answers(model, encoder, [item.prompt for item in items], assets.eos_ids, MAX_NEW_TOKENS)
    return score(label, items, answers)
