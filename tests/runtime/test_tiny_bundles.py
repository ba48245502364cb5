"""The shared tiny bundles (tests/fixtures, exported by the real pipeline) through the runtime.

fp32: greedy tokens equal transformers on the same HF folder (the golden test on every run).
Every recipe: loads, streams the same text it returns, and reports confidence.
"""

from __future__ import annotations

import pytest

from tests.fixtures.require import import_or_skip_or_fail

torch = import_or_skip_or_fail("torch", "pip install -e '.[export]' (scripts/setup.sh installs it)")

from edgekit.runtime import load  # noqa: E402

MESSAGES = [{"role": "user", "content": "Tell me about the weather in Paris, café and crème brûlée."}]


def test_tiny_fp32_bundle_greedy_equals_transformers(tiny_bundle, tiny_hf_folder):
    from transformers import AutoModelForCausalLM

    model = load(tiny_bundle("fp32"))
    result = model.generate(MESSAGES, max_new_tokens=32)
    prompt = model.tokenizer.encode(model.render_chat(MESSAGES))
    reference = AutoModelForCausalLM.from_pretrained(tiny_hf_folder, dtype=torch.float32).eval()
    eos = list(model.tokenizer.eos_ids)
    with torch.no_grad():
        out = reference.generate(
            torch.tensor([prompt]), max_new_tokens=32, do_sample=False, eos_token_id=eos, pad_token_id=eos[0]
        )
    want = out[0, len(prompt) :].tolist()
    cut = next((i for i, t in enumerate(want) if t in eos), len(want))
    assert result.token_ids == want[:cut]
    assert result.text == model.tokenizer.decode(result.token_ids)


@pytest.mark.parametrize("recipe", ["fp32", "int8", "int4", "gguf", "gguf-fast"])
def test_every_tiny_recipe_runs_and_streams(tiny_bundle, recipe):
    model = load(tiny_bundle(recipe))
    pieces = list(model.stream(MESSAGES, max_new_tokens=24, temperature=0.9, top_p=0.95, seed=7))
    result = pieces[-1].result
    assert "".join(p.text for p in pieces) == result.text
    assert all("\ufffd" not in p.text for p in pieces[:-2])
    assert result.text == model.tokenizer.decode(result.token_ids) or result.finish_reason == "stop"
    assert result.confidence.n_tokens == len(result.token_ids) > 0
    again = model.generate(MESSAGES, max_new_tokens=24, temperature=0.9, top_p=0.95, seed=7)
    assert again.token_ids == result.token_ids
