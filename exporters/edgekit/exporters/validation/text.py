"""The text and the prompt every export is validated on (package data, no network)."""

from __future__ import annotations

from pathlib import Path

__all__ = ["VALIDATION_TEXT_FILE", "validation_text", "GOLDEN_PROMPT"]

VALIDATION_TEXT_FILE = Path(__file__).resolve().parent.parent / "data" / "validation_text.txt"

# The golden greedy check (karpathy/llama2.c test_all.py: one fixed prompt, the same answer on every backend).
GOLDEN_PROMPT = "What is the capital of France?"


def validation_text() -> str:
    return VALIDATION_TEXT_FILE.read_text(encoding="utf-8")
