"""Peer engines' model files, made from the bundle's source GGUF and cached.

- llama.cpp reads the GGUF itself (same file the bundle was exported from).
- onnxruntime-genai needs its own graph: an HF folder is written from the
  GGUF (the exporters' float reference, ``save_pretrained``) and its builder
  runs on it (``python -m onnxruntime_genai.models.builder -p int4 -e cpu``),
  then its config is fixed (measured on this GGUF): eos id from the GGUF (2, not the
  1 its tokenizer_config copy carries), a byte-level tokenizer's decoder a plain
  ``{"type": "ByteLevel"}`` (``genai_readable_tokenizer``), and the intra-op thread count set.
- optimum-executorch exports its own ``.pte`` from the same HF folder
  (``prepare_hf_folder``; see ``optimum_et.py``).
Preparation imports torch, so it runs in a subprocess (``python -m edgekit.sdk.bench.peers``).
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

from edgekit.runtime.errors import DependencyError, SourceError
from edgekit.runtime.manifest import Manifest

__all__ = [
    "model_field",
    "find_gguf",
    "prepare_genai_model",
    "set_genai_threads",
    "prepare_hf_folder",
    "write_hf_folder",
]


def model_field(manifest: Manifest, name: str) -> str:
    """A ``model`` section field ("name", "source") of a manifest whose section is typed or a plain dict."""
    section = manifest.model
    value = section.get(name) if isinstance(section, dict) else getattr(section, name, None)
    return str(value or "")


def find_gguf(manifest: Manifest, explicit: str | None = None) -> Path:
    """The GGUF the bundle came from (or ``explicit``): its recorded source file, or the built-in model it names."""
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise SourceError(f"--gguf {explicit!r} does not exist; pass the GGUF file the bundle was exported from")
        return path
    source = model_field(manifest, "source")
    if source.endswith(".gguf") and Path(source).is_file():
        return Path(source)
    try:
        from edgekit.exporters.sources.builtin import BUILTIN_MODELS, builtin_model, is_builtin_name
    except ImportError:
        raise DependencyError("finding the bundle model's GGUF", "export", "edgekit.exporters") from None
    name = model_field(manifest, "name")
    alias = source if is_builtin_name(source) else name if name in BUILTIN_MODELS else None
    if alias is None:
        raise SourceError(f"cannot find the GGUF of bundle model {name!r} (source {source!r}); pass --gguf FILE")
    return Path(builtin_model(alias).path())  # SourceError with the install command when absent


# bumped when what _build writes changes, so a cached folder from an older build is rebuilt
# (2: a byte-fallback tokenizer keeps its own decoder)
_BUILD_FORMAT = 2


def _key(gguf: Path) -> str:
    stat = gguf.stat()
    text = f"{gguf.resolve()}:{stat.st_size}:{int(stat.st_mtime)}:{_BUILD_FORMAT}"
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _is_byte_level(data: dict) -> bool:
    pre = data.get("pre_tokenizer") or {}
    parts = pre.get("pretokenizers", []) if pre.get("type") == "Sequence" else [pre]
    return any(isinstance(p, dict) and p.get("type") == "ByteLevel" for p in parts)


def genai_readable_tokenizer(data: dict) -> dict:
    """``tokenizer.json`` as onnxruntime-genai's tokenizer reads it.

    On the GGUF-derived SmolLM2 tokenizer (byte-level BPE) genai's tokenizer turns spaces into id -1 until the
    decoder is a plain ``{"type": "ByteLevel"}``. A byte-fallback tokenizer (Gemma 3: ``▁`` for spaces,
    ``<0xNN>`` tokens) keeps its own decoder, which a ByteLevel decoder would garble.
    """
    if not _is_byte_level(data):
        return data
    return {**data, "decoder": {"type": "ByteLevel"}}


def prepare_genai_model(gguf: Path, cache_dir: Path) -> Path:
    """Folder with the genai int4 graph for ``gguf`` (built once, then reused)."""
    out = cache_dir / f"genai-int4-{_key(gguf)}"
    if (out / "genai_config.json").is_file():
        return out
    proc = subprocess.run(
        [sys.executable, "-m", "edgekit.sdk.bench.peers", str(gguf), str(out)], capture_output=True, text=True
    )
    if proc.returncode != 0 or not (out / "genai_config.json").is_file():
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["(no output)"]
        raise SourceError(f"building the onnxruntime-genai model failed: {tail[0][:300]}")
    return out


def set_genai_threads(folder: Path, threads: int) -> None:
    path = folder / "genai_config.json"
    config = json.loads(path.read_text())
    session = config["model"]["decoder"].setdefault("session_options", {})
    session["intra_op_num_threads"] = threads
    session["inter_op_num_threads"] = 1
    path.write_text(json.dumps(config, indent=4))


def write_hf_folder(gguf: Path, hf: Path):  # runs in a subprocess: imports torch
    """A ``save_pretrained`` folder of the float model behind ``gguf`` (the exporters' float reference) + tokenizer.

    A model loaded with ``gguf_file=`` refuses ``save_pretrained`` ("quantized with gguf"), so the
    float reference edgekit validates against is saved instead (benchmarks/export_bench.py does the same).
    """
    import shutil
    import tempfile

    from edgekit.exporters.sources import resolve_source

    with tempfile.TemporaryDirectory() as tmp:
        model = resolve_source(str(gguf), Path(tmp) / "work")
        assert model.load_reference is not None  # every source kind sets it (hf_folder, gguf_file)
        model.load_reference().save_pretrained(hf)
        tok = model.tokenizer
        shutil.copy(tok.tokenizer_json, hf / "tokenizer.json")
    vocab = json.loads((hf / "tokenizer.json").read_text())
    names = {t["id"]: t["content"] for t in vocab.get("added_tokens", [])}
    eos = tok.eos_ids[0] if tok.eos_ids else None
    (hf / "tokenizer_config.json").write_text(
        json.dumps(
            {
                "tokenizer_class": "PreTrainedTokenizerFast",
                "bos_token": names.get(tok.bos_id),
                "eos_token": names.get(eos),
                "pad_token": names.get(tok.pad_id),
                "chat_template": tok.chat_template,
                "add_prefix_space": False,
            }
        )
    )
    return tok  # the source's tokenizer spec (eos ids, ...)


def prepare_hf_folder(gguf: Path, out: Path) -> Path:
    """``out`` holding the HF folder of ``gguf`` (written once in a subprocess, then reused)."""
    if (out / "config.json").is_file():
        return out
    partial = out.with_name(out.name + ".partial")
    if partial.exists():
        import shutil

        shutil.rmtree(partial)
    proc = subprocess.run(
        [sys.executable, "-m", "edgekit.sdk.bench.peers", "hf", str(gguf), str(partial)], capture_output=True, text=True
    )
    if proc.returncode != 0 or not (partial / "config.json").is_file():
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["(no output)"]
        raise SourceError(f"writing a Hugging Face folder from {gguf.name} failed: {tail[0][:300]}")
    partial.rename(out)
    return out


def _build(gguf: Path, out: Path) -> None:  # runs in the subprocess: imports torch
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        hf = Path(tmp) / "hf"
        tok = write_hf_folder(gguf, hf)
        eos = tok.eos_ids[0] if tok.eos_ids else None
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "edgekit.sdk.bench.genai_builder",  # the builder itself, fed the config names it reads
                "-i",
                str(hf),
                "-o",
                str(out),
                "-p",
                "int4",
                "-e",
                "cpu",
                "-c",
                str(Path(tmp) / "cache"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        if proc.returncode != 0:
            # The builder's own last words (e.g. an unsupported architecture) are what the bench row should say.
            lines = [line for line in proc.stderr.splitlines() if line.strip()] or ["(no output)"]
            raise SystemExit(f"onnxruntime-genai's builder failed (exit {proc.returncode}): {lines[-1].strip()}")
    config_path = out / "genai_config.json"
    config = json.loads(config_path.read_text())
    config["model"]["eos_token_id"] = list(tok.eos_ids) if len(tok.eos_ids) > 1 else eos
    config_path.write_text(json.dumps(config, indent=4))
    tok_path = out / "tokenizer.json"
    tok_path.write_text(json.dumps(genai_readable_tokenizer(json.loads(tok_path.read_text()))))


if __name__ == "__main__":
    if sys.argv[1] == "hf":  # python -m edgekit.sdk.bench.peers hf GGUF OUT
        write_hf_folder(Path(sys.argv[2]), Path(sys.argv[3]))
    else:
        _build(Path(sys.argv[1]), Path(sys.argv[2]))
