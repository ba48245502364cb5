"""Write the support FAQ example domain (deterministic):

    python -m edgekit.sdk.evalset.support_faq.generate     # rewrites the three JSONL files next to this file

Training: ``PER_FACT`` conversations per fact, each a training phrasing with a seeded opener and closer
("Hi, ...", "... Thanks!"); one in ``MULTI_TURN_EVERY`` starts with a greeting exchange, so the loss mask sees
two assistant turns. Held out: each fact's held-out phrasings (never in training), with the key facts a right
answer contains. Out of domain: general questions the FAQ does not cover (``keys`` empty).
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
from pathlib import Path
from typing import Any

from . import FOLDER
from .facts import FACTS, GREETINGS, OUT_OF_DOMAIN

__all__ = ["SEED", "PER_FACT", "generate", "write"]

SEED = 20261203
PER_FACT = 20
MULTI_TURN_EVERY = 8
_OPENERS = ("", "Hi, ", "Quick question: ", "Hello! ", "Sorry to bother you, ")
_CLOSERS = ("", " Thanks!", " Thank you.")


def _lower_first(text: str) -> str:
    return text[0].lower() + text[1:] if text[:1].isupper() and not text.startswith("Larkspur") else text


def _question(opener: str, stem: str, closer: str) -> str:
    lower = opener.endswith((", ", ": "))
    return f"{opener}{_lower_first(stem) if lower else stem}{closer}"


def generate(seed: int = SEED) -> dict[str, list[dict[str, Any]]]:
    rng = random.Random(seed)
    train: list[dict[str, Any]] = []
    for fact in FACTS:
        combos = list(itertools.product(fact.train, _OPENERS, _CLOSERS))
        for stem, opener, closer in rng.sample(combos, PER_FACT):
            messages = [{"role": "user", "content": _question(opener, stem, closer)}]
            messages.append({"role": "assistant", "content": fact.answer})
            if rng.randrange(MULTI_TURN_EVERY) == 0:
                hello, reply = rng.choice(GREETINGS)
                messages = [{"role": "user", "content": hello}, {"role": "assistant", "content": reply}, *messages]
            train.append({"messages": messages})
    rng.shuffle(train)
    held = [
        {
            "id": f"{fact.id}-{i}",
            "messages": [{"role": "user", "content": question}, {"role": "assistant", "content": fact.answer}],
            "keys": [list(key) for key in fact.keys],
        }
        for fact in FACTS
        for i, question in enumerate(fact.held_out)
    ]
    ood = [
        {"id": f"ood-{i}", "messages": [{"role": "user", "content": question}], "keys": []}
        for i, question in enumerate(OUT_OF_DOMAIN)
    ]
    return {"train.jsonl": train, "held_out.jsonl": held, "out_of_domain.jsonl": ood}


def write(folder: Path = FOLDER, seed: int = SEED) -> list[Path]:
    paths = []
    for name, rows in generate(seed).items():
        path = folder / name
        path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
        paths.append(path)
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=FOLDER)
    args = parser.parse_args()
    for path in write(args.out):
        print(path)


if __name__ == "__main__":
    main()
