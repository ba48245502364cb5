"""Validate an exported bundle against the float reference (same weights) on real text.

Measures, teacher-forced over ``data/validation_text.txt`` (~3,000 tokens of
English prose): top-1 agreement, mean KL(reference || exported) of the
next-token distributions, and the perplexity of both; plus a golden greedy
check on a fixed chat prompt (reported, not gated: a near-tie first token
makes greedy text a weak signal: SmolLM2-135M's float logits for it are 25.33 vs 25.24).

The exported side runs in a child process through the runtime's backend seam
(``runner.py``), so validation is the same for every target and the
child's peak RSS is the runtime's memory need (``manifest.memory.peak_rss_mib``).
The reference side (torch) runs here and hands the child its log-probs in a
scratch file.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from edgekit.runtime.errors import ExportError, QualityGateError
from edgekit.runtime.progress import Steps

from ..loaded_model import LoadedModel
from .text import GOLDEN_PROMPT, VALIDATION_TEXT_FILE, validation_text

__all__ = [
    "DEFAULT_MIN_AGREEMENT",
    "ValidationSettings",
    "ValidationResult",
    "validate_bundle",
    "check_quality",
]

DEFAULT_MIN_AGREEMENT = 0.95  # --strict / --quant auto floor


@dataclass(frozen=True)
class ValidationSettings:
    """How validation runs. ``max_tokens`` limits the text (None: all of it)."""

    max_tokens: int | None = None
    segment_tokens: int = 512  # each segment starts from an empty cache (capped at max_context)
    window: int = 128  # tokens per forward() call inside a segment: exercises the cache path
    golden_prompt: str = GOLDEN_PROMPT
    golden_max_new_tokens: int = 24
    threads: int | None = None
    timeout_s: float = 900.0


@dataclass
class ValidationResult:
    tokens: int
    positions: int
    segments: int
    top1_agreement: float
    mean_kl: float
    max_kl: float
    perplexity_reference: float
    perplexity_exported: float
    perplexity_ratio: float
    golden: dict[str, Any]
    peak_rss_mib: float
    generation_peak_rss_mib: float
    seconds: float
    backend: str
    text: str = VALIDATION_TEXT_FILE.name
    min_agreement: float | None = None
    passed: bool | None = None  # None: no floor was asked for
    per_segment: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _segments(ids: list[int], length: int, minimum: int = 16) -> list[list[int]]:
    chunks = [ids[i : i + length] for i in range(0, len(ids), length)]
    return [c for c in chunks if len(c) >= minimum]


def chat_template_for(tokenizer: Any, chat_template: str | None, bos_id: int | None, eos_ids: Any) -> Any:
    """The compiled chat template with the tokenizer's bos/eos token strings, as the runtime renders it (or None)."""
    if not chat_template:
        return None
    from edgekit.runtime.chat import ChatTemplate

    bos = tokenizer.id_to_token(bos_id) if bos_id is not None else None
    eos = tokenizer.id_to_token(eos_ids[0]) if eos_ids else None
    return ChatTemplate(chat_template, bos_token=bos, eos_token=eos)


def encode_for_model(tokenizer: Any, text: str, add_bos: bool, bos_id: int | None) -> list[int]:
    """Token ids as the model sees ``text``: no special tokens added by the tokenizer, and the bos the model
    expects prepended unless the text (a rendered template) already starts with it."""
    ids = tokenizer.encode(text, add_special_tokens=False).ids
    if add_bos and bos_id is not None and ids[:1] != [bos_id]:
        ids = [bos_id] + ids
    return ids


def _reference_pass(model: Any, segments: list[list[int]], path: Path) -> None:
    """Write the reference's next-token log-probs (float32 rows, segment positions 0..n-2) to ``path``."""
    import torch

    with torch.inference_mode(), open(path, "wb") as out:
        for segment in segments:
            logits = model(torch.tensor([segment], dtype=torch.long), use_cache=False).logits[0, :-1].float()
            np.ascontiguousarray(torch.log_softmax(logits, dim=-1).numpy(), dtype=np.float32).tofile(out)


