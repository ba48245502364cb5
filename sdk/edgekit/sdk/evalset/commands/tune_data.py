"""The command set's training split as `edgekit tune` data: the model learns to call the phone assistant's tools.

Each line is a conversation rendered the way the runtime prompts a model whose template takes no tools (SmolLM2's):
the tools described in the system turn (runtime/tool_prompt.py), the utterance, and the answer the runtime's
grammar accepts: for a call, ``<tool_call>{"name": ..., "arguments": ...}</tool_call>`` (tool_grammar.call_text);
for a request no tool serves, a short plain refusal; for a chat question, the answer a bundle gives to it alone
(``chat_answers``: the untuned model's own words, so tuning on calls does not teach it to call for everything),
or the chat questions are left out. The tuned model is then prompted exactly as it was trained.

    python -m edgekit.sdk.evalset.commands.tune_data OUT.jsonl [--chat-answers BUNDLE] [--limit N]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from .. import _spread
from . import load_commands, load_tools

__all__ = ["NO_TOOL_REPLY", "tune_conversations", "main"]

# what a device that has no tool for a request says (the eval counts any plain answer as right for these)
NO_TOOL_REPLY = "Sorry, I can't do that on this device."


def tune_conversations(
    *,
    split: str = "train",
    tools: Sequence[dict[str, Any]] | None = None,
    chat_answer: Callable[[str], str] | None = None,
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """``{"messages": [...]}`` per item of ``split`` (``limit``: an evenly spread subset)."""
    from edgekit.runtime.tool_grammar import call_text
    from edgekit.runtime.tool_prompt import tools_section
    from edgekit.runtime.tools import parse_tools

    tools = list(tools) if tools is not None else load_tools()
    system = {"role": "system", "content": tools_section(parse_tools(tools))}
    out = []
    items = load_commands(split=split)
    for item in items if limit is None else _spread(items, limit):
        if item["kind"] == "call":
            reply = call_text(item["expected"]["name"], item["expected"]["arguments"])
        elif item["kind"] == "no_tool":
            reply = NO_TOOL_REPLY
        elif chat_answer is not None:
            reply = chat_answer(item["utterance"])
        else:
            continue
        user = {"role": "user", "content": item["utterance"]}
        out.append({"messages": [system, user, {"role": "assistant", "content": reply}]})
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--chat-answers", type=Path, default=None, help="bundle that answers the chat questions")
    parser.add_argument("--limit", type=int, default=None, help="an evenly spread subset of N items")
    parser.add_argument("--max-new-tokens", type=int, default=48)
    args = parser.parse_args(argv)
    model = None
    chat_answer = None
    if args.chat_answers is not None:
        from edgekit.runtime import load

        model = load(args.chat_answers)

        def chat_answer(question: str) -> str:
            messages = [{"role": "user", "content": question}]
            return model.generate(messages, max_new_tokens=args.max_new_tokens, temperature=0.0).text.strip()

    try:
        rows = tune_conversations(chat_answer=chat_answer, limit=args.limit)
    finally:
        if model is not None:
            model.close()
    args.out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    print(f"wrote {len(rows)} conversations to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
