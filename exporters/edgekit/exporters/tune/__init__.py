"""``edgekit tune``: LoRA adaptation of a small model to a domain, written as a merged Hugging Face folder.

``tune(TuneSpec(...), on_progress=...)`` reads OpenAI chat-format JSONL (``data.py``), renders it with the
model's chat template and masks the loss to assistant turns (``encode.py``), loads the model through the export
stack's sources (``model_load.py``), checks the memory it will need (``memory.py``), trains a peft LoRA adapter
with AdamW, early stopping and checkpoints (``trainer.py``, ``checkpoint.py``, ``batches.py``), and writes the
merged folder atomically (``output.py``). torch, transformers and peft load only inside ``tune``.
"""

from __future__ import annotations

from .data import Conversation, read_conversations, split_validation
from .errors import TuneDataError, TuneError, TuneMemoryError
from .run import TuneReport, load_data, tune
from .spec import RECORD_NAME, TuneRecord, TuneSpec

__all__ = [
    "Conversation",
    "RECORD_NAME",
    "TuneDataError",
    "TuneError",
    "TuneMemoryError",
    "TuneRecord",
    "TuneReport",
    "TuneSpec",
    "load_data",
    "read_conversations",
    "split_validation",
    "tune",
]
