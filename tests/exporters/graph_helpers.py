"""Helpers for the graph / quant tests: tiny real llama models and an IOBinding runner.

The tiny model is a real transformers ``LlamaForCausalLM`` built from a config
with random weights; the ONNX graph is checked against its own forward pass.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from edgekit.exporters.loaded_model import GGUFTensor, LoadedModel, ModelConfig, TokenizerAssets


def tiny_llama(
    tie: bool = True,
    seed: int = 0,
    vocab: int = 512,
    hidden: int = 64,
    layers: int = 2,
    heads: int = 4,
    kv_heads: int = 2,
    intermediate: int = 128,
):
    """A random tiny LlamaForCausalLM (float32, eval) and its LoadedModel."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=vocab,
        hidden_size=hidden,
        intermediate_size=intermediate,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=kv_heads,
        max_position_embeddings=256,
        rope_theta=10000.0,
        rms_norm_eps=1e-5,
        tie_word_embeddings=tie,
    )
    torch_model = LlamaForCausalLM(config).eval().float()
    # Random norms (the default init is all ones, which would hide a wrong norm weight).
    with torch.no_grad():
        for name, p in torch_model.named_parameters():
            if "norm" in name:
                p.copy_(1.0 + 0.1 * torch.randn_like(p))
    return torch_model, loaded_from_torch(torch_model, name=f"tiny-llama-{'tied' if tie else 'untied'}")


def loaded_from_torch(torch_model, name: str = "tiny", gguf_tensors: dict | None = None) -> LoadedModel:
    cfg = torch_model.config
    head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads
    tensors = {k: v.detach().float().numpy().copy() for k, v in torch_model.state_dict().items()}
    if cfg.tie_word_embeddings:
        tensors.pop("lm_head.weight", None)
    rope_theta = getattr(cfg, "rope_theta", None) or (getattr(cfg, "rope_parameters", None) or {}).get(
        "rope_theta", 10000.0
    )
    config = ModelConfig(
        architecture="llama",
        hidden_size=cfg.hidden_size,
        num_layers=cfg.num_hidden_layers,
        num_heads=cfg.num_attention_heads,
        num_kv_heads=cfg.num_key_value_heads,
        head_dim=head_dim,
        intermediate_size=cfg.intermediate_size,
        vocab_size=cfg.vocab_size,
        max_position_embeddings=cfg.max_position_embeddings,
        rope_theta=float(rope_theta),
        rms_norm_eps=cfg.rms_norm_eps,
        tie_word_embeddings=bool(cfg.tie_word_embeddings),
        hf_config=cfg.to_dict(),
    )
    tokenizer = TokenizerAssets(
        Path("tokenizer.json"), bos_id=None, add_bos=False, eos_ids=(0,), pad_id=None, chat_template=None
    )
    return LoadedModel(
        name=name, source="test", config=config, tensors=tensors, tokenizer=tokenizer, gguf_tensors=gguf_tensors
    )


def torch_logits(torch_model, ids: list[int]) -> np.ndarray:
    """[S, vocab] float32 logits of the whole sequence."""
    import torch

    with torch.no_grad():
        out = torch_model(torch.tensor([ids], dtype=torch.long))
    return out.logits[0].float().numpy()


class GraphRunner:
    """Runs an exported graph with one preallocated KV buffer bound as both past and present."""

    def __init__(self, folder: Path, max_context: int, threads: int = 1, share_buffer: bool = True):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(
            str(Path(folder) / "model.onnx"), options, providers=["CPUExecutionProvider"]
        )
        self.max_context = max_context
        self.share_buffer = share_buffer
        inputs = {i.name: i for i in self.session.get_inputs()}
        self.layers = sum(1 for n in inputs if n.startswith("past_key_values.") and n.endswith(".key"))
        shape = inputs["past_key_values.0.key"].shape
        self.kv_heads, self.head_dim = int(shape[1]), int(shape[3])
        self.reset()

    def reset(self) -> None:
        import onnxruntime as ort

        self.length = 0
        zeros = np.zeros((1, self.kv_heads, self.max_context, self.head_dim), np.float32)
        self.kv = {
            f"{kind}.{i}": ort.OrtValue.ortvalue_from_numpy(zeros.copy())
            for i in range(self.layers)
            for kind in ("key", "value")
        }

    def forward(self, tokens: list[int], logits_to_keep: int = 1) -> np.ndarray:
        """[logits_to_keep, vocab] logits; advances the cache by len(tokens)."""
        ids = np.array([tokens], dtype=np.int64)
        mask = np.ones((1, self.length + len(tokens)), dtype=np.int64)
        keep = np.array([logits_to_keep], dtype=np.int64)
        if not self.share_buffer:
            feeds = {"input_ids": ids, "attention_mask": mask, "logits_to_keep": keep}
            for i in range(self.layers):
                for kind in ("key", "value"):
                    feeds[f"past_key_values.{i}.{kind}"] = self.kv[f"{kind}.{i}"].numpy()
            names = ["logits"] + [f"present.{i}.{k}" for i in range(self.layers) for k in ("key", "value")]
            outs = self.session.run(names, feeds)
            import onnxruntime as ort

            for j, name in enumerate(names[1:], start=1):
                i, kind = name.split(".")[1], name.split(".")[2]
                self.kv[f"{kind}.{i}"] = ort.OrtValue.ortvalue_from_numpy(outs[j])
            self.length += len(tokens)
            return outs[0][0]
        binding = self.session.io_binding()
        binding.bind_cpu_input("input_ids", ids)
        binding.bind_cpu_input("attention_mask", mask)
        binding.bind_cpu_input("logits_to_keep", keep)
        binding.bind_output("logits", "cpu")
        for i in range(self.layers):
            for kind in ("key", "value"):
                value = self.kv[f"{kind}.{i}"]
                binding.bind_ortvalue_input(f"past_key_values.{i}.{kind}", value)
                binding.bind_ortvalue_output(f"present.{i}.{kind}", value)
        self.session.run_with_iobinding(binding)
        self.length += len(tokens)
        return binding.get_outputs()[0].numpy()[0]


