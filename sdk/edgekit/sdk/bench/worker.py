"""One engine, one process, one job → one JSON line on stdout.

Run as a script (``python worker.py JOB.json``) so it also works in a separate
interpreter (llama-cpp-python may live in its own venv, it compiles for ~15
minutes); only the standard library is imported at module level.

Protocol: the parent writes JOB.json {engine, mode, model, threads, options,
...}; every engine consumes the same token ids. Two modes:

- ``speed`` (prompt_ids, decode_tokens, repeats, t0): load, cold first token,
  warm prefill and decode, peak RSS. t0 is time.time() just before the parent
  started this process.
- ``logits`` (segments, out): teacher-forced next-token logits for every
  position of every segment but its last, segments concatenated, written to
  ``out`` as a float32 .npy; the parent scores them against the float
  reference with one function for every engine (quality.py).

The last stdout line is the JSON result; it also echoes the values of the
environment variables named in ``report_env`` as this process saw them.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import sys
import time


def _rss_mib() -> float:
    """This process's peak RSS: VmHWM of its own address space (Linux), else ``ru_maxrss``.

    Not ``ru_maxrss`` on Linux: it survives execve (getrusage(2)), so a worker started by vfork+exec from a
    parent would report the parent's peak instead of its own.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0  # kB
    except OSError:
        pass
    scale = 1024.0 * 1024.0 if sys.platform == "darwin" else 1024.0  # ru_maxrss: bytes on macOS, KiB on Linux
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / scale


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


def edgekit_decoder(model, job: dict, cache=None):
    """``decode(matcher=None) -> Result``: the job's prompt through the real generation loop (sampler + confidence +
    detokenizer), ``decode_tokens`` greedy tokens, eos ignored, on ``cache`` (default: a new one of ``model``)."""
    from edgekit.runtime.generation import DecodeRequest, run_generation
    from edgekit.runtime.sampler import Sampler, SamplingOptions

    cache = cache if cache is not None else model.backend.new_cache()
    request = DecodeRequest(prompt_ids=job["prompt_ids"], max_new_tokens=job["decode_tokens"], eos_ids=frozenset())

    def decode(matcher=None):
        result = None
        sampler = Sampler(SamplingOptions())
        cache.reset()  # the one cache, as a loaded model reuses its pool's: a new one per decode would count twice
        for piece in run_generation(model.backend, cache, model.tokenizer, sampler, request, matcher):
            result = piece.result or result
        assert result is not None  # the last piece carries the result
        return result

    return decode


def run_edgekit(job: dict) -> dict:
    import numpy as np

    t = Timer()
    from edgekit.runtime import load

    model = load(job["model"], threads=job["threads"], **job.get("options", {}))
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
    decode = edgekit_decoder(model, job, cache)  # the prefill's cache: one cache in the row's RSS
    result = decode()
    out = {
        "load_ms": load_ms,
        "first_token_wall": first_token_wall,
        "prefill_ms": statistics.median(prefills),
        "decode_tokens": result.timings.generated_tokens,
        "decode_tok_s": result.timings.decode_tok_s,
        "tokens": result.token_ids[:16],
        **_chosen(model),
    }
    if job.get("constraint"):
        out.update(_constrained(job, model, decode))
    if job.get("hidden_cost"):
        from edgekit.sdk.bench.hidden_cost import measure_hidden_cost

        out.update(measure_hidden_cost(job, model, decode))
    return out


def _constrained(job: dict, model, decode) -> dict:
    """Decode with and without the job's grammar, interleaved in this process: the ratio is the overhead."""
    from edgekit.sdk.bench.constrained import BENCH_CONSTRAINTS

    constraint = BENCH_CONSTRAINTS.get(job["constraint"]).constraint()
    t = Timer()
    model.grammar_vocabulary.matcher(constraint)  # llguidance's view of the vocabulary: built once per model
    vocabulary_ms = t.ms()
    eos = model.tokenizer.eos_ids
    free, held, results = [], [], []
    for _ in range(job["repeats"]):
        free.append(decode().timings.decode_tok_s)
        results.append(decode(_WithoutEos(model.grammar_vocabulary.matcher(constraint), eos)))
        held.append(results[-1].timings.decode_tok_s)
    last = results[-1]
    constrained_tok_s, free_tok_s = statistics.median(held), statistics.median(free)
    return {
        "decode_tok_s": constrained_tok_s,
        "decode_tokens": last.timings.generated_tokens,
        "tokens": last.token_ids[:16],
        "constrained": {
            "name": job["constraint"],
            "tok_s": constrained_tok_s,
            "unconstrained_tok_s": free_tok_s,
            "overhead": 1.0 - constrained_tok_s / free_tok_s,
            "vocabulary_ms": vocabulary_ms,
            "repeats": job["repeats"],
            "generated_tokens": last.timings.generated_tokens,
            "text": last.text[:80],
        },
    }


