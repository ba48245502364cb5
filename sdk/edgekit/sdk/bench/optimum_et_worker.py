"""optimum-executorch's side of the ``optimum-executorch`` bench peer; runs in its own interpreter.

optimum-executorch pins transformers/torchao versions of its own, so it lives
in a separate venv (``scripts/setup-optimum-executorch.sh``). This file is run
by that venv's python and therefore imports only the standard library at
module level and nothing from edgekit (the side venv does not have it).

Two jobs, same JSON-in / last-stdout-line-JSON-out protocol as ``worker.py``:

- ``python optimum_et_worker.py export JOB.json``: their published recipe
  through their own CLI entry point, in this process so the wall time and
  ``ru_maxrss`` are the export's alone. JOB: ``model`` (HF folder),
  ``output_dir``, ``flags`` (the ``optimum-cli export executorch`` options).
- ``run_optimum_executorch(job)``: the bench engine, called by ``worker.py``
  (``ENGINES["optimum-executorch"]``). Their runtime class
  ``ExecuTorchModelForCausalLM`` loads their ``.pte``; its ``generate(prompt_tokens,
  max_seq_len=...)`` is their Python loop (one-call prefill with the dynamic
  sequence length, then one forward per token, argmax) and takes token ids, so
  it gets the same prompt ids as every engine. eos is ignored by giving the
  instance an empty ``eos_token_ids``; decode is timed from the end of the
  prefill forward (an instance-level wrapper of their ``forward`` records the
  moment) to the end of ``generate``.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from pathlib import Path


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


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in ("optimum-executorch", "optimum", "executorch", "torch", "torchao", "transformers"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "absent"
    return out


def export(job: dict) -> dict:
    """``optimum-cli export executorch --model HF --task text-generation <flags> --output_dir OUT``, in-process."""
    started = time.perf_counter()
    from optimum.commands.optimum_cli import main as optimum_cli

    argv = [
        "optimum-cli",
        "export",
        "executorch",
        "--model",
        job["model"],
        "--task",
        "text-generation",
        *job["flags"],
        "--output_dir",
        job["output_dir"],
    ]
    saved, sys.argv = sys.argv, argv
    try:
        optimum_cli()
    finally:
        sys.argv = saved
    pte = Path(job["output_dir"]) / "model.pte"
    return {
        "command": " ".join(argv),
        "export_s": time.perf_counter() - started,
        "export_peak_rss_mib": _rss_mib(),
        "pte_bytes": pte.stat().st_size,
        "versions": _versions(),
    }


def _set_threads(threads: int) -> None:
    # Same thread count as the other engines; ExecuTorch's pool may only be resized before a program loads
    # (edgekit.runtime.backends.executorch._set_threads measured the segfault otherwise).
    from executorch.extension.pybindings import portable_lib

    if portable_lib._threadpool_get_thread_count() != threads:
        portable_lib._unsafe_reset_threadpool(threads)


def run_optimum_executorch(job: dict) -> dict:
    started = time.perf_counter()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a local folder: never ask the hub
    _set_threads(job["threads"])
    from optimum.executorch import ExecuTorchModelForCausalLM

    model = ExecuTorchModelForCausalLM.from_pretrained(job["model"])
    load_ms = (time.perf_counter() - started) * 1e3
    ids = [int(i) for i in job["prompt_ids"]]
    n = job["decode_tokens"]
    model.eos_token_ids = []  # eos ignored, like every engine in the bench

    marks: list[float] = []
    their_forward = model.forward

    def timed_forward(*args, **kwargs):
        out = their_forward(*args, **kwargs)
        marks.append(time.perf_counter())
        return out

    model.forward = timed_forward  # instance attribute: their generate() calls self.forward

    def generate(new_tokens: int) -> tuple[list[int], float]:
        marks.clear()
        t0 = time.perf_counter()
        tokens = model.generate(prompt_tokens=ids, max_seq_len=len(ids) + new_tokens)
        return tokens, t0

    tokens, t0 = generate(1)  # the cold first token
    first_token_wall = time.time()
    prefills = []
    for _ in range(job["repeats"]):
        _, t0 = generate(1)
        prefills.append((time.perf_counter() - t0) * 1e3)
    tokens, t0 = generate(n)
    end = time.perf_counter()
    if len(tokens) != n:
        raise RuntimeError(
            f"optimum-executorch generated {len(tokens)} tokens, expected {n} "
            f"(their cache holds {model.max_cache_size} positions)"
        )
    decode_ms = (end - marks[0]) * 1e3  # marks[0]: the prefill forward returned; the rest is n-1 decode steps
    # Raw measurements: worker.py turns them into the row every peer reports (_peer_result).
    return {
        "load_ms": load_ms,
        "first_token_wall": first_token_wall,
        "prefills": prefills,
        "tokens": tokens,
        "decode_ms": decode_ms,
        "versions": _versions(),
    }


def main(argv: list[str]) -> int:
    if len(argv) != 3 or argv[1] != "export":
        sys.stderr.write("usage: optimum_et_worker.py export JOB.json\n")
        return 2
    with open(argv[2], encoding="utf-8") as handle:
        job = json.load(handle)
    out = export(job)
    sys.stdout.write(json.dumps(out) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
