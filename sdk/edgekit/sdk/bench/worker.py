"""One engine, one process: load, cold first token, warm prefill and decode, peak RSS → one JSON line.

Run as a script (``python worker.py JOB.json``) so it also works in a separate
interpreter (llama-cpp-python lives in its own venv, it compiles for ~15
minutes); only the standard library is imported at module level.

Protocol: the parent writes JOB.json {engine, model, threads, prompt_ids,
decode_tokens, repeats, t0} where t0 is time.time() just before it started
this process; every engine consumes the same prompt token ids. The last
stdout line is the JSON result.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import sys
import time


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


class Timer:
    def __init__(self):
        self.t = time.perf_counter()

    def ms(self) -> float:
        return (time.perf_counter() - self.t) * 1e3


def _peer_result(
    load_ms: float, first_token_wall: float, prefills: list[float], tokens: list[int], decode_ms: float
) -> dict:
    """A peer's measurements: the first token came from prefill, so decode speed counts the other len-1 tokens."""
    return {
        "load_ms": load_ms,
        "first_token_wall": first_token_wall,
        "prefill_ms": statistics.median(prefills),
        "decode_tokens": len(tokens),
        "decode_tok_s": (len(tokens) - 1) / (decode_ms / 1e3),
        "tokens": tokens[:16],
    }


def run_edgekit(job: dict) -> dict:
    import numpy as np

    t = Timer()
    from edgekit.runtime import load
    from edgekit.runtime.generation import DecodeRequest, run_generation
    from edgekit.runtime.sampler import Sampler, SamplingOptions

    model = load(job["model"], threads=job["threads"])
    load_ms = t.ms()
    ids = job["prompt_ids"]
    backend = model.backend

    def prefill(cache) -> float:
        timer = Timer()
        for begin in range(0, len(ids), model.prefill_chunk):
            logits = backend.forward(np.asarray(ids[begin : begin + model.prefill_chunk]), cache)
        int(np.argmax(logits[-1]))
        return timer.ms()

    cache = backend.new_cache()
    prefill(cache)  # the cold first token
    first_token_wall = time.time()
    prefills = []
    for _ in range(job["repeats"]):
        cache.reset()
        prefills.append(prefill(cache))
    # decode through the real generation loop (sampler + confidence + detokenizer), eos ignored
    request = DecodeRequest(prompt_ids=ids, max_new_tokens=job["decode_tokens"], eos_ids=frozenset())
    result = None
    for piece in run_generation(backend, backend.new_cache(), model.tokenizer, Sampler(SamplingOptions()), request):
        result = piece.result or result
    return {
        "load_ms": load_ms,
        "first_token_wall": first_token_wall,
        "prefill_ms": statistics.median(prefills),
        "decode_tokens": result.timings.generated_tokens,
        "decode_tok_s": result.timings.decode_tok_s,
        "tokens": result.token_ids[:16],
    }


def run_genai(job: dict) -> dict:
    t = Timer()
    import onnxruntime_genai as og

    model = og.Model(job["model"])
    load_ms = t.ms()
    ids = job["prompt_ids"]
    n = job["decode_tokens"]

    def generator():
        params = og.GeneratorParams(model)
        params.set_search_options(do_sample=False, max_length=len(ids) + n + 1, min_length=len(ids) + n + 1)
        return og.Generator(model, params)

    def prefill(gen) -> float:
        timer = Timer()
        gen.append_tokens(ids)
        gen.generate_next_token()  # samples from the prefill logits
        return timer.ms()

    prefill(generator())
    first_token_wall = time.time()
    prefills = [prefill(generator()) for _ in range(job["repeats"])]
    gen = generator()
    prefill(gen)
    tokens = [int(gen.get_next_tokens()[0])]
    timer = Timer()
    for _ in range(n - 1):
        gen.generate_next_token()
        tokens.append(int(gen.get_next_tokens()[0]))
    return _peer_result(load_ms, first_token_wall, prefills, tokens, timer.ms())


def run_llamacpp(job: dict) -> dict:
    t = Timer()
    import llama_cpp

    threads = job["threads"]
    llm = llama_cpp.Llama(
        model_path=job["model"],
        n_ctx=max(512, len(job["prompt_ids"]) + job["decode_tokens"] + 8),
        n_threads=threads,
        n_threads_batch=threads,
        n_batch=512,
        verbose=False,
    )
    load_ms = t.ms()
    ids = job["prompt_ids"]
    n = job["decode_tokens"]

    import numpy as np

    vocab = llm.n_vocab()

    def argmax_last() -> int:
        # llama-cpp-python 0.3.36: scores are filled only with logits_all; read the context's last logits (FINDINGS)
        return int(np.argmax(np.ctypeslib.as_array(llm._ctx.get_logits(), shape=(vocab,))))

    def prefill() -> tuple[float, int]:
        llm.reset()
        timer = Timer()
        llm.eval(ids)
        token = argmax_last()
        return timer.ms(), token

    prefill()
    first_token_wall = time.time()
    prefills = [prefill()[0] for _ in range(job["repeats"])]
    _, token = prefill()
    tokens = [token]
    timer = Timer()
    for _ in range(n - 1):
        llm.eval([token])
        token = argmax_last()
        tokens.append(token)
    return _peer_result(load_ms, first_token_wall, prefills, tokens, timer.ms())


def run_executorch_runner(job: dict) -> dict:
    """Issue 4 hook: ExecuTorch's C++ text runner on the bundle's .pte (engine lives with the target)."""
    from edgekit.exporters.executorch.cpp_runner import run_cpp_runner

    return run_cpp_runner(job)


def run_optimum_executorch(job: dict) -> dict:
    """Issue 4: optimum-executorch's runtime on their own .pte, in their venv (no edgekit there: a sibling script)."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from optimum_et_worker import run_optimum_executorch as run

    raw = run(job)
    row = _peer_result(raw["load_ms"], raw["first_token_wall"], raw["prefills"], raw["tokens"], raw["decode_ms"])
    return {**row, "versions": raw["versions"]}


ENGINES = {
    "edgekit": run_edgekit,
    "onnxruntime-genai": run_genai,
    "llama.cpp": run_llamacpp,
    "executorch-runner": run_executorch_runner,
    "optimum-executorch": run_optimum_executorch,
}


def main(argv: list[str]) -> int:
    with open(argv[1], encoding="utf-8") as handle:
        job = json.load(handle)
    out = ENGINES[job["engine"]](job)
    out["cold_start_ms"] = (out.pop("first_token_wall") - job["t0"]) * 1e3
    out["peak_rss_mib"] = _rss_mib()
    out["engine"] = job["engine"]
    out["pid"] = os.getpid()
    sys.stdout.write(json.dumps(out) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
