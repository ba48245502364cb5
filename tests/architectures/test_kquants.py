"""Exact repack of GGUF k-quant blocks (Q5_0, Q5_1, Q4_K, Q5_K, Q6_K) into MatMulNBits form.

Reference: gguf-py's ``dequantize`` (a numpy port of ggml's dequantizers) says
what random blocks (kquant_helpers.py) mean; the repacked
matrix must reproduce that weight (gguf-py computes in float32, so the bound is
float32 rounding of its own arithmetic, not a quantization error). Then a real
onnxruntime MatMulNBits session (plus the correction term) must compute x @ Wᵀ.
"""

from __future__ import annotations

import numpy as np
import pytest
from edgekit.exporters.loaded_model import GGUFTensor
from edgekit.exporters.quant.gguf_kquant_blocks import KQUANT_TYPES, dequantize_kquant, repack_kquant

from tests.architectures.kquant_helpers import random_kquant

ROWS, COLS = 24, 512


def _tensor(ggml_type: str, seed: int = 0) -> GGUFTensor:
    return random_kquant(ggml_type, ROWS, COLS, seed=seed)


def _gguf_py(tensor: GGUFTensor) -> np.ndarray:
    from gguf import GGMLQuantizationType
    from gguf.quants import dequantize

    return dequantize(tensor.raw, GGMLQuantizationType[tensor.ggml_type]).reshape(tensor.shape).astype(np.float64)


@pytest.mark.parametrize("ggml_type", sorted(KQUANT_TYPES))
def test_decode_matches_gguf_py(ggml_type):
    tensor = _tensor(ggml_type)
    expected = _gguf_py(tensor)
    got = dequantize_kquant(tensor)
    np.testing.assert_allclose(got, expected, rtol=0, atol=2e-6 * np.abs(expected).max())


@pytest.mark.parametrize("ggml_type", sorted(KQUANT_TYPES))
def test_repack_is_exact(ggml_type):
    tensor = _tensor(ggml_type, seed=1)
    qm = repack_kquant(tensor)
    assert qm.bits == (4 if ggml_type == "Q4_K" else 8)
    assert int(qm.q.max()) < (1 << qm.bits)
    exact = dequantize_kquant(tensor)
    # Scales are exact in float32; only a correction (two terms in one float32) may round.
    err = np.abs(qm.dequantize(np.float64) - exact).max()
    if qm.correction is None:
        assert err == 0.0
    else:
        assert err <= 1e-6 * np.abs(exact).max()


@pytest.mark.parametrize("ggml_type", sorted(KQUANT_TYPES))
def test_matmulnbits_computes_the_repacked_weight(ggml_type):
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    tensor = _tensor(ggml_type, seed=2)
    qm = repack_kquant(tensor)
    x = np.random.default_rng(3).standard_normal((1, 5, COLS)).astype(np.float32)
    inits = [numpy_helper.from_array(qm.packed_weight(), "B"), numpy_helper.from_array(qm.scales, "S")]
    nodes = [
        helper.make_node(
            "MatMulNBits",
            ["x", "B", "S"],
            ["y0"],
            domain="com.microsoft",
            K=COLS,
            N=ROWS,
            bits=qm.bits,
            block_size=qm.block_size,
        )
    ]
    if qm.correction is not None:
        # The graph builder's correction: Σ_b blocksum(x)_b · correction[n, b].
        inits += [
            numpy_helper.from_array(np.array([0, 0, qm.k_blocks, qm.block_size], np.int64), "shape"),
            numpy_helper.from_array(np.array([-1], np.int64), "axes"),
            numpy_helper.from_array(np.ascontiguousarray(qm.correction.T), "C"),
        ]
        nodes += [
            helper.make_node("Reshape", ["x", "shape"], ["xb"]),
            helper.make_node("ReduceSum", ["xb", "axes"], ["sums"], keepdims=0),
            helper.make_node("MatMul", ["sums", "C"], ["corr"]),
            helper.make_node("Add", ["y0", "corr"], ["y"]),
        ]
    else:
        nodes.append(helper.make_node("Identity", ["y0"], ["y"]))
    graph = helper.make_graph(
        nodes,
        "kq",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 5, COLS])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 5, ROWS])],
        inits,
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 21), helper.make_opsetid("com.microsoft", 1)]
    )
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    got = session.run(["y"], {"x": x})[0]
    expected = x.astype(np.float64) @ dequantize_kquant(tensor).T
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-4 * np.abs(expected).max())


def test_wrong_row_length_is_refused():
    tensor = _tensor("Q4_K")
    short = GGUFTensor(
        tensor.name, tensor.gguf_name, tensor.ggml_type, (ROWS, COLS), tensor.raw.reshape(ROWS, -1)[:, :-1]
    )
    with pytest.raises(ValueError, match=r"blk.0.Q4_K: 287 bytes per row, Q4_K needs 288"):
        repack_kquant(short)
