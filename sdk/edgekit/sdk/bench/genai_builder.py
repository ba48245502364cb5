"""onnxruntime-genai's model builder, run with the config names it reads for Gemma 3.

    python -m edgekit.sdk.bench.genai_builder -i HF_FOLDER -o OUT -p int4 -e cpu   # the builder's own arguments

transformers 5 keeps Gemma 3's RoPE settings per layer type (``rope_parameters = {"full_attention": {...},
"sliding_attention": {...}}``) and no longer has ``rope_local_base_freq``; onnxruntime-genai 0.18's builder still
reads the flat ``rope_parameters["rope_type"]`` (builders/base.py ``make_rope_init``) and
``config.rope_local_base_freq`` (builders/gemma.py ``Gemma3Model``), so it stops with ``KeyError: 'rope_type'``.
This module gives the loaded config both names, with the values transformers read from the folder (global:
the full-attention layers' settings; local: the sliding layers' theta), then runs the builder unchanged: the
graph it writes is the builder's own. Other architectures pass through untouched. Runs in a subprocess (imports
torch).
"""

from __future__ import annotations

import runpy
import sys

__all__ = ["main"]


def _with_legacy_rope_names(config) -> None:
    rope = getattr(config, "rope_parameters", None)
    if not isinstance(rope, dict) or "full_attention" not in rope or "sliding_attention" not in rope:
        return
    for key, value in rope["full_attention"].items():
        rope.setdefault(key, value)
    object.__setattr__(config, "rope_local_base_freq", rope["sliding_attention"]["rope_theta"])


def main(argv: list[str]) -> None:
    from transformers import Gemma3TextConfig

    original = Gemma3TextConfig.__init__

    def __init__(self, *args, **kwargs):
        original(self, *args, **kwargs)
        _with_legacy_rope_names(self)

    Gemma3TextConfig.__init__ = __init__  # type: ignore[method-assign]
    sys.argv = ["onnxruntime_genai.models.builder", *argv]
    runpy.run_module("onnxruntime_genai.models.builder", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main(sys.argv[1:])
