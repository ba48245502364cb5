"""The memory-bound limit of decode: bandwidth ÷ weight bytes read per decoded token.

Decoding one token of a small LM reads every weight the token passes through
once, so ``bandwidth / bytes_per_token`` bounds tok/s from above (the
roofline model, Williams et al., "Roofline", CACM 2009; its use for LLM decode:
"LLM Inference Unveiled", arXiv:2402.16363). Both halves are estimates:

- bandwidth: STREAM's "copy" kernel (McCalpin) done by numpy: ``np.copyto`` of
  a 512 MiB float64 array, split into one slice per thread (numpy releases the
  GIL while copying), bytes read + bytes written over wall time, best of 5.
- bytes per token: the weight tensors of the engine's model file, minus tensors
  that are only indexed by a Gather (a token embedding table that is not also
  the head: one row per token is read, not counted). ONNX graphs are read with
  ``onnx`` (initializer sizes, external data included), GGUF files with ``gguf``
  (tensor bytes; ``token_embd.weight`` is dropped only when a separate
  ``output.weight`` head exists); anything else counts its whole file.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

__all__ = ["Bandwidth", "WeightBytes", "measure_bandwidth", "weight_bytes_per_token", "BANDWIDTH_METHOD"]

BANDWIDTH_MIB = 512
BANDWIDTH_REPEATS = 5
BANDWIDTH_METHOD = (
    f"numpy copyto of a {BANDWIDTH_MIB} MiB float64 array, one slice per thread, (read + write bytes) / wall time, "
    f"best of {BANDWIDTH_REPEATS}"
)
GATHER_OPS = frozenset({"Gather", "GatherBlockQuantized"})


@dataclass(frozen=True)
class Bandwidth:
    bytes_per_s: float
    threads: int
    method: str = BANDWIDTH_METHOD

    @property
    def gib_per_s(self) -> float:
        return self.bytes_per_s / 2**30

    def to_dict(self) -> dict:
        return {**asdict(self), "gib_per_s": self.gib_per_s}


@dataclass(frozen=True)
class WeightBytes:
    bytes: int
    method: str  # how they were counted, for the report


def measure_bandwidth(threads: int = 1, mib: int = BANDWIDTH_MIB, repeats: int = BANDWIDTH_REPEATS) -> Bandwidth:
    src = np.ones(mib * 2**20 // 8, dtype=np.float64)
    dst = np.empty_like(src)
    np.copyto(dst, src)  # fault every page in before timing
    bounds = np.linspace(0, src.size, threads + 1, dtype=np.int64)
    slices = [slice(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:])]
    best = float("inf")
    for _ in range(repeats):
        workers = [threading.Thread(target=np.copyto, args=(dst[s], src[s])) for s in slices]
        started = time.perf_counter()
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        best = min(best, time.perf_counter() - started)
    return Bandwidth(2 * src.nbytes / best, threads)


def _onnx_bytes(path: Path) -> WeightBytes:
    import onnx
    from onnx import TensorProto, helper

    model = onnx.load(str(path), load_external_data=False)
    sizes: dict[str, int] = {}
    for init in model.graph.initializer:
        length = None
        if init.data_location == TensorProto.EXTERNAL:
            length = next((int(e.value) for e in init.external_data if e.key == "length"), None)
        elif init.raw_data:
            length = len(init.raw_data)
        if length is None:  # typed fields: count elements × element size
            count = int(np.prod(init.dims)) if init.dims else 1
            length = count * np.dtype(helper.tensor_dtype_to_np_dtype(init.data_type)).itemsize
        sizes[init.name] = length
    users: dict[str, set[str]] = defaultdict(set)
    for node in model.graph.node:
        for name in node.input:
            users[name].add(node.op_type)
    gathered = {n for n in sizes if users[n] and users[n] <= GATHER_OPS}
    skipped = sum(sizes[n] for n in gathered)
    return WeightBytes(
        sum(sizes.values()) - skipped,
        f"ONNX initializers of {path.name} minus {len(gathered)} Gather-only tensors ({skipped / 2**20:.1f} MiB)",
    )


def _gguf_bytes(path: Path) -> WeightBytes:
    from gguf import GGUFReader

    tensors = {t.name: int(t.n_bytes) for t in GGUFReader(str(path)).tensors}
    total = sum(tensors.values())
    if "output.weight" in tensors and "token_embd.weight" in tensors:
        skipped = tensors["token_embd.weight"]
        return WeightBytes(total - skipped, f"GGUF tensors of {path.name} minus token_embd ({skipped / 2**20:.1f} MiB)")
    return WeightBytes(total, f"GGUF tensors of {path.name} (embedding tied to the head: counted)")


def _model_file(path: Path) -> Path:
    """The model file inside a bundle or genai folder (its .onnx / .gguf / .pte)."""
    if path.is_file():
        return path
    for pattern in ("*.onnx", "*.gguf", "*.pte"):
        found = sorted(path.glob(pattern))
        if found:
            return found[0]
    raise FileNotFoundError(f"no .onnx, .gguf or .pte model file in {path}")


def weight_bytes_per_token(path: Path) -> WeightBytes:
    """Estimated weight bytes one decoded token reads from the model at ``path`` (see the module docstring)."""
    model = _model_file(Path(path))
    try:
        if model.suffix == ".onnx":
            return _onnx_bytes(model)
        if model.suffix == ".gguf":
            return _gguf_bytes(model)
    except ImportError:  # onnx / gguf come with the export extra
        pass
    data = [p for p in model.parent.glob(model.name + "*.data")] + [p for p in model.parent.glob("*.onnx.data")]
    total = model.stat().st_size + sum(p.stat().st_size for p in set(data))
    return WeightBytes(total, f"whole file size of {model.name} (+ external data)")
