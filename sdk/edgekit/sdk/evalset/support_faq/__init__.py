"""The support FAQ example domain of ``edgekit tune``: a fictional product's questions and answers.

``train.jsonl`` (OpenAI chat fine-tuning format), ``held_out.jsonl`` (questions phrased differently from any
training one, with the key facts a right answer holds) and ``out_of_domain.jsonl`` (questions the FAQ does not
cover), all written by ``generate.py`` (seeded) from ``facts.py``.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["FOLDER", "TRAIN_PATH", "HELD_OUT_PATH", "OUT_OF_DOMAIN_PATH"]

FOLDER = Path(__file__).resolve().parent
TRAIN_PATH = FOLDER / "train.jsonl"
HELD_OUT_PATH = FOLDER / "held_out.jsonl"
OUT_OF_DOMAIN_PATH = FOLDER / "out_of_domain.jsonl"
