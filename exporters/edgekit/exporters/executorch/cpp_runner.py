"""Benchmark engine: ExecuTorch's own C++ text runner on an edgekit ``.pte`` (the ``executorch-runner`` peer).

``executorch.extension.llm.runner.TextLLMRunner`` (the ``_llm_runner`` binding)
loads the same ``model.pte`` and the bundle's ``tokenizer.json`` and does the
whole loop in C++: tokenize, one-call prefill (the program's dynamic sequence
length), greedy decode, reading the constant methods the exporter wrote
(``get_max_seq_len``, ``get_eos_ids``, ...). Comparing it with edgekit's
Python-driven loop on the same file isolates what Python costs per token.

Same job/result protocol as ``edgekit.sdk.bench.worker`` engines: the job has
``model`` (bundle folder), ``prompt_ids``, ``decode_tokens``, ``repeats``;
the result ``load_ms``, ``first_token_wall``, ``prefill_ms``,
``decode_tok_s``, ``decode_tokens``, ``tokens``. The runner takes text, not
ids: the prompt ids are decoded to text and the runner re-encodes them with
the same tokenizer (``prompt_tokens`` reports its count). Its clock has
millisecond resolution; decode is timed from the first token to the end.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

__all__ = ["run_cpp_runner"]


def run_cpp_runner(job: dict[str, Any]) -> dict[str, Any]:
    started = time.perf_counter()
    from edgekit.runtime.backends.executorch import import_executorch_runtime

    import_executorch_runtime("the executorch-runner benchmark")  # kernels + custom ops registered before loading
    from edgekit.runtime.manifest import read_manifest
    from executorch.extension.llm.runner import GenerationConfig, TextLLMRunner
    from tokenizers import Tokenizer

    folder = Path(job["model"])
    manifest = read_manifest(folder)
    tokenizer_path = folder / manifest.tokenizer.file
    prompt = Tokenizer.from_file(str(tokenizer_path)).decode(job["prompt_ids"], skip_special_tokens=False)
    runner = TextLLMRunner(str(folder / manifest.backend_config["program_file"]), str(tokenizer_path))

    def generate(max_new: int):
        stats: list[Any] = []
        pieces: list[str] = []
        runner.reset()
        config = GenerationConfig(echo=False, max_new_tokens=max_new, temperature=0.0)
        runner.generate(prompt, config, token_callback=pieces.append, stats_callback=stats.append)
        return stats[-1], "".join(pieces)

    first, _ = generate(1)  # loads the program (lazily, inside the runner) and gives the cold first token
    load_ms = (time.perf_counter() - started) * 1e3
    first_token_wall = time.time()
    prefills = [
        float(s.prompt_eval_end_ms - s.inference_start_ms) for s, _ in (generate(1) for _ in range(job["repeats"]))
    ]
    stats, text = generate(job["decode_tokens"])
    decode_ms = max(float(stats.inference_end_ms - stats.first_token_ms), 1.0)
    return {
        "load_ms": load_ms,
        "first_token_wall": first_token_wall,
        "prefill_ms": statistics.median(prefills),
        "decode_tokens": int(stats.num_generated_tokens),
        "decode_tok_s": (int(stats.num_generated_tokens) - 1) / (decode_ms / 1e3),
        "prompt_tokens": int(first.num_prompt_tokens),
        "text": text[:200],
        "tokens": [],
    }
