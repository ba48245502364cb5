"""The fused ONNX decoder graph, built directly with onnx.helper and numpy.

Why build it ourselves instead of driving onnxruntime-genai's builder:
- exact GGUF repack needs control over every initializer (Q4_1's correction
  term, row permutation of q/k blocks, one Q8_0 tensor shared by embedding and
  head); the genai builder re-quantizes from float (measured on SmolLM2-135M: top-1
  agreement 0.69–0.75 for its int4 graph vs 0.97 for the exact repack);
- the genai builder needs transformers-5-only internals and torch at build
  time and is a 5,500-line base class with per-architecture ``if`` chains; a
  spec class per family (``architectures/``) is all this builder asks for.

The graph follows the genai builder's fused shape, which is what makes it
fast (measured on SmolLM2-135M, 2 threads: an unfused optimum export of the same
weights decodes at about half the speed):

    input_ids ─ Gather / GatherBlockQuantized (shared with the head when tied)
    per layer:  SimplifiedLayerNormalization | SkipSimplifiedLayerNormalization (RMSNorm + residual)
                → one MatMulNBits for q|k|v → GroupQueryAttention (do_rotary=1, cos/sin caches,
                  past/present one shared [batch, kv_heads, max_context, head_dim] buffer)
                → o_proj → SkipSimplifiedLayerNormalization
                → one MatMulNBits for gate|up → Split → SiLU·up → down_proj
    final SkipSimplifiedLayerNormalization → Slice(last logits_to_keep) → LM head → logits
                                                                       └─→ last_hidden (same tensor)

GroupQueryAttention's mask inputs use the genai builder's scheme
(``make_attention_mask_reformatting_for_gqa``): seqlens_k =
ReduceSum(attention_mask) - 1 as int32, total_sequence_length =
Shape(attention_mask)[1] as int32.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from edgekit.runtime.errors import ConfigError, UnsupportedError
from edgekit.runtime.manifest import CacheSpec, OnnxGraphSpec
from edgekit.runtime.progress import OnProgress, Steps
from onnx import TensorProto

from ..architectures import ArchitectureSpec, LayerAttention, spec_for
from ..loaded_model import GGUFTensor, LoadedModel, ModelConfig
from ..quant import (
    REPACKABLE_TYPES,
    QuantizedMatrix,
    TensorError,
    quantize_weight,
    repack_error,
    repack_gguf,
    summarize_errors,
    tensor_error,
)
from ..quant.offset_zero_points import zero_point_form
from ..recipes import FLOAT_BITS, OffsetForm, QuantMethod, QuantRecipe
from ..target_registry import TargetResult
from .graph import MS_DOMAIN, GraphWriter

__all__ = ["build_onnx", "MODEL_FILE", "DATA_FILE", "LAST_HIDDEN", "PROFILES", "FLOAT_GGUF_TYPES"]

MODEL_FILE = "model.onnx"
BATCH = "batch_size"  # the graph's symbolic batch dimension (the runtime's batched decode reads it)
DATA_FILE = "model.onnx.data"
LAST_HIDDEN = "last_hidden"  # output: the final normed hidden state of the kept positions (the LM head's input)
PROFILES = ("cpu", "web")  # "web": web_profile.py (float activations, what onnxruntime-web computes)
# GGUF tensor types kept as float32 by the gguf recipe (fp16/bf16 → fp32 is exact).
FLOAT_GGUF_TYPES = frozenset({"F32", "F16", "BF16"})
# One MatMulNBits for gate|up plus a Split measured no slower than two MatMulNBits (the genai
# builder's layout) on SmolLM2 (CPU ms/token 11.5 vs 12.1, within noise); a switch for profiling.
FUSE_GATE_UP = True
# Top-k logits recomputed with float activations when the head runs on int8 activations
# (_DecoderBuilder.refine_top_k); 0 turns it off.
HEAD_REFINE_TOP_K = 8


@dataclass
class _Part:
    """One weight as the graph stores it: float [N, K] or block-quantized."""

    name: str
    float_weight: np.ndarray | None = None
    quantized: QuantizedMatrix | None = None

    @property
    def n(self) -> int:
        if self.quantized is not None:
            return self.quantized.n
        assert self.float_weight is not None  # a part holds one of the two (see linear_parts)
        return int(self.float_weight.shape[0])


class _DecoderBuilder:
    def __init__(
        self,
        model: LoadedModel,
        recipe: QuantRecipe,
        spec: ArchitectureSpec,
        writer: GraphWriter,
        max_context: int,
        steps: Steps,
    ):
        self.model = model
        self.cfg = model.config
        self.recipe = recipe
        self.spec = spec
        self.g = writer
        self.max_context = max_context
        self.steps = steps
        self.errors: list[TensorError] = []
        self.repack_max_error = 0.0
        self.gguf_tensors_used = 0
        self._rope: dict[tuple, tuple[str, str]] = {}
        self.cache = CacheSpec(
            num_layers=self.cfg.num_layers, num_kv_heads=self.cfg.num_kv_heads, head_dim=self.cfg.head_dim
        )

    # -- weights ----------------------------------------------------------------
    def _record(self, name: str, kind: str, reference: np.ndarray, part: _Part) -> None:
        if part.quantized is None:
            return
        self.errors.append(tensor_error(name, kind, reference, part.quantized.dequantize(), part.quantized.nbytes()))

    def _gguf_part(
        self, name: str, tensor: GGUFTensor | None, reference: np.ndarray, offsets_in_zero_points: bool = False
    ) -> _Part:
        """The gguf recipe: repack quantized blocks exactly, keep float types float. ``offsets_in_zero_points``:
        a type with block offsets takes the 8-bit zero-point form instead (quant/offset_zero_points.py)."""
        if tensor is None or tensor.ggml_type in FLOAT_GGUF_TYPES:
            return _Part(name, float_weight=reference)
        if tensor.ggml_type not in REPACKABLE_TYPES:  # supports() refuses these before we get here
            raise UnsupportedError(
                f"GGUF tensor {tensor.gguf_name} is {tensor.ggml_type}; only {sorted(REPACKABLE_TYPES)} repack exactly"
            )
        qm = (zero_point_form(tensor) if offsets_in_zero_points else None) or repack_gguf(tensor)
        self.repack_max_error = max(self.repack_max_error, repack_error(tensor, qm))
        self.gguf_tensors_used += 1
        part = _Part(name, quantized=qm)
        self._record(name, f"gguf:{tensor.ggml_type}", reference, part)
        return part

    def _quantized_part(self, name: str, weight: np.ndarray, bits: int) -> _Part:
        if bits == FLOAT_BITS:
            return _Part(name, float_weight=weight)
        qm = quantize_weight(weight, bits, self.recipe.group_size, self.recipe.symmetric, self.recipe.method)
        part = _Part(name, quantized=qm)
        self._record(name, f"q{bits}:{self.recipe.method}", weight, part)
        return part

    def linear_parts(self, layer: int, roles: tuple[str, ...]) -> list[_Part]:
        """Weights of ``roles`` fused along N when they can share one MatMulNBits."""
        floats = [self.spec.linear_weight(self.model, r, layer) for r in roles]
        name = f"layers.{layer}.{'_'.join(roles)}"
        if self.recipe.is_float:
            return [_Part(name, float_weight=np.concatenate(floats, axis=0))]
        if self.recipe.method != QuantMethod.GGUF:
            return [self._quantized_part(name, np.concatenate(floats, axis=0), self.recipe.bits)]
        # Offsets move into 8-bit zero points only where the matmul runs on int8 activations: 4-bit weights
        # are what the exact repack gives these types, and 8-bit ones have no fast float-activation kernel.
        widen = self.recipe.int8_offsets == OffsetForm.ZERO_POINT.value and self.recipe.accuracy_level_for(name, 4) > 0
        parts = [
            self._gguf_part(f"layers.{layer}.{r}", self.spec.gguf_linear(self.model, r, layer), w, widen)
            for r, w in zip(roles, floats)
        ]
        return _fuse(name, parts)

    # -- emitters ---------------------------------------------------------------
    def matmul(self, x: str, part: _Part, bias: np.ndarray | None = None) -> str:
        g = self.g
        if part.quantized is None:
            assert part.float_weight is not None
            w_t = g.initializer(f"{part.name}.weight_t", np.ascontiguousarray(part.float_weight.T))
            y = g.node("MatMul", [x, w_t], name=f"{part.name}/MatMul")
            if bias is not None:
                y = g.node("Add", [y, g.initializer(f"{part.name}.bias", bias.astype(np.float32))])
            return y
        qm = part.quantized
        inputs = [
            x,
            g.shared(f"{part.name}.qweight", qm.packed_weight),
            g.shared(f"{part.name}.scales", lambda: qm.scales),
        ]
        zp = qm.packed_zero_points()
        inputs.append(g.shared(f"{part.name}.qzeros", lambda: zp) if zp is not None else "")
        if bias is not None:
            inputs += ["", g.initializer(f"{part.name}.bias", bias.astype(np.float32))]
        while inputs[-1] == "":
            inputs.pop()
        y = g.node(
            "MatMulNBits",
            inputs,
            domain=MS_DOMAIN,
            name=f"{part.name}/MatMulNBits",
            K=qm.k,
            N=qm.n,
            bits=qm.bits,
            block_size=qm.block_size,
            accuracy_level=self._accuracy_level(qm, part.name),
        )
        if qm.correction is not None:
            y = g.node("Add", [y, self.block_correction(x, qm, part.name)])
        return y

    def _accuracy_level(self, qm: QuantizedMatrix, name: str) -> int:
        # the recipe's per-matmul rules first, then the level of the weights' width (QuantRecipe.accuracy_level_for)
        return self.recipe.accuracy_level_for(name, qm.bits)

    def block_correction(self, x: str, qm: QuantizedMatrix, name: str) -> str:
        """Σ_b blocksum(x)_b · correction[n, b]: Q4_1's ``m + 8d`` outside the symmetric kernel."""
        g = self.g
        if qm.k % qm.block_size:
            raise UnsupportedError(f"{name}: K={qm.k} is not a multiple of the block size {qm.block_size}")
        blocks = g.node("Reshape", [x, g.const_i64([0, 0, qm.k_blocks, qm.block_size])])
        sums = g.node("ReduceSum", [blocks, g.const_i64([-1])], keepdims=0)
        assert qm.correction is not None  # callers check it
        corr_t = g.initializer(f"{name}.correction_t", np.ascontiguousarray(qm.correction.T))
        return g.node("MatMul", [sums, corr_t], name=f"{name}/correction")

    def linear(self, x: str, layer: int, roles: tuple[str, ...]) -> str:
        parts = self.linear_parts(layer, roles)
        biases = [self.spec.linear_bias(self.model, r, layer) for r in roles]
        if len(parts) == 1:
            bias = None
            if any(b is not None for b in biases):  # e.g. Qwen2's q/k/v biases, fused like the weights
                rows = [self.spec.linear_weight(self.model, r, layer).shape[0] for r in roles]
                bias = np.concatenate([b if b is not None else np.zeros(n, np.float32) for b, n in zip(biases, rows)])
            return self.matmul(x, parts[0], bias)
        # Mixed GGUF types cannot share one kernel: one MatMulNBits each, then Concat.
        outs = [self.matmul(x, p, b) for p, b in zip(parts, biases)]
        return self.g.node("Concat", outs, axis=-1)

    def rms_norm(self, x: str, weight: np.ndarray, name: str) -> str:
        w = self.g.initializer(f"{name}.weight", weight)
        return self.g.node(
            "SimplifiedLayerNormalization",
            [x, w],
            name=f"{name}/SLN",
            axis=-1,
            epsilon=float(self.cfg.rms_norm_eps),
            stash_type=1,
        )

    def skip_rms_norm(self, x: str, residual: str, weight: np.ndarray, name: str) -> tuple[str, str]:
        """RMSNorm(x + residual) and the new residual x + residual, one fused kernel."""
        w = self.g.initializer(f"{name}.weight", weight)
        normed, summed = self.g.fresh(f"{name}/normed"), self.g.fresh(f"{name}/residual")
        self.g.node(
            "SkipSimplifiedLayerNormalization",
            [x, residual, w],
            [normed, "", "", summed],
            domain=MS_DOMAIN,
            name=f"{name}/SkipSLN",
            epsilon=float(self.cfg.rms_norm_eps),
        )
        return normed, summed

    def head_rms_norm(self, x: str, heads: int, weight: np.ndarray, name: str) -> str:
        """RMSNorm over each head's ``head_dim`` slice of x [1, S, heads*head_dim] (Qwen3/Gemma3 q/k norm)."""
        hd = self.cfg.head_dim
        per_head = self.g.node("Reshape", [x, self.g.const_i64([0, 0, heads, hd])])
        normed = self.rms_norm(per_head, weight, name)
        return self.g.node("Reshape", [normed, self.g.const_i64([0, 0, heads * hd])])

    def rope(self, attention: LayerAttention) -> tuple[str, str]:
        key = (attention.rope_theta, attention.rope_scaling)
        if key not in self._rope:
            cos, sin = self.spec.rope_cache(attention, self.max_context)
            idx = len(self._rope)
            self._rope[key] = (
                self.g.initializer(f"rope{idx}.cos_cache", cos),
                self.g.initializer(f"rope{idx}.sin_cache", sin),
            )
        return self._rope[key]

    # -- graph ------------------------------------------------------------------
    def build(self) -> None:
        g, cfg = self.g, self.cfg
        # A symbolic batch: one row per sequence, so several sequences can decode in one call (each row
        # its own KV buffer row and length; GroupQueryAttention reads per-row lengths from seqlens_k).
        ids = g.add_input("input_ids", TensorProto.INT64, [BATCH, "sequence_length"])
        mask = g.add_input("attention_mask", TensorProto.INT64, [BATCH, "total_sequence_length"])
        keep = g.add_input("logits_to_keep", TensorProto.INT64, [1])
        cache_shape = [BATCH, cfg.num_kv_heads, "max_context", cfg.head_dim]
        for i in range(cfg.num_layers):
            g.add_input(self.cache.past_key.format(layer=i), TensorProto.FLOAT, cache_shape)
            g.add_input(self.cache.past_value.format(layer=i), TensorProto.FLOAT, cache_shape)

        # GroupQueryAttention's sequence inputs (genai builder's attention-mask reformatting).
        total = g.node("ReduceSum", [mask, g.const_i64([1])], keepdims=0)
        seqlens_k = g.node("Cast", [g.node("Sub", [total, g.const_i64([1])])], to=TensorProto.INT32, name="seqlens_k")
        total_len = g.node(
            "Cast",
            [g.node("Gather", [g.node("Shape", [mask]), g.const_i64(1, scalar=True)], axis=0)],
            to=TensorProto.INT32,
            name="total_seq_len",
        )

        with self.steps.stage("embedding") as stage:
            hidden, head = self.embedding(ids)
            stage.metrics.update(self._last_errors(2))
        residual: str | None = None
        for i in range(cfg.num_layers):
            with self.steps.stage(f"layer {i}") as stage:
                start = len(self.errors)
                hidden, residual = self.layer(i, hidden, residual, seqlens_k, total_len)
                stage.metrics.update(_max_error(self.errors[start:]))
        with self.steps.stage("head") as stage:
            final_w = self.spec.norm_weight(self.model, "final_norm")
            if residual is None:
                normed = self.rms_norm(hidden, final_w, "final_norm")
            else:
                normed, _ = self.skip_rms_norm(hidden, residual, final_w, "final_norm")
            # Only the last ``logits_to_keep`` positions reach the head (1 in generation).
            start = g.node("Neg", [keep])
            kept = g.node("Slice", [normed, start, g.const_i64([np.iinfo(np.int64).max]), g.const_i64([1])])
            # The head's input is an output too: the escalation policy's hidden-state probes read it (linear
            # probes on this state predict whether an answer is right: Azaria & Mitchell 2023, "The Internal
            # State of an LLM Knows When It's Lying"; Orgad et al. 2024, "LLMs Know More Than They Show").
            # It is computed anyway; the output costs one copy of the kept positions' vectors.
            g.node("Identity", [kept], [LAST_HIDDEN])
            g.add_output(LAST_HIDDEN, TensorProto.FLOAT, [BATCH, "logits_to_keep", cfg.hidden_size])
            logits = head(kept)
            cap = self.spec.final_logit_softcap
            if cap:
                c = g.const_f32(cap)
                logits = g.node("Mul", [g.node("Tanh", [g.node("Div", [logits, c])]), c])
            g.node("Identity", [logits], ["logits"])
            g.add_output("logits", TensorProto.FLOAT, [BATCH, "logits_to_keep", cfg.vocab_size])
            stage.metrics.update(self._last_errors(1))

    def _last_errors(self, n: int) -> dict:
        return _max_error(self.errors[-n:]) if self.errors else {}

    def embedding(self, ids: str) -> tuple[str, Callable[[str], str]]:
        """Emit the token embedding; return it and a function that emits the LM head."""
        g, spec, model, recipe = self.g, self.spec, self.model, self.recipe
        tied = self.cfg.tie_word_embeddings
        emb_w = spec.embedding(model)
        head_w = emb_w if tied else spec.head(model)

        if recipe.method == QuantMethod.GGUF:
            head_part = self._gguf_part("lm_head", spec.gguf_linear(model, "embed" if tied else "head", None), head_w)
            emb_part = (
                head_part if tied else self._gguf_part("embed_tokens", spec.gguf_linear(model, "embed", None), emb_w)
            )
        else:
            head_part = self._quantized_part("lm_head", head_w, recipe.head_bits)
            if tied and (head_part.quantized is not None or recipe.embedding_bits == FLOAT_BITS):
                emb_part = head_part if head_part.quantized is not None else _Part("embed_tokens", float_weight=emb_w)
            else:
                emb_part = self._quantized_part("embed_tokens", emb_w, recipe.embedding_bits)
        shared = tied and emb_part is head_part

        if emb_part.quantized is None:
            table = g.initializer("embed_tokens.weight", emb_w)
            hidden = g.node("Gather", [table, ids], axis=0, name="embed_tokens/Gather")
        else:
            hidden = self.gather_quantized(ids, emb_part)
        scale = spec.embedding_scale()
        if scale is not None:
            hidden = g.node("Mul", [hidden, g.const_f32(scale)])

        search = self._search_head(head_part)

        def head(x: str) -> str:
            if head_part.quantized is not None:
                logits = self.matmul(x, search or head_part)
                lossy = search is not None or self._accuracy_level(head_part.quantized, head_part.name) > 0
                if lossy and HEAD_REFINE_TOP_K:
                    logits = self.refine_top_k(x, logits, head_part)
                return logits
            # Float head: Gemm with transB reads the [vocab, hidden] table in place, so a tied
            # embedding is stored once (a Transpose of the initializer would be folded into a copy).
            w = table if shared or (tied and emb_part.quantized is None) else g.initializer("lm_head.weight", head_w)
            flat = g.node("Reshape", [x, g.const_i64([-1, self.cfg.hidden_size])])
            y = g.node("Gemm", [flat, w], transB=1, name="lm_head/Gemm")
            # back to [batch, S, vocab]: the first two dims of x, then the vocabulary
            rows = g.node("Slice", [g.node("Shape", [x]), g.const_i64([0]), g.const_i64([2])])
            return g.node("Reshape", [y, g.node("Concat", [rows, g.const_i64([self.cfg.vocab_size])], axis=0)])

        return hidden, head

    def _search_head(self, part: _Part) -> _Part | None:
        """The head's narrower copy for the candidate search (QuantRecipe.head_search_bits), or None.

        Only for a quantized head stored wider than the copy. The copy quantizes the head's own dequantized
        weights (k-quant search, asymmetric), and the top-k refinement reads the head's exact rows.
        """
        bits = self.recipe.head_search_bits
        qm = part.quantized
        if bits is None or qm is None or qm.bits <= bits or head_share(self.cfg) < self.recipe.head_search_min_share:
            return None
        copy = quantize_weight(qm.dequantize(), bits, self.recipe.group_size, False, QuantMethod.KQUANT)
        return _Part(f"{part.name}_search", quantized=copy)

    def refine_top_k(self, x: str, logits: str, part: _Part) -> str:
        """Recompute the top-k logits with float activations; the rest keep the int8-activation values.

        With int8 activations (accuracy_level 4, the only fast 8-bit kernel on CPU) a near tie between
        the two best tokens can flip: SmolLM2's answer to "What is the capital of France?" starts with
        "The" 25.33 vs "L" 25.24 in float, and the level-4 head picked "L" while onnxruntime-web (float
        activations) picked "The". Gathering the k candidate rows (GatherBlockQuantized, exact weights)
        and taking their dot products in float makes greedy choice and the top of the distribution
        independent of the activation quantization, for ~k/vocab of the head's work.
        """
        g, qm = self.g, part.quantized
        assert qm is not None  # only a quantized head is refined
        k = HEAD_REFINE_TOP_K
        _, idx = g.node(
            "TopK", [logits, g.const_i64([k])], outputs=2, axis=-1, largest=1, sorted=0, name="lm_head/TopK"
        )
        rows = self.gather_quantized(idx, part, flat_shape=[0, 0, k, qm.k])  # [1, S, k, hidden], exact weights
        exact = g.node("MatMul", [rows, g.node("Unsqueeze", [x, g.const_i64([-1])])])  # [1, S, k, 1]
        exact = g.node("Squeeze", [exact, g.const_i64([-1])])
        return g.node("ScatterElements", [logits, idx, exact], axis=-1, name="lm_head/refine")

    def gather_quantized(self, ids: str, part: _Part, flat_shape: list[int] | None = None) -> str:
        """GatherBlockQuantized over the same bytes MatMulNBits reads (one tensor for embedding and head)."""
        g, qm = self.g, part.quantized
        assert qm is not None  # GatherBlockQuantized only exists for quantized tables
        if qm.k % qm.block_size:
            raise UnsupportedError(f"embedding width {qm.k} is not a multiple of the block size {qm.block_size}")
        # GatherBlockQuantized reads MatMulNBits' 3-D weight [N, k_blocks, blob] in place, quantized
        # along its last axis. A Reshape to the 2-D table onnxruntime-genai uses would be constant-folded
        # into a second copy at session start (measured: +28 MB RAM for SmolLM2's Q8_0 table), and
        # MatMulNBits refuses a 2-D weight. Only the scales (1/8 of the 4-bit bytes) go through a Reshape,
        # because MatMulNBits wants them [N, k_blocks] and GatherBlockQuantized [N, k_blocks, 1].
        packed = g.shared(f"{part.name}.qweight", qm.packed_weight)
        scales = g.shared(f"{part.name}.scales", lambda: qm.scales)
        blocks_shape = g.const_i64([qm.n, qm.k_blocks, 1])
        inputs = [packed, ids, g.node("Reshape", [scales, blocks_shape], name=f"{part.name}/scales3d")]
        zero_points = qm.zero_points
        if zero_points is not None:
            # One zero point per block on the quantize axis: unpacked uint8 [N, k_blocks, 1] (low nibble).
            inputs.append(g.shared(f"{part.name}.qzeros3d", lambda: zero_points.reshape(qm.n, qm.k_blocks, 1)))
        hidden = g.node(
            "GatherBlockQuantized",
            inputs,
            domain=MS_DOMAIN,
            name=f"{part.name}/GatherBlockQuantized",
            bits=qm.bits,
            block_size=qm.block_size,
            gather_axis=0,
            quantize_axis=2,
        )  # [1, S, k_blocks, block_size]
        correction = qm.correction
        if correction is not None:
            corr = g.shared(f"{part.name}.correction", lambda: correction)
            per_block = g.node("Unsqueeze", [g.node("Gather", [corr, ids], axis=0), g.const_i64([-1])])
            hidden = g.node("Add", [hidden, per_block])
        return g.node("Reshape", [hidden, g.const_i64(flat_shape or [0, 0, qm.k])])

    def layer(self, i: int, hidden: str, residual: str | None, seqlens_k: str, total_len: str) -> tuple[str, str]:
        g, spec, model, cfg = self.g, self.spec, self.model, self.cfg
        p = f"layers.{i}"
        w_in = spec.norm_weight(model, "input", i)
        if residual is None:
            normed, residual = self.rms_norm(hidden, w_in, f"{p}.input_layernorm"), hidden
        else:
            normed, residual = self.skip_rms_norm(hidden, residual, w_in, f"{p}.input_layernorm")

        qkv = self.linear(normed, i, ("q", "k", "v"))
        attention = spec.layer_attention(i)
        cos, sin = self.rope(attention)
        qkv_inputs = [qkv, "", ""]
        if spec.qk_norm:
            # onnxruntime 1.32's CPU GroupQueryAttention refuses its q/k norm inputs ("implemented only on
            # the CUDA and WebGPU EPs"), so the per-head RMSNorm runs here, before GQA's rotary, and q, k, v
            # go in unpacked (the genai builder's make_qk_norm does the same).
            q_size, kv_size = cfg.num_heads * cfg.head_dim, cfg.num_kv_heads * cfg.head_dim
            q, k, v = g.node("Split", [qkv, g.const_i64([q_size, kv_size, kv_size])], outputs=3, axis=-1)
            q = self.head_rms_norm(q, cfg.num_heads, spec.norm_weight(model, "q_norm", i), f"{p}.q_norm")
            k = self.head_rms_norm(k, cfg.num_kv_heads, spec.norm_weight(model, "k_norm", i), f"{p}.k_norm")
            qkv_inputs = [q, k, v]
        inputs = [
            *qkv_inputs,
            self.cache.past_key.format(layer=i),
            self.cache.past_value.format(layer=i),
            seqlens_k,
            total_len,
            cos,
            sin,
        ]
        attrs = dict(
            num_heads=cfg.num_heads,
            kv_num_heads=cfg.num_kv_heads,
            do_rotary=1,
            rotary_interleaved=0,
            local_window_size=int(attention.local_window_size),
            scale=float(spec.attention_scale()),
        )
        present_k = self.cache.present_key.format(layer=i)
        present_v = self.cache.present_value.format(layer=i)
        attn = g.fresh(f"{p}/attn")
        g.node("GroupQueryAttention", inputs, [attn, present_k, present_v], domain=MS_DOMAIN, name=f"{p}/GQA", **attrs)
        cache_shape = [BATCH, cfg.num_kv_heads, "max_context", cfg.head_dim]
        g.add_output(present_k, TensorProto.FLOAT, cache_shape)
        g.add_output(present_v, TensorProto.FLOAT, cache_shape)

        out = self.linear(attn, i, ("o",))
        if spec.sandwich_norms:
            out = self.rms_norm(out, spec.norm_weight(model, "post_attention", i), f"{p}.post_attention_layernorm")
            ffn_role = "pre_ffn"
        else:
            ffn_role = "post_attention"
        normed, residual = self.skip_rms_norm(
            out, residual, spec.norm_weight(model, ffn_role, i), f"{p}.{ffn_role}_norm"
        )

        if FUSE_GATE_UP:
            gate_up = self.linear(normed, i, ("gate", "up"))
            gate, up = g.node(
                "Split", [gate_up, g.const_i64([cfg.intermediate_size, cfg.intermediate_size])], outputs=2, axis=-1
            )
        else:
            gate, up = self.linear(normed, i, ("gate",)), self.linear(normed, i, ("up",))
        if spec.mlp_activation == "silu":
            act = g.node("Mul", [gate, g.node("Sigmoid", [gate])])
        else:  # gelu_tanh
            act = g.node("FastGelu", [gate], domain=MS_DOMAIN)
        down = self.linear(g.node("Mul", [act, up]), i, ("down",))
        if spec.sandwich_norms:
            down = self.rms_norm(down, spec.norm_weight(model, "post_ffn", i), f"{p}.post_feedforward_layernorm")
        return down, residual


