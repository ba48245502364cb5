"""What reading the hidden states costs decode speed: the escalation policy's probes read them.

The row's worker loads the bundle a second time with ``hidden_states=False`` (no hidden output bound, no answer
state summed) and decodes the same prompt with both models, interleaved (``repeats`` times each), so the overhead
is a same-process ratio, as the constrained rows' is (constrained.py). The probes themselves are one dot product
per decision (576 multiply-adds for the default model), outside the decode loop. Its RSS holds two models.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from typing import Any

__all__ = ["HIDDEN_COST_LABEL", "HIDDEN_COST_LIMIT", "measure_hidden_cost"]

HIDDEN_COST_LABEL = "hidden states read vs not (same worker; RSS of two models)"
# the most decode speed the hidden-state probes may cost (the escalation policy's target): 5%
HIDDEN_COST_LIMIT = 0.05


def measure_hidden_cost(job: dict, model: Any, decode: Callable[..., Any]) -> dict[str, Any]:
    """Decode with ``model`` (hidden states read) and with the bundle loaded without them, interleaved."""
    import numpy as np
    from edgekit.runtime import load
    from edgekit.sdk.bench.worker import edgekit_decoder

    blind = load(job["model"], threads=job["threads"], hidden_states=False, **job.get("options", {}))
    decode_blind = edgekit_decoder(blind, job)
    decode_blind()  # its cold first run, as decode() had one before this
    read, not_read = [], []
    last = blind_last = None
    for _ in range(job["repeats"]):
        last = decode()
        blind_last = decode_blind()
        read.append(last.timings.decode_tok_s)
        not_read.append(blind_last.timings.decode_tok_s)
    assert last is not None and blind_last is not None
    if last.answer_hidden_mean is None or blind_last.answer_hidden_mean is not None:
        raise RuntimeError("the bundle has no hidden-state output, so there is no cost to measure")
    on, off = statistics.median(read), statistics.median(not_read)
    return {
        "decode_tok_s": on,
        "hidden_cost": {
            "tok_s": on,
            "without_tok_s": off,
            "overhead": 1.0 - on / off,
            "repeats": job["repeats"],
            "generated_tokens": last.timings.generated_tokens,
            "same_tokens": list(last.token_ids) == list(blind_last.token_ids),
            "hidden_size": int(np.asarray(last.answer_hidden_mean).shape[-1]),
        },
    }
