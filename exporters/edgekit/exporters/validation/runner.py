"""Run an exported bundle through the runtime's backend seam and score it (child process).

    python -m edgekit.exporters.validation.runner JOB.json RESULT.json

The job names the bundle, the token segments, a raw float32 file with the
reference's next-token log-probabilities (one row of ``vocab`` per compared
position, segments concatenated) and the golden prompt ids. The bundle runs
through ``get_backend(manifest.backend).open(...)`` and ``forward(window,
cache, logits_to_keep=len(window))``, so every target is validated the same
way. Reference rows are read from the file window by window (not mapped), so
the peak RSS reported is what the runtime itself needs. Only numpy,
onnxruntime (or the bundle's backend) and edgekit.runtime are imported here.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["run_job", "main"]


def _peak_rss_mib() -> float:
    """Peak RSS of this process so far (VmHWM on Linux, else ru_maxrss)."""
    status = Path("/proc/self/status")
    if status.is_file():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    scale = 1 if sys.platform == "darwin" else 1024  # ru_maxrss: KiB on Linux, bytes on macOS
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / (1024 * 1024)


def _greedy(backend: Any, prompt: list[int], max_new: int, eos_ids: set[int]) -> list[int]:
    cache = backend.new_cache()
    logits = backend.forward(np.asarray(prompt, dtype=np.int64), cache, logits_to_keep=1)
    out: list[int] = []
    for _ in range(max_new):
        token = int(np.argmax(logits[-1]))
        out.append(token)
        if token in eos_ids or cache.length >= backend.max_context:
            break
        logits = backend.forward(np.asarray([token], dtype=np.int64), cache, logits_to_keep=1)
    return out


def run_job(job: dict[str, Any]) -> dict[str, Any]:
    from edgekit.runtime.backends import BackendOptions, get_backend
    from edgekit.runtime.manifest import read_manifest

    from .metrics import PositionStats

    start = time.perf_counter()
    folder = Path(job["bundle"])
    manifest = read_manifest(folder)
    backend = get_backend(manifest.backend).open(folder, manifest, BackendOptions(threads=job.get("threads")))
    loaded = time.perf_counter()
    # Generation first (load + chat prompt prefill + greedy decode): its peak is the footprint of ordinary use,
    # measured before the 128-token scoring windows grow onnxruntime's arena.
    golden = _greedy(backend, job["golden_ids"], int(job["golden_max_new"]), set(job["eos_ids"]))
    generation_peak = _peak_rss_mib()
    generated = time.perf_counter()
    vocab = int(job["vocab"])
    window = int(job["window"])
    row_bytes = vocab * 4
    totals = PositionStats()
    per_segment = []
    from .metrics import compare_positions

    with open(job["reference"], "rb") as ref_file:
        for segment in job["segments"]:
            ids = np.asarray(segment, dtype=np.int64)
            cache = backend.new_cache()
            stats = PositionStats()
            for begin in range(0, len(ids), window):
                chunk = ids[begin : begin + window]
                logits = backend.forward(chunk, cache, logits_to_keep=len(chunk))
                if logits.shape != (len(chunk), vocab):
                    raise ValueError(f"backend returned logits of shape {logits.shape}, expected {(len(chunk), vocab)}")
                # positions begin..begin+len-1 predict tokens begin+1..; the segment's last position has no target
                usable = min(len(chunk), len(ids) - 1 - begin)
                if usable <= 0:
                    continue
                ref = np.frombuffer(ref_file.read(usable * row_bytes), dtype=np.float32).reshape(usable, vocab)
                stats.add(compare_positions(ref, logits[:usable], ids[begin + 1 : begin + 1 + usable]))
            totals.add(stats)
            per_segment.append(stats.summary())
            del cache
    scored = time.perf_counter()
    return {
        "summary": totals.summary(),
        "segments": per_segment,
        "golden_ids": golden,
        "peak_rss_mib": _peak_rss_mib(),
        "generation_peak_rss_mib": generation_peak,
        "seconds": {"load": loaded - start, "golden": generated - loaded, "score": scored - generated},
        "backend": manifest.backend,
    }


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    job = json.loads(Path(args[0]).read_text(encoding="utf-8"))
    result = run_job(job)
    Path(args[1]).write_text(json.dumps(result), encoding="utf-8")
    return 0


if __name__ == "__main__":  # pragma: no cover - exercised through quality.py's subprocess
    sys.exit(main())
