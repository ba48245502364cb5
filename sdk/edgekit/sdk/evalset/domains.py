"""The question sets a domain policy is calibrated on: the domain's own questions and the ones beyond it.

A domain folder holds ``train.jsonl`` (OpenAI chat fine-tuning lines: the prompts up to each last user turn are
the in-domain questions the probe is fitted on), ``held_out.jsonl`` (in-domain questions phrased differently,
with their key facts: they test the policy and score the kept answers) and ``out_of_domain.jsonl`` (questions
the domain does not cover, written differently from the fitting ones: they test that the rest escalates). The
out-of-domain questions the probe is fitted on are the shipped escalation set's (general questions of six task
families), so the test's out-of-domain questions were never seen in fitting. Named domains are registered here;
any folder with the three files works too.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from edgekit.runtime.errors import ConfigError
from edgekit.runtime.registry import Registry

from ..tune_accuracy import AccuracyItem, read_items
from . import DEFAULT_PATH, load_items

__all__ = ["Prompt", "DomainSet", "DOMAINS", "domain_set", "read_prompts"]

Prompt = tuple[dict[str, str], ...]  # chat messages ending with the user turn to answer

TRAIN_FILE, HELD_OUT_FILE, OUT_OF_DOMAIN_FILE = "train.jsonl", "held_out.jsonl", "out_of_domain.jsonl"


@dataclass(frozen=True)
class DomainSet:
    name: str
    inside: tuple[Prompt, ...]  # fitting: in-domain questions (keep local)
    outside: tuple[Prompt, ...]  # fitting: out-of-domain questions (escalate)
    held_out: tuple[AccuracyItem, ...]  # test: in-domain, with key facts
    out_of_domain: tuple[Prompt, ...]  # test: out-of-domain, built differently from ``outside``


def read_prompts(path: Path) -> list[Prompt]:
    """The prompts of a chat JSONL file: each line's messages up to its last user turn."""
    prompts = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            messages = [{"role": str(m["role"]), "content": str(m["content"])} for m in json.loads(line)["messages"]]
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise ConfigError(
                f'{path}:{number}: not a chat line {{"messages": [{{"role", "content"}}...]}} ({exc})'
            ) from None
        while messages and messages[-1]["role"] != "user":
            messages.pop()
        if not messages:
            raise ConfigError(f"{path}:{number}: no user turn to answer")
        prompts.append(tuple(messages))
    if not prompts:
        raise ConfigError(f"{path}: no questions")
    return prompts


def _general_questions() -> list[Prompt]:
    return [({"role": "user", "content": item["question"]},) for item in load_items(DEFAULT_PATH)]


def _from_folder(name: str, folder: Path, fit_size: int, seed: int) -> DomainSet:
    missing = [f for f in (TRAIN_FILE, HELD_OUT_FILE, OUT_OF_DOMAIN_FILE) if not (folder / f).is_file()]
    if missing:
        raise ConfigError(
            f"domain folder {str(folder)!r} has no {', '.join(missing)}; a domain folder holds {TRAIN_FILE}, "
            f"{HELD_OUT_FILE} and {OUT_OF_DOMAIN_FILE}"
        )
    inside = read_prompts(folder / TRAIN_FILE)
    if len(inside) > fit_size:
        inside = random.Random(seed).sample(inside, fit_size)
    return DomainSet(
        name=name,
        inside=tuple(inside),
        outside=tuple(_general_questions()),
        held_out=tuple(read_items(folder / HELD_OUT_FILE)),
        out_of_domain=tuple(read_prompts(folder / OUT_OF_DOMAIN_FILE)),
    )


DOMAINS: Registry[Callable[[], Path]] = Registry("domain")


@DOMAINS.register("support_faq")
def _support_faq() -> Path:
    from .support_faq import FOLDER

    return FOLDER


def domain_set(name_or_folder: str, fit_size: int = 160, seed: int = 0) -> DomainSet:
    """A registered domain by name, or a folder with the three files. ``fit_size`` in-domain fitting questions are
    drawn (seeded) from train.jsonl."""
    if name_or_folder in DOMAINS:
        return _from_folder(name_or_folder, DOMAINS.get(name_or_folder)(), fit_size, seed)
    folder = Path(name_or_folder)
    if not folder.is_dir():
        raise ConfigError(
            f"--domain {name_or_folder!r} is neither a known domain ({', '.join(DOMAINS.names())}) nor a folder "
            f"holding {TRAIN_FILE}, {HELD_OUT_FILE} and {OUT_OF_DOMAIN_FILE}"
        )
    return _from_folder(folder.name, folder, fit_size, seed)
