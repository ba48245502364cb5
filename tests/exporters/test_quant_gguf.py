"""Exact repack of GGUF Q4_0 / Q4_1 / Q8_0 blocks (reference: gguf-py's quantize/dequantize)."""

from __future__ import annotations

import numpy as np
import pytest
from edgekit.exporters.loaded_model import GGUFTensor
from edgekit.exporters.quant import decode_gguf, dequantize_gguf, repack_error, repack_gguf
from edgekit.runtime.errors import UnknownNameError

from tests.exporters.graph_helpers import gguf_dequantize, gguf_quantize
from tests.exporters.test_quant_blocks import _run_matmulnbits

RNG = np.random.default_rng(3)
TYPES = ("Q4_0", "Q4_1", "Q8_0")


@pytest.mark.parametrize("ggml_type", TYPES)
def test_decode_matches_gguf_py(ggml_type):
    w = RNG.standard_normal((24, 128)).astype(np.float32) * 0.1
    tensor = gguf_quantize(w, ggml_type, "w")
    np.testing.assert_array_equal(dequantize_gguf(tensor, np.float32), gguf_dequantize(tensor))


@pytest.mark.parametrize("ggml_type", TYPES)
def test_repack_is_exact(ggml_type):
    w = RNG.standard_normal((24, 128)).astype(np.float32) * 0.1
    tensor = gguf_quantize(w, ggml_type, "w")
    qm = repack_gguf(tensor)
    assert repack_error(tensor, qm) == 0.0
    assert qm.bits == (8 if ggml_type == "Q8_0" else 4) and qm.zero_points is None
    assert (qm.correction is not None) == (ggml_type == "Q4_1")


@pytest.mark.parametrize("ggml_type", TYPES)
def test_matmulnbits_plus_correction_computes_the_gguf_weight(ggml_type):
    w = RNG.standard_normal((16, 64)).astype(np.float32) * 0.1
    tensor = gguf_quantize(w, ggml_type, "w")
    qm = repack_gguf(tensor)
    x = RNG.standard_normal((1, 2, 64)).astype(np.float32)
    y = _run_matmulnbits(qm, x)  # symmetric kernel only
    if qm.correction is not None:
        sums = x.reshape(1, 2, -1, 32).sum(-1)
        y = y + sums @ qm.correction.T
    np.testing.assert_allclose(y, x @ gguf_dequantize(tensor).T, rtol=1e-4, atol=1e-5)


def test_repack_rejects_non_repackable_types():
    # Q3_K has no exact MatMulNBits form, so it is not a registered block type: the lookup lists the known ones.
    tensor = GGUFTensor("w", "blk.0.w", "Q3_K", (8, 256), np.zeros((8, 110), np.uint8))
    for refuse in (decode_gguf, dequantize_gguf, repack_gguf):
        with pytest.raises(
            UnknownNameError, match=r"unknown GGML block type 'Q3_K'; known GGML block types: Q4_0, Q4_1"
        ):
            refuse(tensor)


def test_repack_rejects_wrong_row_size():
    tensor = GGUFTensor("w", "blk.0.w", "Q4_0", (8, 64), np.zeros((8, 35), np.uint8))
    with pytest.raises(ValueError, match="bytes per row"):
        repack_gguf(tensor)