def head_share(cfg: ModelConfig) -> float:
    """The LM head's share of the weights one decoded token reads (head + the decoder's matmuls), from the
    config: 0.21 for SmolLM2-135M (49k vocabulary), 0.63 for Gemma 3 270M (262k)."""
    q_dim, kv_dim, hidden = cfg.num_heads * cfg.head_dim, cfg.num_kv_heads * cfg.head_dim, cfg.hidden_size
    per_layer = hidden * (q_dim + 2 * kv_dim) + q_dim * hidden + 3 * hidden * cfg.intermediate_size
    head = cfg.vocab_size * hidden
    return head / (head + cfg.num_layers * per_layer)


def _fuse(name: str, parts: list[_Part]) -> list[_Part]:
    """Concatenate parts along N when they share one kernel configuration (exact: rows are independent)."""
    qms = [p.quantized for p in parts]
    if len(parts) == 1:
        return parts
    if all(q is None for q in qms):
        floats = [p.float_weight for p in parts if p.float_weight is not None]
        return [_Part(name, float_weight=np.concatenate(floats, axis=0))]
    quantized = [q for q in qms if q is not None]
    if len(quantized) != len(qms):
        return parts
    if any(q.zero_points is not None for q in quantized):
        # a mixed-type GGUF: an exact 8-bit part (Q6_K, Q8_0) beside zero-point ones fuses with its default
        # zero point written out
        quantized = [replace(q, zero_points=q.zero_point_array()) for q in quantized]
    first = quantized[0]
    same = all(
        q.bits == first.bits
        and q.block_size == first.block_size
        and q.k == first.k
        and (q.zero_points is None) == (first.zero_points is None)
        and (q.correction is None) == (first.correction is None)
        for q in quantized
    )
    if not same:
        return parts
    fused = QuantizedMatrix(
        bits=first.bits,
        block_size=first.block_size,
        k=first.k,
        q=np.concatenate([q.q for q in quantized], axis=0),
        scales=np.concatenate([q.scales for q in quantized], axis=0),
        zero_points=None if first.zero_points is None else np.concatenate([q.zero_points for q in quantized], axis=0),
        correction=None if first.correction is None else np.concatenate([q.correction for q in quantized], axis=0),
    )
    return [_Part(name, quantized=fused)]


