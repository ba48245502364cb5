"""The onnxruntime-genai peer builds Gemma 3: its builder runs unchanged, fed the config names it reads."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.architectures.tiny_archs import TINY_ARCHS
from tests.fixtures.require import import_or_skip_or_fail


def test_legacy_rope_names_come_from_the_per_layer_type_settings():
    from edgekit.sdk.bench.genai_builder import _with_legacy_rope_names

    config = TINY_ARCHS["gemma3_text"]()
    assert "rope_type" not in config.rope_parameters  # transformers 5's per-layer-type form
    _with_legacy_rope_names(config)
    assert config.rope_parameters["rope_type"] == "linear" and config.rope_parameters["factor"] == 2.0
    assert config.rope_parameters["rope_theta"] == 1000000.0  # global: the full-attention layers'
    assert config.rope_local_base_freq == 10000.0  # local: the sliding layers'
    llama = TINY_ARCHS["llama"]()
    before = dict(llama.rope_parameters)
    _with_legacy_rope_names(llama)  # nothing per layer type: untouched
    assert llama.rope_parameters == before and not hasattr(llama, "rope_local_base_freq")


@pytest.mark.slow
def test_builder_writes_a_gemma3_graph_that_genai_runs(tiny_hf_folder, tmp_path):
    import_or_skip_or_fail("onnxruntime_genai", "the bench extra: pip install -e '.[bench]' (scripts/setup.sh)")
    import torch
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    hf = tmp_path / "hf"
    config = TINY_ARCHS["gemma3_text"]()
    config.sliding_window = 64  # wider than the bench job below asks for: genai must be given its window
    AutoModelForCausalLM.from_config(config).save_pretrained(hf)
    for name in ("tokenizer.json", "tokenizer_config.json"):  # any tokenizer: only ids are decoded here
        (hf / name).write_bytes((tiny_hf_folder / name).read_bytes())
    out = tmp_path / "genai"
    args = ["-i", str(hf), "-o", str(out), "-p", "int4", "-e", "cpu", "-c", str(tmp_path / "cache")]
    plain = subprocess.run(
        [sys.executable, "-m", "onnxruntime_genai.models.builder", *args], capture_output=True, text=True
    )
    assert plain.returncode != 0 and "rope_type" in plain.stderr  # what the bench's peer row said before
    built = subprocess.run(
        [sys.executable, "-m", "edgekit.sdk.bench.genai_builder", *args], capture_output=True, text=True
    )
    assert built.returncode == 0, built.stderr[-2000:]
    config = json.loads((out / "genai_config.json").read_text())
    assert config["model"]["type"] == "gemma3_text"
    # the bench's own genai worker on it: 4 prompt + 4 decoded tokens ask for less KV than the sliding window
    from edgekit.sdk.bench.engines import DEFAULT_VARIANT, worker_env
    from edgekit.sdk.bench.runner import _run_worker

    job = {"engine": "onnxruntime-genai", "mode": "speed", "model": str(out), "threads": 1}
    result = _run_worker(
        sys.executable,
        {**job, "prompt_ids": [1, 5, 9, 13], "decode_tokens": 4, "repeats": 1},
        worker_env(DEFAULT_VARIANT),
    )
    assert result["decode_tokens"] == 4 and result["decode_tok_s"] > 0
    segments = [[1, 5, 9, 13, 17, 21]]
    logits = _run_worker(
        sys.executable,
        {**job, "mode": "logits", "segments": segments, "out": str(tmp_path / "logits.npy")},
        worker_env(DEFAULT_VARIANT),
    )
    assert logits["vocab"] > 0 and (tmp_path / "logits.npy").stat().st_size > 0


def _round_trip(data: dict, text: str) -> str:
    from tokenizers import Tokenizer

    tok = Tokenizer.from_str(json.dumps(data))
    return tok.decode(tok.encode(text).ids)


def _trained(byte_level: bool) -> dict:
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

    corpus = ["the capital of France is Paris", "set a timer for five minutes", "wake me up at seven"] * 4
    if byte_level:  # as SmolLM2's GGUF-derived file: byte-level BPE
        tok = Tokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.Sequence([decoders.ByteLevel()])  # any decoder genai cannot read as is
        alphabet = pre_tokenizers.ByteLevel.alphabet()
    else:  # as Gemma 3's: spaces as "▁" through the normalizer, byte fallback, no pre-tokenizer
        tok = Tokenizer(models.BPE(byte_fallback=True))
        tok.normalizer = normalizers.Replace(" ", "\u2581")
        tok.decoder = decoders.Sequence([decoders.Replace("\u2581", " "), decoders.ByteFallback(), decoders.Fuse()])
        alphabet = []
    tok.train_from_iterator(
        corpus, trainer=trainers.BpeTrainer(vocab_size=120, initial_alphabet=alphabet, show_progress=False)
    )
    return json.loads(tok.to_str())


def test_genai_tokenizer_fix_only_touches_byte_level_tokenizers():
    from edgekit.sdk.bench.peers import genai_readable_tokenizer

    text = "set a timer for seven minutes"
    byte_level = _trained(byte_level=True)
    fixed = genai_readable_tokenizer(byte_level)
    assert fixed["decoder"] == {"type": "ByteLevel"}  # genai's form (the tokenizers library wants more fields)
    assert {k: v for k, v in fixed.items() if k != "decoder"} == {k: v for k, v in byte_level.items() if k != "decoder"}

    fallback = _trained(byte_level=False)
    kept = genai_readable_tokenizer(fallback)
    assert kept["decoder"] == fallback["decoder"] and _round_trip(kept, text) == text
    # what the unconditional rewrite did to it (a ByteLevel decoder, in the form the tokenizers library reads):
    # the text no longer decodes
    byte_level_decoder = {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True}
    assert _round_trip({**fallback, "decoder": byte_level_decoder}, text) != text
