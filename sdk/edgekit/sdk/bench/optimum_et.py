"""The ``optimum-executorch`` bench peer: Hugging Face's own recipe for the same model, in its own venv.

This peer compares an edgekit ExecuTorch bundle with optimum-executorch's
published LLM recipe (huggingface/transformers ``docs/source/en/executorch.md``
exports SmolLM2-135M-Instruct with ``optimum-cli export executorch --task
text-generation --recipe xnnpack --use_custom_sdpa --use_custom_kv_cache
--qlinear 8da4w --qembedding 8w``). To compare like with like, the linear and
embedding quantization follow the bundle's manifest (``OptimumRecipe``), and
their KV cache gets the bundle's max context.

optimum-executorch pins its own transformers/torchao, so it runs in a
separate interpreter (``--optimum-executorch-python``, made by
``scripts/setup-optimum-executorch.sh``). Steps, each cached under the bench
cache dir:

1. the bundle's source as a Hugging Face folder: an HF-folder source is used
   as is; a GGUF becomes ``hf-<sha256>`` (``peers.prepare_hf_folder``);
2. their export of that folder, in the side venv (``optimum_et_worker.py
   export``), into ``optimum-executorch-<sha256>-<recipe key>/`` with
   ``export.json`` (flags, wall time, peak RSS, versions) beside ``model.pte``;
   a second bench run reuses it and reports the first export's numbers;
3. the measurement (``worker.py`` engine ``optimum-executorch``) through their
   runtime class ``ExecuTorchModelForCausalLM``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgekit.runtime.errors import ExportError, UnsupportedError
from edgekit.runtime.manifest import Manifest, sha256_file

__all__ = ["OPTIMUM_PEER", "SETUP_HINT", "OptimumRecipe", "recipe_for", "PreparedExport", "prepare_optimum_export"]

OPTIMUM_PEER = "optimum-executorch"
SETUP_HINT = (
    "create one with scripts/setup-optimum-executorch.sh VENV_DIR "
    "and pass --optimum-executorch-python VENV_DIR/bin/python"
)
WORKER = Path(__file__).with_name("optimum_et_worker.py")
EXPORT_TIMEOUT_S = 3 * 3600.0  # the default model's XNNPACK lowering took 70 min on a loaded 2-core machine
# Their CLI's base recipe for decoder LLMs: XNNPACK delegate, ExecuTorch's fused llama::custom_sdpa and
# llama::update_cache ops (the same fused ops edgekit's exporter uses), dynamic sequence length (their default).
BASE_FLAGS = ("--recipe", "xnnpack", "--use_custom_sdpa", "--use_custom_kv_cache")
# optimum-executorch 1.1.0's text-generation task does not forward --qlinear_group_size (quantize_model_ uses its
# default 32), so only bundles with group size 32 compare like with like for 8da4w.
THEIR_GROUP_SIZE = 32


@dataclass(frozen=True)
class OptimumRecipe:
    """optimum-executorch's quantization options that match an edgekit ExecuTorch recipe."""

    qlinear: str | None  # "8da8w" | "8da4w" | None (float linears)
    qembedding: str | None  # "8w" | None (float embedding)
    max_seq_len: int  # their static KV cache length = the bundle's max context

    def flags(self) -> list[str]:
        flags = list(BASE_FLAGS)
        if self.qlinear:
            flags += ["--qlinear", self.qlinear]
        if self.qembedding:
            flags += ["--qembedding", self.qembedding]
        return flags + ["--max_seq_len", str(self.max_seq_len)]

    def key(self) -> str:
        return f"xnnpack-{self.qlinear or 'fp32'}-emb{self.qembedding or '32'}-ctx{self.max_seq_len}"