def _reference_greedy(
    model: Any, prompt_ids: list[int], max_new: int, eos_ids: set[int]
) -> tuple[list[int], list[np.ndarray]]:
    """Greedy decode by re-running the whole sequence each step: a few dozen short forwards, and
    no dependence on transformers' cache API (renamed across 5.x releases). Also returns each
    step's log-probs, so a divergence can be judged against the reference's own choice."""
    import torch

    out: list[int] = []
    steps: list[np.ndarray] = []
    with torch.inference_mode():
        for _ in range(max_new):
            logits = model(torch.tensor([prompt_ids + out], dtype=torch.long), use_cache=False, logits_to_keep=1).logits
            row = torch.log_softmax(logits[0, -1].float(), dim=-1)
            token = int(row.argmax())
            out.append(token)
            steps.append(row.numpy().copy())
            if token in eos_ids:
                break
    return out, steps


# A divergence where the float reference gives the exported token at least half the probability of
# its own choice is a near-tie: any quantization noise may flip it, and it says little about damage.
NEAR_TIE_PROB_RATIO = 0.5


def golden_divergence(
    reference_ids: list[int], exported_ids: list[int], reference_logprobs: list[np.ndarray], decode: Any
) -> dict[str, Any] | None:
    """Where the exported greedy text first leaves the reference's, and how close the reference's call was."""
    index = next((i for i, (a, b) in enumerate(zip(reference_ids, exported_ids)) if a != b), None)
    if index is None or index >= len(reference_logprobs):
        return None
    row = reference_logprobs[index]
    ref_token, exp_token = reference_ids[index], exported_ids[index]
    ref_p, exp_p = float(np.exp(row[ref_token])), float(np.exp(row[exp_token]))
    return {
        "index": index,
        "reference_token": decode([ref_token]),
        "exported_token": decode([exp_token]),
        "reference_prob": round(ref_p, 4),
        "exported_token_reference_prob": round(exp_p, 4),
        "near_tie": exp_p >= NEAR_TIE_PROB_RATIO * ref_p,
    }


def _float_reference(
    model: LoadedModel,
    segments: list[list[int]],
    prompt_ids: list[int],
    max_new: int,
    eos_ids: set[int],
    scratch: Path,
    steps: Steps | None,
) -> tuple[Path, list[int], list[np.ndarray]]:
    """The float model's log-probs over ``segments`` and its golden greedy answer.

    Kept in the source's work folder, keyed by exactly what was scored, so ``--quant auto`` computes them once for
    all its candidates (the default model's pass is ~15-30 s and a 600 MB file) instead of once per candidate.
    """
    key = hashlib.sha256(json.dumps([segments, prompt_ids, max_new, sorted(eos_ids)]).encode()).hexdigest()[:16]
    keep = Path(model.work_dir) / f"validation-reference-{key}" if model.work_dir is not None else None
    if keep is not None and (keep / "golden.json").is_file():
        golden = json.loads((keep / "golden.json").read_text(encoding="utf-8"))
        rows = list(np.load(keep / "golden_logprobs.npy"))
        if steps is not None:
            steps.note("validate", "float reference reused", tokens=sum(map(len, segments)))
        return keep / "reference.f32", golden, rows
    folder = keep if keep is not None else scratch
    folder.mkdir(parents=True, exist_ok=True)
    assert model.load_reference is not None  # validate_bundle raises ExportError before calling us otherwise
    reference = model.load_reference()
    started = time.perf_counter()
    _reference_pass(reference, segments, folder / "reference.f32")
    golden, rows = _reference_greedy(reference, prompt_ids, max_new, eos_ids)
    del reference
    np.save(folder / "golden_logprobs.npy", np.stack(rows).astype(np.float32))
    (folder / "golden.json").write_text(json.dumps(golden), encoding="utf-8")  # last: marks the entry complete
    if steps is not None:
        steps.note(
            "validate", "float reference", tokens=sum(map(len, segments)), ref_s=round(time.perf_counter() - started, 1)
        )
    return folder / "reference.f32", golden, rows


def _run_child(job: dict[str, Any], scratch: Path, timeout: float) -> dict[str, Any]:
    job_path, result_path = scratch / "job.json", scratch / "result.json"
    job_path.write_text(json.dumps(job), encoding="utf-8")
    env = dict(os.environ)
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "edgekit.exporters.validation.runner", str(job_path), str(result_path)],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
        )
    except subprocess.TimeoutExpired:
        raise ExportError(f"validation of the exported model did not finish within {timeout:.0f} s") from None
    if proc.returncode != 0:
        lines = [line for line in proc.stderr.strip().splitlines() if line.strip()]
        last = lines[-1] if lines else f"exit status {proc.returncode}"
        raise ExportError(f"the exported model failed to run in the edgekit runtime during validation: {last}")
    return json.loads(result_path.read_text(encoding="utf-8"))


