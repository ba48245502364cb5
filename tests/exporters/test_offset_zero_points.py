"""Block offsets in 8-bit zero points (exporters/edgekit/exporters/quant/offset_zero_points.py).

The form keeps every code exact and moves each block's offset by at most scale/(2k); the per-block choice of k
must beat the fixed k = 17 on average, hold constant blocks exactly, and run in a real onnxruntime MatMulNBits
with the numbers the dequantized matrix promises.
"""

from __future__ import annotations

import numpy as np
import pytest
from edgekit.exporters.quant.block_types import BLOCK_TYPES, decode_blocks, dequantize_blocks
from edgekit.exporters.quant.offset_zero_points import absorb_offsets, zero_point_form

from tests.exporters.test_block_types import _random_blocks

OFFSET_TYPES = [name for name in BLOCK_TYPES.names() if decode_blocks(_random_blocks(name))[2] is not None]


def test_the_offset_types_are_the_ones_with_a_correction():
    assert {"Q4_1", "Q4_K"} <= set(OFFSET_TYPES)
    assert not {"Q4_0", "Q8_0", "Q6_K"} & set(OFFSET_TYPES)


def _realistic(shape=(16, 4), top=15, seed=1):
    """Blocks as GGUF writes them: the offset is the block's minimum, -scale * (0..top)."""
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, top + 1, (*shape, 32))
    scale = rng.uniform(0.005, 0.03, shape)
    offset = -scale * rng.uniform(0, top, shape)
    return codes, scale, offset


@pytest.mark.parametrize("top", [15, 31])  # 4-bit codes (Q4_1, Q4_K) and 5-bit ones (Q5_1, Q5_K)
def test_codes_stay_exact_and_each_offset_moves_by_at_most_half_a_step(top):
    codes, scale, offset = _realistic(top=top)
    qm = absorb_offsets(codes, scale, offset, 4 * 32)
    assert qm.bits == 8 and qm.zero_points is not None and qm.correction is None
    exact = scale[..., None] * codes + offset[..., None]
    diff = qm.dequantize(np.float64).reshape(codes.shape) - exact
    # one constant shift per block: the codes themselves are exact
    np.testing.assert_allclose(diff, np.broadcast_to(diff[..., :1], diff.shape), rtol=0, atol=1e-7)
    assert np.all(np.abs(diff[..., 0]) <= scale / (2 * (255 // top)) + 1e-9)


@pytest.mark.parametrize("name", OFFSET_TYPES)
def test_every_offset_type_keeps_within_half_a_step_of_its_grid(name):
    """Random blocks include offsets no k reaches (all weights large and of one sign): those fall back to the
    grid that spans the block and zero, so every weight stays within half of that grid's step."""
    tensor = _random_blocks(name, rows=16, blocks_per_row=4, seed=1)
    codes, scale, offset = decode_blocks(tensor)
    qm = zero_point_form(tensor)
    assert qm is not None and qm.bits == 8 and qm.correction is None
    exact = dequantize_blocks(tensor).reshape(codes.shape)
    got = qm.dequantize(np.float64).reshape(codes.shape)
    step = np.abs(qm.scales).astype(np.float64)
    assert np.all(np.abs(got - exact) <= step[..., None] / 2 + 1e-6 * np.abs(exact).max()), name


def test_the_best_k_per_block_beats_a_fixed_k_on_average():
    rng = np.random.default_rng(0)
    codes = rng.integers(0, 16, (256, 8, 32))
    scale = rng.uniform(0.005, 0.02, (256, 8))
    offset = -scale * rng.uniform(4, 12, (256, 8))
    qm = absorb_offsets(codes, scale, offset, 8 * 32)
    error = np.abs(qm.dequantize(np.float64).reshape(codes.shape) - (scale[..., None] * codes + offset[..., None]))
    chosen = error[..., 0] / scale
    fixed = np.abs(17 * offset / scale - np.round(17 * offset / scale)) / 17
    assert chosen.max() <= 1 / 34 + 1e-9
    assert chosen.mean() < 0.5 * fixed.mean(), (chosen.mean(), fixed.mean())


def test_a_constant_block_and_a_positive_offset_are_held():
    codes = np.zeros((2, 1, 32), dtype=np.int64)
    codes[1] = np.arange(32) % 16
    scale = np.array([[0.0], [0.01]])
    offset = np.array([[-0.37], [0.02]])  # a zero-scale block; a block of only positive weights
    qm = absorb_offsets(codes, scale, offset, 32)
    w = qm.dequantize(np.float64)
    np.testing.assert_allclose(w[0], -0.37, rtol=1e-6)
    np.testing.assert_allclose(w[1], 0.01 * codes[1, 0] + 0.02, atol=1e-7)  # 0.02 = 2 steps of 0.01: exact


def test_a_type_without_offsets_has_no_zero_point_form():
    assert zero_point_form(_random_blocks("Q8_0")) is None
    assert zero_point_form(_random_blocks("Q4_0")) is None


def test_onnxruntime_computes_what_the_matrix_promises():
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    tensor = _random_blocks("Q4_1", rows=64, blocks_per_row=4, seed=3)
    qm = zero_point_form(tensor)
    assert qm is not None
    k, n = qm.k, qm.n
    node = helper.make_node(
        "MatMulNBits",
        ["x", "w", "s", "z"],
        ["y"],
        domain="com.microsoft",
        K=k,
        N=n,
        bits=8,
        block_size=qm.block_size,
        accuracy_level=0,
    )
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, k])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, n])],
        [
            numpy_helper.from_array(qm.packed_weight(), "w"),
            numpy_helper.from_array(qm.scales.reshape(-1), "s"),
            numpy_helper.from_array(qm.packed_zero_points().reshape(-1), "z"),
        ],
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)]
    )
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(4).standard_normal((1, k)).astype(np.float32)
    y = session.run(None, {"x": x})[0]
    np.testing.assert_allclose(y, x @ qm.dequantize(np.float32).T, rtol=1e-4, atol=1e-4)
