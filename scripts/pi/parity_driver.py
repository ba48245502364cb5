#!/usr/bin/env python3
"""Decode fixed prompts from bundles and print what came out, as JSON, on any machine.

The same file runs on the x86 host and inside the emulated aarch64 Python, so the two
outputs differ only by the architecture (and the CPU model qemu emulates). Base install
only: edgekit.runtime, numpy, onnxruntime, tokenizers; never torch.

    python parity_driver.py CASES.json > RESULTS.json

CASES.json: ``[{"name": str, "bundle": path, "prompt": str | "messages": [...], "max_new_tokens": int,
"threads": int | null, "checks": ["greedy", "stream", "sample"]}, ...]``. For each case it
records the greedy token ids (eos never stops it early when ``max_new_tokens`` is short),
per-token logprob and entropy, the finish reason, whether streaming produced the same
text and tokens as ``generate``, and the token ids of a seeded sampled run (twice).
"""

from __future__ import annotations

import json
import platform
import sys
import time

SAMPLE = {"temperature": 0.8, "top_k": 40, "top_p": 0.95, "seed": 1234}


def run_case(case: dict) -> dict:
    from edgekit.runtime import load

    checks = set(case.get("checks", ["greedy", "stream", "sample"]))
    out: dict = {"name": case["name"]}
    t0 = time.monotonic()
    model = load(case["bundle"], threads=case.get("threads"))
    out["load_s"] = round(time.monotonic() - t0, 2)
    # "prompt" (raw text, chat=False: fewest prompt tokens, emulation is slow) or "messages" (chat-templated).
    prompt = case["prompt"] if "prompt" in case else case["messages"]
    chat = False if "prompt" in case else None
    n = int(case["max_new_tokens"])
    with model:
        t0 = time.monotonic()
        greedy = model.generate(prompt, max_new_tokens=n, temperature=0.0, chat=chat)
        out["greedy_s"] = round(time.monotonic() - t0, 2)
        out.update(
            prompt_tokens=greedy.prompt_tokens,
            token_ids=list(greedy.token_ids),
            text=greedy.text,
            finish_reason=str(getattr(greedy.finish_reason, "value", greedy.finish_reason)),
            logprobs=[t.logprob for t in greedy.tokens],
            entropies=[t.entropy for t in greedy.tokens],
            mean_logprob=greedy.confidence.mean_logprob,
        )
        if "stream" in checks:
            pieces = list(model.stream(prompt, max_new_tokens=n, temperature=0.0, chat=chat))
            final = pieces[-1].result
            streamed = "".join(p.text for p in pieces)
            out["stream_matches_generate"] = (
                final is not None and streamed == greedy.text and list(final.token_ids) == list(greedy.token_ids)
            )
        if "sample" in checks:
            sampled = model.generate(prompt, max_new_tokens=n, chat=chat, **SAMPLE)
            again = model.generate(prompt, max_new_tokens=n, chat=chat, **SAMPLE)
            out["sampled_ids"] = list(sampled.token_ids)
            out["sampled_ids_repeat"] = list(again.token_ids)
    return out


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    with open(argv[0], encoding="utf-8") as handle:
        cases = json.load(handle)
    import onnxruntime

    results = {
        "machine": platform.machine(),
        "python": platform.python_version(),
        "onnxruntime": onnxruntime.__version__,
    }
    try:
        from edgekit.runtime.device import cpu_info

        results["cpu_features"] = list(cpu_info().features)
    except ImportError:
        results["cpu_features"] = None
    results["cases"] = [run_case(case) for case in cases]
    results["torch_imported"] = "torch" in sys.modules
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