class _WithoutEos:
    """A grammar matcher that never offers eos while anything else fits: eos is ignored here as in the free run.

    llguidance allows eos wherever the grammar may end (after any complete item of a list), and consuming it ends
    the match; without this the constrained half could stop early and time fewer tokens than the free half.
    """

    def __init__(self, matcher, eos_ids):
        self._matcher = matcher
        self._eos = [i for i in eos_ids if 0 <= i < matcher.width]

    def allowed(self):
        mask = self._matcher.allowed()
        if self._eos:
            without = mask.copy()
            without[self._eos] = False
            if without.any():
                return without
        return mask

    def consume(self, token_id: int) -> None:
        self._matcher.consume(token_id)

    @property
    def finished(self) -> bool:
        return self._matcher.finished


def _chosen(model) -> dict:
    """What load() decided by itself (thread spinning when not forced), for the row's label."""
    spin = model.spinning
    if spin is None or spin.mode != "auto":
        return {}
    why = f"{spin.free_cpus} CPUs free" if spin.free_cpus is not None else "CPU counters unreadable"
    return {"chose": f"{spin.allow} ({why})"}


def streams_edgekit(job: dict) -> dict:
    """``streams`` concurrent generations of the prompt (as ``edgekit serve --parallel N`` runs them): wall time
    from the first prefill to the last token, each stream ``decode_tokens`` greedy tokens, eos ignored."""
    import threading

    from edgekit.runtime import load
    from edgekit.runtime.generation import DecodeRequest, run_generation
    from edgekit.runtime.sampler import Sampler, SamplingOptions

    streams = int(job["streams"])
    model = load(job["model"], threads=job["threads"], parallel=streams, **job.get("options", {}))
    backend = model.backend
    request = DecodeRequest(prompt_ids=job["prompt_ids"], max_new_tokens=job["decode_tokens"], eos_ids=frozenset())

    def one(out: list) -> None:
        cache = backend.new_cache()
        for piece in run_generation(backend, cache, model.tokenizer, Sampler(SamplingOptions()), request):
            if piece.result is not None:
                out.append(piece.result.timings.generated_tokens)
        cache.reset()  # a batcher's row goes back to it

    one([])  # warm-up: the first run of each shape plans its buffers
    walls = []
    generated = 0
    for _ in range(job["repeats"]):
        counts: list[int] = []
        threads = [threading.Thread(target=one, args=(counts,)) for _ in range(streams)]
        timer = Timer()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        walls.append(timer.ms())
        generated = sum(counts)
    wall = statistics.median(walls)
    calls = dict(getattr(backend, "calls", {}))
    decoded = sum(size * n for size, n in calls.items())
    return {
        "streams": streams,
        "wall_ms": wall,
        "generated_tokens": generated,
        "aggregate_tok_s": generated / (wall / 1e3),
        "batched": type(backend).__name__ == "DecodeBatcher",
        "batched_share": (sum(size * n for size, n in calls.items() if size > 1) / decoded) if decoded else 0.0,
    }


def _genai_max_length(job: dict, length: int) -> int:
    """The KV capacity to ask genai for: ``length``, or its sliding window where the model has one.

    genai sizes the KV cache to max_length and refuses one smaller than a sliding window ("KV cache capacity
    (133) must be at least local_window_size (512)" for Gemma 3); the timed loops count their tokens themselves.
    """
    with open(os.path.join(job["model"], "genai_config.json"), encoding="utf-8") as f:
        decoder = json.load(f)["model"]["decoder"]
    window = (decoder.get("sliding_window") or {}).get("window_size") or 0
    return max(length, int(window))


def run_genai(job: dict) -> dict:
    t = Timer()
    import onnxruntime_genai as og

    model = og.Model(job["model"])
    load_ms = t.ms()
    ids = job["prompt_ids"]
    n = job["decode_tokens"]

    def generator():
        params = og.GeneratorParams(model)
        length = len(ids) + n + 1
        params.set_search_options(do_sample=False, max_length=_genai_max_length(job, length), min_length=length)
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
        # llama-cpp-python 0.3.36: scores are filled only with logits_all; read the context's last logits
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
    out = _peer_result(load_ms, first_token_wall, prefills, tokens, timer.ms())
    # the CPU features this build of llama.cpp uses ("AVX2 = 1 | AMX_INT8 = 0 | ..."): builds differ per machine
    info = llama_cpp.llama_print_system_info()
    features = [f.split("=")[0].split(":")[-1].strip() for f in info.decode().split("|") if f.strip().endswith("= 1")]
    out["versions"] = {"llama-cpp-python": llama_cpp.__version__}
    out["build"] = " ".join(features)
    return out


def run_executorch_runner(job: dict) -> dict:
    """ExecuTorch's C++ text runner on the bundle's .pte (engine lives with the target)."""
    from edgekit.exporters.executorch.cpp_runner import run_cpp_runner

    return run_cpp_runner(job)


