"""Quality per engine, measured the same way for every engine: teacher-forced agreement and KL vs the float model.

The text is export validation's (``edgekit.exporters.validation.text``: the
shipped ``validation_text.txt``), encoded by the bundle's tokenizer exactly as
validation encodes it (``validate.encode_for_model``), cut to the first
``tokens`` ids and split into segments that each start from an empty cache.
The float reference is export validation's own reference pass
(``validate._reference_pass``: the source model dequantized to float in
torch/transformers, next-token log-probs of every position) run once in a
subprocess (``reference.py``, it imports torch) and cached under the bench
cache dir as an .npy keyed by the source file and the ids. Every engine's
worker returns its logits for the same ids and ``score`` compares them with
validation's metric function (``validation.metrics.compare_positions``).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from edgekit.runtime.errors import DependencyError, EdgekitError, SourceError
from edgekit.runtime.manifest import Manifest

__all__ = ["QualityText", "Quality", "quality_text", "reference_source", "reference_logprobs", "score", "targets"]

REFERENCE_TIMEOUT_S = 1800.0


@dataclass(frozen=True)
class QualityText:
    segments: list[list[int]]
    text_file: str
    tokens: int

    def to_dict(self) -> dict:
        return {"text": self.text_file, "tokens": self.tokens, "segments": len(self.segments)}


@dataclass(frozen=True)
class Quality:
    positions: int
    top1_agreement: float
    mean_kl: float

    def to_dict(self) -> dict:
        return asdict(self)


def quality_text(bundle: Path, manifest: Manifest, tokens: int, segment_tokens: int) -> QualityText:
    """The validation text's first ``tokens`` ids as the bundle's model sees them, in segments."""
    try:
        from edgekit.exporters.validation.quality import encode_for_model
        from edgekit.exporters.validation.text import VALIDATION_TEXT_FILE, validation_text
    except ImportError:
        raise DependencyError("bench quality columns (agreement, KL)", "export", "edgekit.exporters") from None
    from tokenizers import Tokenizer

    info = manifest.tokenizer
    tokenizer = Tokenizer.from_file(str(Path(bundle) / info.file))
    ids = encode_for_model(tokenizer, validation_text(), info.add_bos, info.bos_id)[:tokens]
    length = max(2, min(segment_tokens, manifest.max_context))
    segments = [ids[i : i + length] for i in range(0, len(ids), length)]
    segments = [s for s in segments if len(s) >= 2]
    return QualityText(segments, VALIDATION_TEXT_FILE.name, sum(map(len, segments)))


def reference_source(manifest: Manifest, gguf: str | None = None) -> str:
    """What the float reference is loaded from: ``--gguf``, the bundle's recorded source, or its built-in GGUF."""
    if gguf:
        return gguf
    from .peers import find_gguf, model_field

    source = model_field(manifest, "source")
    if source and Path(source).exists():
        return source

    return str(find_gguf(manifest))


def _source_key(source: str) -> str:
    path = Path(source)
    files = sorted(path.iterdir()) if path.is_dir() else [path]
    facts = [f"{f.resolve()}:{f.stat().st_size}:{int(f.stat().st_mtime)}" for f in files if f.is_file()]
    return hashlib.sha256("|".join(facts).encode()).hexdigest()


def reference_logprobs(source: str, text: QualityText, cache_dir: Path) -> Path:
    """The cached .npy of the float reference's next-token log-probs over ``text`` (computed once, in a subprocess)."""
    key = hashlib.sha256((_source_key(source) + json.dumps(text.segments)).encode()).hexdigest()[:16]
    out = Path(cache_dir) / f"reference-logprobs-{key}.npy"
    if out.is_file():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="edgekit-bench-ref-", dir=out.parent) as tmp:
        job = Path(tmp) / "job.json"
        partial = Path(tmp) / "reference.npy"
        job.write_text(json.dumps({"source": source, "segments": text.segments, "out": str(partial)}))
        try:
            proc = subprocess.run(
                [sys.executable, "-m", "edgekit.sdk.bench.reference", str(job)],
                capture_output=True,
                text=True,
                timeout=REFERENCE_TIMEOUT_S,
                env={**os.environ, "HF_HUB_OFFLINE": "1"},
            )
        except subprocess.TimeoutExpired:
            raise SourceError(f"the float reference of {source} took over {REFERENCE_TIMEOUT_S:.0f} s") from None
        if proc.returncode != 0 or not partial.is_file():
            lines = (proc.stderr or proc.stdout).strip().splitlines() or [f"exit status {proc.returncode}"]
            raise SourceError(f"computing the float reference from {source} failed: {lines[-1][:300]}")
        os.replace(partial, out)
    return out


def targets(segments: list[list[int]]) -> np.ndarray:
    """The true next token of every scored position (each segment's positions 0..n-2), segments concatenated."""
    return np.concatenate([np.asarray(s[1:], dtype=np.int64) for s in segments])


def score(reference: np.ndarray, logits: np.ndarray, segments: list[list[int]]) -> Quality:
    """Top-1 agreement and mean KL(reference || engine) of ``logits`` (rows as ``targets``) — one function for all.

    ``reference`` holds log-probs (validation's reference pass); ``logits`` are raw (any engine's output).
    """
    from edgekit.exporters.validation.metrics import compare_positions

    wanted = targets(segments)
    if logits.shape != reference.shape or len(wanted) != reference.shape[0]:
        raise EdgekitError(
            f"engine logits of shape {tuple(logits.shape)} do not match the reference {tuple(reference.shape)} "
            f"({len(wanted)} scored positions): the engine ran a different model or vocabulary"
        )
    summary = compare_positions(reference, logits, wanted).summary()
    return Quality(int(summary["positions"]), float(summary["top1_agreement"]), float(summary["mean_kl"]))
