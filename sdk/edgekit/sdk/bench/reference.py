"""The float reference's log-probs for the bench's quality columns (a subprocess: it imports torch).

    python -m edgekit.sdk.bench.reference JOB.json    # JOB: {source, segments, out}

Loads the source as export validation does (``edgekit.exporters.sources.resolve_source(...).load_reference()``:
the weights dequantized to float32 in a transformers model) and runs validation's own reference pass
(``validation.quality._reference_pass``), then stores the rows as a float32 .npy of shape [positions, vocab].
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import numpy as np


def main(argv: list[str]) -> int:
    from edgekit.exporters.sources import resolve_source
    from edgekit.exporters.validation.quality import _reference_pass

    job = json.loads(Path(argv[1]).read_text(encoding="utf-8"))
    segments = job["segments"]
    with tempfile.TemporaryDirectory(prefix="edgekit-bench-ref-") as tmp:
        model = resolve_source(job["source"], Path(tmp) / "work")
        assert model.load_reference is not None  # every source kind sets it (hf_folder, gguf_file)
        reference = model.load_reference()
        raw = Path(tmp) / "reference.f32"
        _reference_pass(reference, segments, raw)
        del reference
        positions = sum(len(s) - 1 for s in segments)
        flat = np.fromfile(raw, dtype=np.float32)
        if positions == 0 or flat.size % positions:
            raise ValueError(f"reference pass wrote {flat.size} floats for {positions} positions")
        np.save(job["out"], flat.reshape(positions, -1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
