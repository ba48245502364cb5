"""A toy ONNX decoder bundle built from numbers, for tests that need scripted output.

Real onnxruntime graph with the bundle contract's I/O (GroupQueryAttention
with a KV buffer shared between past and present, attention_mask,
logits_to_keep), one attention layer with random weights, plus a *script*:
``logits[pos] += table[pos]``, where ``pos`` is the absolute position (from
the attention mask). A test chooses the table, so it decides exactly which
token (or distribution) comes after position p, whatever the prompt says.
The tokenizer is byte-level with token id == byte value (so a test can
emit the two bytes of "é" as two tokens) plus three special tokens.

The real exported models (tests/fixtures tiny_bundle) cover numerics against
transformers; this covers the generator's rules deterministically.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

BOS, IM_START, IM_END = 256, 257, 258
VOCAB = 259
CHATML = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def _bytes_to_unicode() -> dict[int, str]:
    # GPT-2's byte → printable-character map (openai/gpt-2 encoder.py), used by ByteLevel
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


def write_tokenizer(path: Path) -> None:
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers

    vocab = {ch: b for b, ch in _bytes_to_unicode().items()}
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens([AddedToken(t, special=True) for t in ("<bos>", "<|im_start|>", "<|im_end|>")])
    tok.save(str(path))


def script_table(
    max_context: int,
    sequence: list[int] | None = None,
    start: int = 0,
    scale: float = 30.0,
    rows: dict[int, np.ndarray] | None = None,
) -> np.ndarray:
    """Row p = logits added after position p: ``sequence[i]`` is favoured at position start+i."""
    table = np.zeros((max_context, VOCAB), dtype=np.float32)
    for i, token in enumerate(sequence or []):
        if start + i < max_context:
            table[start + i, token] = scale
    for pos, row in (rows or {}).items():
        table[pos] = row
    return table


def build_graph(
    path: Path,
    table: np.ndarray,
    hidden: int = 32,
    heads: int = 4,
    kv_heads: int = 2,
    layers: int = 2,
    seed: int = 0,
    noise: float = 0.1,
) -> dict:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    head_dim = hidden // heads
    max_context = table.shape[0]
    inits = []

    def const(name, arr):
        inits.append(numpy_helper.from_array(np.asarray(arr), name))
        return name

    nodes = []
    const("emb", rng.normal(0, 1, (VOCAB, hidden)).astype(np.float32))
    const("table", table.astype(np.float32))
    const("one", np.array(1, dtype=np.int64))
    const("one_1d", np.array([1], dtype=np.int64))
    const("axis1", np.array([1], dtype=np.int64))
    const("big", np.array([1 << 30], dtype=np.int64))
    const("noise", np.array(noise, dtype=np.float32))
    nodes += [
        helper.make_node("Gather", ["emb", "input_ids"], ["x0"]),
        helper.make_node("ReduceSum", ["attention_mask", "axis1"], ["mask_sum"], keepdims=0),
        helper.make_node("Sub", ["mask_sum", "one"], ["seqlens64"]),
        helper.make_node("Cast", ["seqlens64"], ["seqlens_k"], to=TensorProto.INT32),
        helper.make_node("Shape", ["attention_mask"], ["mask_shape"]),
        helper.make_node("Gather", ["mask_shape", "one"], ["total64"], axis=0),
        helper.make_node("Cast", ["total64"], ["total_len"], to=TensorProto.INT32),
        helper.make_node("Shape", ["input_ids"], ["ids_shape"]),
        helper.make_node("Gather", ["ids_shape", "one_1d"], ["seq_len"], axis=0),
        helper.make_node("Neg", ["seq_len"], ["neg_seq"]),
        helper.make_node("CumSum", ["attention_mask", "one"], ["cum"]),
        helper.make_node("Sub", ["cum", "one"], ["pos_all"]),
        helper.make_node("Slice", ["pos_all", "neg_seq", "big", "axis1"], ["positions"]),
        helper.make_node("Gather", ["table", "positions"], ["scripted"]),
    ]
    x = "x0"
    inputs = [
        helper.make_tensor_value_info("input_ids", TensorProto.INT64, [1, "S"]),
        helper.make_tensor_value_info("attention_mask", TensorProto.INT64, [1, "T"]),
        helper.make_tensor_value_info("logits_to_keep", TensorProto.INT64, [1]),
    ]
    outputs = [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, "K", VOCAB])]
    for i in range(layers):
        for name, cols in (("q", heads), ("k", kv_heads), ("v", kv_heads)):
            const(f"w{name}{i}", rng.normal(0, hidden**-0.5, (hidden, cols * head_dim)).astype(np.float32))
            nodes.append(helper.make_node("MatMul", [x, f"w{name}{i}"], [f"{name}{i}"]))
        const(f"wo{i}", rng.normal(0, hidden**-0.5, (heads * head_dim, hidden)).astype(np.float32))
        nodes += [
            helper.make_node(
                "GroupQueryAttention",
                [
                    f"q{i}",
                    f"k{i}",
                    f"v{i}",
                    f"past_key_values.{i}.key",
                    f"past_key_values.{i}.value",
                    "seqlens_k",
                    "total_len",
                ],
                [f"attn{i}", f"present.{i}.key", f"present.{i}.value"],
                domain="com.microsoft",
                num_heads=heads,
                kv_num_heads=kv_heads,
            ),
            helper.make_node("MatMul", [f"attn{i}", f"wo{i}"], [f"o{i}"]),
            helper.make_node("Add", [x, f"o{i}"], [f"x{i + 1}"]),
        ]
        x = f"x{i + 1}"
        for kind in ("key", "value"):
            inputs.append(
                helper.make_tensor_value_info(
                    f"past_key_values.{i}.{kind}", TensorProto.FLOAT, [1, kv_heads, "P", head_dim]
                )
            )
            outputs.append(
                helper.make_tensor_value_info(f"present.{i}.{kind}", TensorProto.FLOAT, [1, kv_heads, "T2", head_dim])
            )
    const("head", rng.normal(0, hidden**-0.5, (hidden, VOCAB)).astype(np.float32))
    nodes += [
        helper.make_node("MatMul", [x, "head"], ["model_logits"]),
        helper.make_node("Mul", ["model_logits", "noise"], ["small_logits"]),
        helper.make_node("Add", ["small_logits", "scripted"], ["all_logits"]),
        helper.make_node("Neg", ["logits_to_keep"], ["neg_keep"]),
        helper.make_node("Slice", ["all_logits", "neg_keep", "big", "axis1"], ["logits"]),
    ]
    graph = helper.make_graph(nodes, "toy", inputs, outputs, inits)
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)]
    )
    model.ir_version = 8
    onnx.save(model, str(path))
    return {
        "hidden": hidden,
        "heads": heads,
        "kv_heads": kv_heads,
        "layers": layers,
        "head_dim": head_dim,
        "max_context": max_context,
    }


def build_toy_bundle(
    folder: Path,
    table: np.ndarray | None = None,
    max_context: int = 64,
    chat_template: str | None = CHATML,
    eos_ids=(IM_END,),
    shared_buffer: bool = True,
    add_bos: bool = False,
    **graph_kwargs,
) -> Path:
    from edgekit.runtime.manifest import (
        ArchitectureInfo,
        CacheSpec,
        GenerationDefaults,
        Manifest,
        OnnxGraphSpec,
        TokenizerInfo,
        file_entry,
    )

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if table is None:
        table = script_table(max_context)
    dims = build_graph(folder / "model.onnx", table, **graph_kwargs)
    write_tokenizer(folder / "tokenizer.json")
    spec = OnnxGraphSpec(
        model_file="model.onnx",
        cache=CacheSpec(
            num_layers=dims["layers"],
            num_kv_heads=dims["kv_heads"],
            head_dim=dims["head_dim"],
            shared_buffer=shared_buffer,
        ),
        max_context=max_context,  # the script table holds this many positions
    )
    manifest = Manifest(
        backend="onnx",
        model={"name": "toy", "source": "tests/runtime/toy_bundle.py", "architecture": "toy", "license": "Apache-2.0"},
        architecture=ArchitectureInfo(
            family="toy",
            hidden_size=dims["hidden"],
            num_layers=dims["layers"],
            num_heads=dims["heads"],
            num_kv_heads=dims["kv_heads"],
            head_dim=dims["head_dim"],
            vocab_size=VOCAB,
            intermediate_size=0,
            max_position_embeddings=max_context,
            rope_theta=0.0,
            rms_norm_eps=0.0,
            tie_word_embeddings=False,
        ),
        files=[file_entry(folder, "model.onnx", "model"), file_entry(folder, "tokenizer.json", "tokenizer")],
        backend_config=spec.to_dict(),
        max_context=max_context,
        tokenizer=TokenizerInfo(file="tokenizer.json", bos_id=BOS, add_bos=add_bos, eos_ids=tuple(eos_ids)),
        chat_template=chat_template,
        generation_defaults=GenerationDefaults(max_new_tokens=16),
    )
    manifest.write(folder)
    return folder


def encode_bytes(text: str) -> list[int]:
    return list(text.encode("utf-8"))
