"""Read and check fine-tuning data in the OpenAI chat format: one ``{"messages": [...]}`` object per line.

Every problem names the file, the line and what is wrong (``TuneDataError``), so a user fixes the data without
reading a traceback. The rules are the OpenAI fine-tuning format's: roles ``system`` (first only), ``user`` and
``assistant``, alternating after the optional system message, starting with ``user``, with at least one assistant
turn; ``content`` a non-empty string. Lines that are blank are skipped (the format allows a trailing newline).
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import TuneDataError

__all__ = ["Conversation", "read_conversations", "split_validation", "data_sha256", "MIN_SPLIT_EXAMPLES"]

ROLES = ("system", "user", "assistant")
# The smallest training file a validation split is carved from: at least one validation example and
# MIN_SPLIT_EXAMPLES - 1 training examples, else early stopping would be driven by noise.
MIN_SPLIT_EXAMPLES = 10


@dataclass(frozen=True)
class Conversation:
    """One training example: its messages (plain dicts, role and content) and where it came from."""

    messages: tuple[dict[str, str], ...]
    source: str  # "file:line"


def _problem(where: str, what: str) -> TuneDataError:
    return TuneDataError(f"{where}: {what}")


def _check_messages(value: Any, where: str) -> tuple[dict[str, str], ...]:
    if not isinstance(value, dict):
        raise _problem(where, f'a line must be a JSON object {{"messages": [...]}}, got {type(value).__name__}')
    messages = value.get("messages")
    if not isinstance(messages, list) or not messages:
        raise _problem(where, 'no "messages" list (each line is {"messages": [{"role": ..., "content": ...}, ...]})')
    out: list[dict[str, str]] = []
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            raise _problem(where, f"messages[{i}] is not an object")
        role, content = message.get("role"), message.get("content")
        if role not in ROLES:
            raise _problem(where, f"messages[{i}] has role {role!r}; roles are {', '.join(ROLES)}")
        if not isinstance(content, str) or not content.strip():
            raise _problem(where, f"messages[{i}] ('{role}') has no non-empty 'content' string")
        out.append({"role": role, "content": content})
    turns = out[1:] if out[0]["role"] == "system" else out
    for i, message in enumerate(turns):
        expected = "user" if i % 2 == 0 else "assistant"
        if message["role"] != expected:
            index = i + (len(out) - len(turns))
            raise _problem(
                where,
                f"roles out of order: messages[{index}] is '{message['role']}' where '{expected}' belongs "
                "(an optional system message first, then user and assistant alternating, starting with user)",
            )
    if not any(m["role"] == "assistant" for m in out):
        raise _problem(where, "the conversation has no assistant turn: there is nothing to learn from it")
    return tuple(out)


def read_conversations(path: Path) -> list[Conversation]:
    """Every conversation of ``path``; the first bad line raises ``TuneDataError`` with its number."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise TuneDataError(f"{path}: cannot read the data file ({exc.strerror or exc})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise TuneDataError(f"{path}:{line}: not UTF-8 text (byte {exc.start}); save the file as UTF-8") from None
    conversations: list[Conversation] = []
    for number, row in enumerate(text.splitlines(), start=1):
        if not row.strip():
            continue
        where = f"{path}:{number}"
        try:
            value = json.loads(row)
        except json.JSONDecodeError as exc:
            raise _problem(where, f"malformed JSON ({exc.msg} at column {exc.colno})") from None
        conversations.append(Conversation(_check_messages(value, where), where))
    if not conversations:
        raise TuneDataError(f"{path}: no conversations (the file is empty)")
    return conversations


def split_validation(
    conversations: list[Conversation], share: float, seed: int
) -> tuple[list[Conversation], list[Conversation]]:
    """A seeded (train, validation) split holding ``share`` of the examples (at least one) out."""
    if len(conversations) < MIN_SPLIT_EXAMPLES:
        raise TuneDataError(
            f"only {len(conversations)} training conversations: too few to carve a validation split "
            f"(at least {MIN_SPLIT_EXAMPLES}); add examples or pass --eval FILE with held-out conversations"
        )
    order = list(range(len(conversations)))
    random.Random(seed).shuffle(order)
    n_val = max(1, round(len(conversations) * share))
    held = set(order[:n_val])
    train = [c for i, c in enumerate(conversations) if i not in held]
    val = [c for i, c in enumerate(conversations) if i in held]
    return train, val


def data_sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()