def gguf_quantize(weight: np.ndarray, ggml_type: str, hf_name: str) -> GGUFTensor:
    """Quantize a float [N, K] weight with gguf-py (llama.cpp's reference quantizer) into raw blocks."""
    from gguf import GGMLQuantizationType
    from gguf.quants import quantize

    qtype = GGMLQuantizationType[ggml_type]
    raw = quantize(np.ascontiguousarray(weight, dtype=np.float32), qtype)
    return GGUFTensor(name=hf_name, gguf_name=hf_name, ggml_type=ggml_type, shape=tuple(weight.shape), raw=raw)


def gguf_dequantize(tensor: GGUFTensor) -> np.ndarray:
    """gguf-py's own dequantization (the reference the repack must match)."""
    from gguf import GGMLQuantizationType
    from gguf.quants import dequantize

    return dequantize(tensor.raw, GGMLQuantizationType[tensor.ggml_type]).reshape(tensor.shape)


def with_weights(torch_model, tensors: dict[str, np.ndarray]):
    """A deep copy of ``torch_model`` whose parameters are replaced by ``tensors`` (HF names)."""
    import copy

    import torch

    clone = copy.deepcopy(torch_model)
    state = clone.state_dict()
    for name, value in tensors.items():
        state[name] = torch.from_numpy(np.asarray(value, dtype=np.float32))
    if clone.config.tie_word_embeddings:
        state["lm_head.weight"] = state["model.embed_tokens.weight"]
    clone.load_state_dict(state)
    if clone.config.tie_word_embeddings:
        clone.tie_weights()
    return clone


def llama_cpp_permute(w: np.ndarray, n_head: int) -> np.ndarray:
    """llama.cpp convert_hf_to_gguf.py ``LlamaModel.permute`` (HF q/k rows → GGUF rows)."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def gguf_tiny(torch_model, layer_type: str = "Q4_1", embed_type: str = "Q8_0", mixed: bool = False):
    """The tiny model as a GGUF source would load: raw blocks in GGUF row order + float HF tensors.

    Mirrors llama.cpp's convert (q/k permuted) and transformers' loader (dequantize, reverse-permute).
    ``mixed`` quantizes v with Q8_0 so q/k/v cannot share one kernel.
    """
    base = loaded_from_torch(torch_model)
    cfg = base.config
    spec_heads = {"q_proj": cfg.num_heads, "k_proj": cfg.num_kv_heads}
    tensors = dict(base.tensors)
    gguf_tensors = {}
    for name, w in base.tensors.items():
        if w.ndim != 2:
            continue
        is_embed = name in ("model.embed_tokens.weight", "lm_head.weight")
        qtype = embed_type if is_embed else layer_type
        if mixed and "v_proj" in name:
            qtype = "Q8_0"
        heads = next((h for key, h in spec_heads.items() if key in name), None)
        stored = llama_cpp_permute(w, heads) if heads else w
        tensor = gguf_quantize(stored, qtype, name)
        gguf_tensors[name] = tensor
        deq = gguf_dequantize(tensor)
        if heads:  # transformers' reverse_permute
            deq = deq.reshape(heads, deq.shape[0] // heads // 2, 2, -1).swapaxes(1, 2).reshape(deq.shape)
        tensors[name] = deq.astype(np.float32)
    model = LoadedModel(
        name=base.name + "-gguf",
        source="tiny.gguf",
        config=cfg,
        tensors=tensors,
        tokenizer=base.tokenizer,
        gguf_tensors=gguf_tensors,
    )
    return with_weights(torch_model, tensors), model
