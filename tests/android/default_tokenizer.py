"""The default model's tokenizer.json, made exactly as `edgekit export default` makes it, cached between runs.

Uses the export pipeline's own step (edgekit.exporters.sources.tokenizer_build.tokenizer_from_gguf) on the built-in
GGUF, so the vectors and the Java/web tests see the bundle's tokenizer without exporting the whole model (~7 s once,
then read from /work/main/.cache/android/, keyed by the GGUF's size and mtime).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CACHE = REPO / ".cache" / "android" / "tokenizer"


def default_gguf() -> Path:
    from edgekit.exporters.sources.builtin import BUILTIN_MODELS, DEFAULT_MODEL

    return BUILTIN_MODELS.get(DEFAULT_MODEL).path()


def default_tokenizer_json() -> Path:
    """Path of the cached tokenizer.json (plus assets.json with bos/eos/chat template beside it)."""
    gguf_path = default_gguf()
    stat = gguf_path.stat()
    folder = CACHE / f"{stat.st_size}-{int(stat.st_mtime)}"
    target = folder / "tokenizer.json"
    if target.is_file():
        return target
    from edgekit.exporters.sources.gguf_reader import open_gguf
    from edgekit.exporters.sources.tokenizer_build import tokenizer_from_gguf

    with tempfile.TemporaryDirectory() as tmp:
        assets = tokenizer_from_gguf(gguf_path, open_gguf(gguf_path), Path(tmp))
        folder.mkdir(parents=True, exist_ok=True)
        partial = folder / f".tokenizer.{os.getpid()}.json"
        shutil.copyfile(assets.tokenizer_json, partial)
        (folder / "assets.json").write_text(
            json.dumps(
                {
                    "bos_id": assets.bos_id,
                    "add_bos": assets.add_bos,
                    "eos_ids": list(assets.eos_ids),
                    "chat_template": assets.chat_template,
                }
            ),
            encoding="utf-8",
        )
        partial.replace(target)  # atomic: a concurrent test run never reads half a file
    return target
