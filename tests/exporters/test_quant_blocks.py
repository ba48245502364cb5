"""Block quantizers against onnxruntime's own MatMulNBits / GatherBlockQuantized kernels."""

from __future__ import annotations

import numpy as np
import pytest
from edgekit.exporters.quant import pack_codes, quantize_kquant, quantize_rtn, quantize_weight, unpack_codes
from onnx import TensorProto, helper

RNG = np.random.default_rng(0)


def _weights(n=48, k=96):
    w = RNG.standard_normal((n, k)).astype(np.float32) * 0.05
    w[3, 5] = 0.9  # an outlier block
    return w


def _run_matmulnbits(qm, x):
    import onnxruntime as ort

    inits = [
        helper.make_tensor("B", TensorProto.UINT8, qm.packed_weight().shape, qm.packed_weight().tobytes(), raw=True),
        helper.make_tensor("S", TensorProto.FLOAT, qm.scales.shape, qm.scales.tobytes(), raw=True),
    ]
    inputs = ["x", "B", "S"]
    zp = qm.packed_zero_points()
    if zp is not None:
        inits.append(helper.make_tensor("Z", TensorProto.UINT8, zp.shape, zp.tobytes(), raw=True))
        inputs.append("Z")
    node = helper.make_node(
        "MatMulNBits", inputs, ["y"], domain="com.microsoft", K=qm.k, N=qm.n, bits=qm.bits, block_size=qm.block_size
    )
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(x.shape))],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        inits,
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 21), helper.make_opsetid("com.microsoft", 1)]
    )
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {"x": x})[0]


def test_pack_unpack_roundtrip_low_nibble_first():
    codes = RNG.integers(0, 16, (3, 2, 32)).astype(np.uint8)
    packed = pack_codes(codes, 4)
    assert packed.shape == (3, 2, 16)
    assert packed[0, 0, 0] == codes[0, 0, 0] | (codes[0, 0, 1] << 4)
    np.testing.assert_array_equal(unpack_codes(packed, 4), codes)


@pytest.mark.parametrize("bits,symmetric", [(4, True), (4, False), (8, True), (8, False)])
def test_rtn_error_is_within_one_step(bits, symmetric):
    # Rounding costs at most half a step; only the clipped end of the range (Q4_0's +7·d side,
    # or the far end after rounding the zero point) can cost up to a full step.
    w = _weights()
    qm = quantize_rtn(w, bits, 32, symmetric)
    err = np.abs(qm.dequantize() - w).reshape(w.shape[0], -1, 32)
    step = np.abs(qm.scales)[..., None]
    assert np.all(err <= step * 1.0 + 1e-7)
    assert np.mean(err / step) < 0.3


@pytest.mark.parametrize(
    "method,bits,symmetric",
    [("rtn", 4, True), ("rtn", 4, False), ("kquant", 4, False), ("kquant", 4, True), ("rtn", 8, True)],
)
def test_onnxruntime_matmulnbits_computes_our_dequantized_weight(method, bits, symmetric):
    w = _weights()
    qm = quantize_weight(w, bits, 32, symmetric, method)
    x = RNG.standard_normal((1, 3, w.shape[1])).astype(np.float32)
    y = _run_matmulnbits(qm, x)
    np.testing.assert_allclose(y, x @ qm.dequantize().T, rtol=1e-4, atol=1e-5)


def test_non_multiple_k_is_padded():
    w = RNG.standard_normal((8, 40)).astype(np.float32)
    qm = quantize_rtn(w, 4, 32, True)
    assert qm.k_blocks == 2 and qm.dequantize().shape == (8, 40)
    x = RNG.standard_normal((1, 2, 40)).astype(np.float32)
    np.testing.assert_allclose(_run_matmulnbits(qm, x), x @ qm.dequantize().T, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("symmetric", [False, True], ids=["asymmetric", "symmetric"])
def test_kquant_beats_round_to_nearest_per_block(symmetric):
    w = RNG.standard_normal((64, 256)).astype(np.float32) * np.exp(RNG.standard_normal((64, 1))).astype(np.float32)
    rtn = quantize_rtn(w, 4, 32, symmetric=symmetric)
    kq = quantize_kquant(w, 4, 32, symmetric=symmetric)
    assert (kq.zero_points is None) == symmetric
    e_rtn = ((rtn.dequantize() - w) ** 2).reshape(64, -1, 32).sum(-1)
    e_kq = ((kq.dequantize() - w) ** 2).reshape(64, -1, 32).sum(-1)
    assert np.all(e_kq <= e_rtn * (1 + 1e-5) + 1e-12)
    assert e_kq.sum() < 0.95 * e_rtn.sum()  # measured 0.89–0.91 on Gaussian blocks


def test_gather_block_quantized_reads_the_matmulnbits_bytes():
    import onnxruntime as ort

    for bits, symmetric in ((4, True), (4, False), (8, True)):
        w = _weights(40, 64)
        qm = quantize_rtn(w, bits, 32, symmetric)
        table = qm.packed_weight().reshape(qm.n, -1)
        inits = [
            helper.make_tensor("T", TensorProto.UINT8, table.shape, table.tobytes(), raw=True),
            helper.make_tensor("S", TensorProto.FLOAT, qm.scales.shape, qm.scales.tobytes(), raw=True),
        ]
        inputs = ["T", "ids", "S"]
        if qm.zero_points is not None:
            zp = qm.packed_zero_points()
            inits.append(helper.make_tensor("Z", TensorProto.UINT8, zp.shape, zp.tobytes(), raw=True))
            inputs.append("Z")
        node = helper.make_node(
            "GatherBlockQuantized",
            inputs,
            ["y"],
            domain="com.microsoft",
            bits=bits,
            block_size=32,
            gather_axis=0,
            quantize_axis=1,
        )
        graph = helper.make_graph(
            [node],
            "g",
            [helper.make_tensor_value_info("ids", TensorProto.INT64, [1, 3])],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
            inits,
        )
        model = helper.make_model(
            graph, opset_imports=[helper.make_opsetid("", 21), helper.make_opsetid("com.microsoft", 1)]
        )
        ids = np.array([[3, 0, 39]], np.int64)
        y = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"ids": ids})[
            0
        ]
        np.testing.assert_allclose(y[0], qm.dequantize()[ids[0]], rtol=0, atol=1e-6)


def test_unknown_method_is_refused():
    with pytest.raises(ValueError, match="magic"):
        quantize_weight(_weights(), 4, 32, True, "magic")


@pytest.mark.parametrize("method", ["rtn", "kquant"])
def test_eight_bit_weights_are_always_symmetric(method):
    qm = quantize_weight(_weights(), 8, 32, symmetric=False, method=method)
    assert qm.bits == 8 and qm.zero_points is None