def recipe_for(manifest: Manifest) -> OptimumRecipe:
    """The optimum-executorch flags matching the bundle's quantization (``backend_config.quantization``)."""
    quant = manifest.backend_config.get("quantization") or {}
    name = quant.get("recipe", manifest.recipe.get("name", "?"))
    weight_bits, embedding_bits = quant.get("weight_bits"), quant.get("embedding_bits", 32)
    int8_activations = str(quant.get("activation", "")).startswith("int8")
    if weight_bits == 32:
        qlinear = None
    elif weight_bits in (8, 4) and int8_activations:
        qlinear = f"8da{weight_bits}w"
        if weight_bits == 4 and quant.get("group_size") not in (None, THEIR_GROUP_SIZE):
            raise UnsupportedError(
                f"bundle recipe {name!r} uses group size {quant.get('group_size')}; optimum-executorch 1.1.0 quantizes "
                f"8da4w in groups of {THEIR_GROUP_SIZE} only: export the bundle with group_size={THEIR_GROUP_SIZE} to "
                "compare"
            )
    else:
        raise UnsupportedError(
            f"bundle recipe {name!r} (weight_bits={weight_bits}, activation={quant.get('activation')!r}) has no "
            "optimum-executorch counterpart; compare an fp32, 8da8w or 8da4w ExecuTorch bundle"
        )
    if embedding_bits not in (8, 32):
        raise UnsupportedError(
            f"bundle recipe {name!r} has a {embedding_bits}-bit embedding; optimum-executorch "
            "compares only float or 8-bit (--qembedding 8w) embeddings here"
        )
    return OptimumRecipe(qlinear, "8w" if embedding_bits == 8 else None, manifest.max_context)


@dataclass(frozen=True)
class PreparedExport:
    folder: Path  # holds their model.pte and export.json
    record: dict[str, Any]  # export.json: command, flags, export_s, export_peak_rss_mib, pte_bytes, versions
    built_now: bool


def _sha256(paths: list[Path]) -> str:
    """sha256 of one file's bytes (a GGUF: the manifest's ``source_sha256``), or of a folder's named files."""
    if len(paths) == 1:
        return sha256_file(paths[0])
    digest = hashlib.sha256()
    for path in sorted(paths):
        digest.update(f"{path.name}:{sha256_file(path)}".encode())
    return digest.hexdigest()


def _hf_source(manifest: Manifest, cache_dir: Path, gguf: str | None) -> tuple[Path, str]:
    """(HF folder, sha256 of the source's bytes): the bundle's own HF folder, or one written from its GGUF."""
    from .peers import find_gguf, model_field, prepare_hf_folder

    source = Path(model_field(manifest, "source"))
    if not gguf and source.is_dir() and (source / "config.json").is_file():
        return source, _sha256([source / "config.json", *source.glob("*.safetensors")])
    path = find_gguf(manifest, gguf)
    digest = _sha256([path])
    return prepare_hf_folder(path, cache_dir / f"hf-{digest[:12]}"), digest


def prepare_optimum_export(manifest: Manifest, python: str, cache_dir: Path, gguf: str | None = None) -> PreparedExport:
    """Their ``.pte`` of the bundle's source model with the matching recipe (exported once, then reused)."""
    recipe = recipe_for(manifest)
    cache_dir = Path(cache_dir).resolve()  # export.json records absolute paths
    hf, digest = _hf_source(manifest, cache_dir, gguf)
    out = cache_dir / f"optimum-executorch-{digest[:12]}-{recipe.key()}"
    record_path = out / "export.json"
    if record_path.is_file() and (out / "model.pte").is_file():
        return PreparedExport(out, json.loads(record_path.read_text()), built_now=False)
    partial = out.with_name(out.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    job = {"model": str(hf), "output_dir": str(partial), "flags": recipe.flags()}
    record = _run_export(python, job)
    record.update(flags=recipe.flags(), source=str(hf), source_sha256=digest)
    # their runtime needs only model.pte; tokenizer.json lets ExecuTorch's C++ runner read the folder too
    if (hf / "tokenizer.json").is_file():
        shutil.copy(hf / "tokenizer.json", partial / "tokenizer.json")
    (partial / "export.json").write_text(json.dumps(record, indent=2))
    shutil.rmtree(out, ignore_errors=True)
    partial.rename(out)
    return PreparedExport(out, record, built_now=True)


def _run_export(python: str, job: dict) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(job, handle)
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}  # a local folder: their loader must not ask the hub
    try:
        proc = subprocess.run(
            [python, str(WORKER), "export", handle.name],
            capture_output=True,
            text=True,
            timeout=EXPORT_TIMEOUT_S,
            env=env,
        )
    except subprocess.TimeoutExpired:
        raise ExportError(f"optimum-executorch export of {job['model']} took over {EXPORT_TIMEOUT_S:.0f} s") from None
    finally:
        Path(handle.name).unlink(missing_ok=True)
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or [f"exit status {proc.returncode}"]
        raise ExportError(f"optimum-executorch export failed ({' '.join(job['flags'])}): {tail[0][:300]}")
    try:
        return json.loads(lines[-1])
    except json.JSONDecodeError:
        raise ExportError(f"optimum-executorch export printed no result line: {lines[-1][:200]!r}") from None
