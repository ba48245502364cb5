"""A real tiny llama bundle (random weights from a config) built by the exporters' build_onnx.

Used for golden tests against transformers until tests/fixtures' tiny_bundle
(pipeline engineer) is available; both paths build with the same build_onnx.
Needs the export extra (torch, transformers): tests skip without it.
"""

from __future__ import annotations

from pathlib import Path

from .toy_bundle import BOS, CHATML, VOCAB, write_tokenizer


def build_tiny_llama_bundle(folder: Path, recipe: str = "fp32", max_context: int = 128, seed: int = 0):
    """Return (bundle folder, torch model). Tokenizer: the toy byte-level one (vocab 259 = the model's)."""
    import sys

    from edgekit.exporters.onnx import build_onnx
    from edgekit.exporters.recipes import get_recipe
    from edgekit.runtime.manifest import ArchitectureInfo, GenerationDefaults, Manifest, TokenizerInfo, file_entry

    tests_dir = str(Path(__file__).resolve().parents[1])
    if tests_dir not in sys.path:
        sys.path.insert(0, tests_dir)
    import torch
    from exporters.graph_helpers import loaded_from_torch, tiny_llama  # the exporter tests' tiny model builder

    folder = Path(folder)
    torch_model, _ = tiny_llama(tie=True, seed=seed, vocab=VOCAB)
    # The default init (std 0.02) gives near-uniform logits and greedy runs that repeat one token;
    # larger weights give peaked, varied continuations, a sharper golden test.
    with torch.no_grad():
        for name, p in torch_model.named_parameters():
            if "norm" not in name:
                p.mul_(8.0)
    loaded = loaded_from_torch(torch_model, name="tiny-llama")
    result = build_onnx(loaded, get_recipe(recipe), folder, max_context=max_context)
    write_tokenizer(folder / "tokenizer.json")
    cfg = loaded.config
    manifest = Manifest(
        backend=result.backend,
        model={
            "name": f"tiny-llama-{recipe}",
            "source": "tests/runtime/tiny_llama.py",
            "architecture": "llama",
            "license": "Apache-2.0",
        },
        architecture=ArchitectureInfo(
            family="llama",
            hidden_size=cfg.hidden_size,
            num_layers=cfg.num_layers,
            num_heads=cfg.num_heads,
            num_kv_heads=cfg.num_kv_heads,
            head_dim=cfg.head_dim,
            vocab_size=cfg.vocab_size,
            intermediate_size=cfg.intermediate_size,
            max_position_embeddings=cfg.max_position_embeddings,
            rope_theta=cfg.rope_theta,
            rms_norm_eps=cfg.rms_norm_eps,
            tie_word_embeddings=cfg.tie_word_embeddings,
        ),
        files=[file_entry(folder, path, role) for path, role in result.files]
        + [file_entry(folder, "tokenizer.json", "tokenizer")],
        backend_config=result.backend_config,
        max_context=max_context,
        tokenizer=TokenizerInfo(file="tokenizer.json", bos_id=BOS, add_bos=True, eos_ids=()),
        chat_template=CHATML,
        generation_defaults=GenerationDefaults(max_new_tokens=32),
        recipe=get_recipe(recipe).to_dict(),
    )
    manifest.write(folder)
    return folder, torch_model