def _max_error(errors: list[TensorError]) -> dict:
    if not errors:
        return {}
    worst = max(errors, key=lambda e: e.max_abs)
    return {"max_err": worst.max_abs, "rel_rms": max(e.rel_rms for e in errors)}


def build_onnx(
    model: LoadedModel,
    recipe: QuantRecipe,
    out_dir: Path,
    max_context: int,
    profile: str = "cpu",
    on_progress: OnProgress | None = None,
) -> TargetResult:
    """Write ``model.onnx`` + ``model.onnx.data`` for ``model`` quantized by ``recipe`` into ``out_dir``."""
    if profile not in PROFILES:
        raise ConfigError(f"unknown ONNX graph profile {profile!r}; known profiles: {', '.join(PROFILES)}")
    if profile == "web":
        from .web_profile import web_recipe

        recipe = web_recipe(recipe)
    if not isinstance(max_context, int) or max_context < 1:
        raise ConfigError(f"max_context must be a positive integer, got {max_context!r}")
    if "onnx" not in recipe.targets:
        raise UnsupportedError(
            f"recipe {recipe.name!r} cannot be built by target 'onnx' (its targets: "
            f"{', '.join(sorted(recipe.targets))})"
        )
    spec = spec_for(model.config)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    steps = Steps(total=model.config.num_layers + 3, on_progress=on_progress)
    writer = GraphWriter(out_dir / DATA_FILE)
    try:
        builder = _DecoderBuilder(model, recipe, spec, writer, max_context, steps)
        builder.build()
        with steps.stage("save", f"{MODEL_FILE} + {DATA_FILE}") as stage:
            writer.save(
                out_dir / MODEL_FILE,
                graph_name=f"{model.name}-{recipe.name}",
                doc=f"edgekit fused decoder: {spec.family}, recipe {recipe.name}, max_context {max_context}",
                metadata={"edgekit.recipe": recipe.name, "edgekit.architecture": spec.family},
            )
            stage.metrics["model_bytes"] = (out_dir / MODEL_FILE).stat().st_size
            stage.metrics["data_bytes"] = (out_dir / DATA_FILE).stat().st_size
    finally:
        writer.close()
    graph_spec = OnnxGraphSpec(
        model_file=MODEL_FILE, cache=builder.cache, profile=profile, max_context=max_context, last_hidden=LAST_HIDDEN
    )
    metrics = {
        "onnx_bytes": (out_dir / MODEL_FILE).stat().st_size + (out_dir / DATA_FILE).stat().st_size,
        "nodes": len(writer.nodes),
        "quant_error": summarize_errors(builder.errors),
    }
    if recipe.method == QuantMethod.GGUF:
        metrics["gguf_tensors_repacked"] = builder.gguf_tensors_used
        metrics["gguf_repack_max_error"] = builder.repack_max_error
    return TargetResult(
        files=[(MODEL_FILE, "model"), (DATA_FILE, "weights")],
        backend="onnx",
        backend_config=graph_spec.to_dict(),
        metrics=metrics,
    )