def validate_bundle(
    folder: Path,
    model: LoadedModel,
    settings: ValidationSettings = ValidationSettings(),
    steps: Steps | None = None,
    min_agreement: float | None = None,
) -> ValidationResult:
    """Score the bundle in ``folder`` (written for ``model``) against ``model``'s float reference."""
    from edgekit.runtime.manifest import read_manifest
    from tokenizers import Tokenizer

    start = time.perf_counter()
    manifest = read_manifest(folder)
    tokenizer = Tokenizer.from_file(str(folder / manifest.tokenizer.file))
    info = manifest.tokenizer
    ids = encode_for_model(tokenizer, validation_text(), info.add_bos, info.bos_id)
    if settings.max_tokens is not None:
        ids = ids[: settings.max_tokens]
    segments = _segments(ids, min(settings.segment_tokens, manifest.max_context))
    if not segments:
        raise ExportError("validation text is too short for even one segment; raise max_tokens")

    template = chat_template_for(tokenizer, manifest.chat_template, info.bos_id, info.eos_ids)
    prompt = settings.golden_prompt
    if template is not None:
        prompt = template.render([{"role": "user", "content": prompt}])
    prompt_ids = encode_for_model(tokenizer, prompt, info.add_bos, info.bos_id)
    eos_ids = set(info.eos_ids)
    max_new = max(1, min(settings.golden_max_new_tokens, manifest.max_context - len(prompt_ids)))

    if model.load_reference is None:
        raise ExportError(f"model {model.name!r} has no float reference loader; validation needs one")
    with tempfile.TemporaryDirectory(prefix="edgekit-validate-") as scratch_name:
        scratch = Path(scratch_name)
        reference_file, golden_ref, golden_ref_logprobs = _float_reference(
            model, segments, prompt_ids, max_new, eos_ids, scratch, steps
        )
        job = {
            "bundle": str(folder),
            "segments": segments,
            "reference": str(reference_file),
            "vocab": manifest.architecture.vocab_size,
            "window": settings.window,
            "golden_ids": prompt_ids,
            "golden_max_new": max_new,
            "eos_ids": sorted(eos_ids),
            "threads": settings.threads,
        }
        child = _run_child(job, scratch, settings.timeout_s)

    golden_exp = child["golden_ids"]
    matching = 0
    for a, b in zip(golden_ref, golden_exp):
        if a != b:
            break
        matching += 1
    golden = {
        "prompt": settings.golden_prompt,
        "reference_text": tokenizer.decode(golden_ref, skip_special_tokens=True),
        "exported_text": tokenizer.decode(golden_exp, skip_special_tokens=True),
        "reference_ids": golden_ref,
        "exported_ids": golden_exp,
        "tokens_matching": matching,
        "tokens_compared": max(len(golden_ref), len(golden_exp)),
        "match": golden_ref == golden_exp,
        "divergence": golden_divergence(golden_ref, golden_exp, golden_ref_logprobs, tokenizer.decode),
    }
    summary = child["summary"]
    result = ValidationResult(
        tokens=sum(map(len, segments)),
        positions=summary["positions"],
        segments=len(segments),
        top1_agreement=summary["top1_agreement"],
        mean_kl=summary["mean_kl"],
        max_kl=summary["max_kl"],
        perplexity_reference=summary["perplexity_reference"],
        perplexity_exported=summary["perplexity_exported"],
        perplexity_ratio=summary["perplexity_ratio"],
        golden=golden,
        peak_rss_mib=round(float(child["peak_rss_mib"]), 1),
        generation_peak_rss_mib=round(float(child["generation_peak_rss_mib"]), 1),
        seconds=time.perf_counter() - start,
        backend=child["backend"],
        min_agreement=min_agreement,
        passed=None if min_agreement is None else summary["top1_agreement"] >= min_agreement,
        per_segment=child["segments"],
    )
    return result


def check_quality(result: ValidationResult, recipe: str) -> None:
    """Raise ``QualityGateError`` when a floor was asked for and missed."""
    if result.passed is False:
        raise QualityGateError(
            f"recipe {recipe!r} missed the quality floor: top-1 agreement {result.top1_agreement:.4f} < "
            f"{result.min_agreement:.4f} (mean KL {result.mean_kl:.4f}, perplexity {result.perplexity_exported:.2f} vs "
            f"{result.perplexity_reference:.2f} float); choose a wider recipe (int8, fp32, or gguf for a GGUF source), "
            "or lower --min-agreement"
        )