def run_optimum_executorch(job: dict) -> dict:
    """optimum-executorch's runtime on their own .pte, in their venv (no edgekit there: a sibling script)."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from optimum_et_worker import run_optimum_executorch as run

    raw = run(job)
    row = _peer_result(raw["load_ms"], raw["first_token_wall"], raw["prefills"], raw["tokens"], raw["decode_ms"])
    return {**row, "versions": raw["versions"]}


# --- teacher-forced logits (mode "logits") ---------------------------------------------------------------

EDGEKIT_WINDOW = 128  # tokens per forward() call, as export validation does (exercises the cache path)


def _logits_file(job: dict, vocab: int):
    """A float32 .npy of [positions, vocab] written row block by row block (a 262k vocab makes it ~0.5 GB)."""
    import numpy as np

    rows = sum(len(s) - 1 for s in job["segments"])
    return np.lib.format.open_memmap(job["out"], mode="w+", dtype=np.float32, shape=(rows, vocab))


def logits_edgekit(job: dict) -> dict:
    import numpy as np
    from edgekit.runtime import load

    model = load(job["model"], threads=job["threads"], **job.get("options", {}))
    backend = model.backend
    out = _logits_file(job, backend.vocab_size)
    row = 0
    for segment in job["segments"]:
        ids = np.asarray(segment, dtype=np.int64)
        cache = backend.new_cache()
        for begin in range(0, len(ids), EDGEKIT_WINDOW):
            chunk = ids[begin : begin + EDGEKIT_WINDOW]
            logits = backend.forward(chunk, cache, logits_to_keep=len(chunk))
            usable = min(len(chunk), len(ids) - 1 - begin)  # the segment's last position has no target
            if usable > 0:
                out[row : row + usable] = logits[:usable]
                row += usable
    out.flush()
    return {"rows": row, "vocab": int(backend.vocab_size)}


def logits_genai(job: dict) -> dict:
    import numpy as np
    import onnxruntime_genai as og

    model = og.Model(job["model"])

    def generator(length: int):
        params = og.GeneratorParams(model)
        params.set_search_options(do_sample=False, max_length=_genai_max_length(job, length + 1))
        return og.Generator(model, params)

    out, row, how = None, 0, "one call per segment"
    for segment in job["segments"]:
        gen = generator(len(segment))
        gen.append_tokens(segment)
        logits = np.asarray(gen.get_output("logits"), dtype=np.float32)[0]
        if logits.shape[0] != len(segment):  # a model that keeps only the last position: feed token by token
            how = "token by token"
            gen = generator(len(segment))
            rows = []
            for token in segment[:-1]:
                gen.append_tokens([token])
                rows.append(np.asarray(gen.get_output("logits"), dtype=np.float32)[0, -1])
            logits = np.stack(rows + [rows[-1]])
        if out is None:
            out = _logits_file(job, logits.shape[-1])
        out[row : row + len(segment) - 1] = logits[: len(segment) - 1]
        row += len(segment) - 1
    assert out is not None  # the parent sends at least one segment
    out.flush()
    return {"rows": row, "vocab": int(out.shape[1]), "how": how}


def logits_llamacpp(job: dict) -> dict:
    import llama_cpp
    import numpy as np

    longest = max(len(s) for s in job["segments"])
    threads = job["threads"]
    # llama-cpp-python 0.3.36 fills Llama.scores (one row per evaluated token) only with logits_all=True
    llm = llama_cpp.Llama(
        model_path=job["model"],
        n_ctx=max(512, longest + 8),
        n_batch=max(512, longest),
        n_threads=threads,
        n_threads_batch=threads,
        logits_all=True,
        verbose=False,
    )
    out = _logits_file(job, llm.n_vocab())
    row = 0
    for segment in job["segments"]:
        llm.reset()
        llm.eval(segment)
        out[row : row + len(segment) - 1] = np.asarray(llm.scores[: len(segment) - 1], dtype=np.float32)
        row += len(segment) - 1
    out.flush()
    return {"rows": row, "vocab": int(out.shape[1])}


# engine → mode → function
ENGINES = {
    "edgekit": {"speed": run_edgekit, "logits": logits_edgekit, "streams": streams_edgekit},
    "onnxruntime-genai": {"speed": run_genai, "logits": logits_genai},
    "llama.cpp": {"speed": run_llamacpp, "logits": logits_llamacpp},
    "executorch-runner": {"speed": run_executorch_runner},
    "optimum-executorch": {"speed": run_optimum_executorch},
}


def main(argv: list[str]) -> int:
    with open(argv[1], encoding="utf-8") as handle:
        job = json.load(handle)
    mode = job.get("mode", "speed")
    out = ENGINES[job["engine"]][mode](job)
    if mode == "speed":
        out["cold_start_ms"] = (out.pop("first_token_wall") - job["t0"]) * 1e3
    out["peak_rss_mib"] = _rss_mib()
    out["engine"] = job["engine"]
    out["pid"] = os.getpid()
    out["env"] = {name: os.environ.get(name) for name in job.get("report_env", [])}
    sys.stdout.write(json.dumps(out) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
